/**
 * The instruction walker: copies a function body or a constant expression instruction by
 * instruction, renumbering function indices (`call`, `return_call`, `ref.func`) and inserting code at
 * the head of every loop. It knows the immediates of every opcode Node 20 accepts: MVP, sign
 * extension, saturating truncation and bulk memory (0xFC), SIMD and relaxed SIMD (0xFD), threads
 * (0xFE), reference types, tail calls, exception handling (legacy and `try_table`), typed function
 * references and multi-value block types. GC (0xFB) and unknown opcodes are refused with a
 * {@link RewriteError}: a module that cannot be rewritten is never rewritten wrongly.
 * @module
 */
import { Reader, RewriteError, type Writer } from './bytes.js'

/** Maps an old function index to its index in the rewritten module. @internal */
export type FuncRemap = (index: number) => number

/**
 * Code to insert, with size slots: 5-byte padded LEB128 placeholders (offsets into `code`) that
 * receive the size in bytes of the body the code guards (a loop body, a function body), e.g. as the
 * weight of a fuel charge. @internal
 */
export interface Snippet {
  code: Uint8Array
  sizeSlots: readonly number[]
  /** 5-byte padded LEB128 slots that receive the index of the function's scratch i32 local. */
  localSlots?: readonly number[]
}

/** What the walker changes. @internal */
export interface ExprEdits {
  /** Function index renumbering; absent when indices stay. */
  remap?: FuncRemap | undefined
  /** Inserted at the head of every loop body (before its first instruction). */
  loop?: Snippet | undefined
  /**
   * Code inserted before `memory.grow` (op 0x40) and 0xFC instructions (`sub`: the sub-opcode);
   * its local slots get the function's scratch local (see {@link BodyEdits.scratch}).
   */
  before?: ((op: number, sub: number) => Snippet | undefined) | undefined
}

/** Writes `s` to `out` (local slots: `scratch`); returns the output offsets of its size slots. @internal */
export function emitSnippet(out: Writer, s: Snippet, scratch = -1): number[] {
  const base = out.length
  out.bytes(s.code)
  if (s.localSlots?.length) {
    if (scratch < 0) throw new RewriteError('a snippet needs a scratch local the function does not have')
    for (const o of s.localSlots) out.patchU32(base + o, scratch)
  }
  return s.sizeSlots.map((o) => base + o)
}

const REF_NULLABLE = 0x63
const REF = 0x64

/** Skips a block type: empty, a value type, or a type index (s33). */
function blockType(r: Reader): void {
  const b = r.bytes[r.pos]
  if (b === REF || b === REF_NULLABLE) {
    r.pos++
    r.s33()
    return
  }
  r.s33()
}

/** Skips one value type (`(ref null? ht)` takes a heap type after it). @internal */
export function skipValType(r: Reader): void {
  const b = r.byte()
  if (b === REF || b === REF_NULLABLE) r.s33()
}

/** Skips a function body's local declarations (count, then count × (n, value type)). */
export function skipLocals(r: Reader): void {
  const groups = r.u32()
  for (let g = 0; g < groups; g++) {
    r.u32()
    skipValType(r)
  }
}

function memarg(r: Reader): void {
  const align = r.u32()
  if (align & 0x40) r.u32() // multi-memory: memory index
  r.skipLeb() // offset (u64 under memory64)
}

/** A cost as a size-slot value: kept below 2^30 so that it stays a positive `i32.const`. */
function cost(n: number): number {
  return Math.min(n, 0x3fffffff)
}

/**
 * Set by {@link readInstr}: for `call`, `return_call` and `ref.func` the function index, for the
 * prefixed instructions (0xFC, 0xFD, 0xFE) the sub-opcode. @internal
 */
export interface InstrIndex {
  index: number
}

/**
 * Reads one instruction at `r` (opcode and immediates) and returns its first opcode byte; for
 * `call` (0x10), `return_call` (0x12) and `ref.func` (0xd2) the function index goes to `idx`.
 * @throws {@link RewriteError} for an opcode it does not know
 * @internal
 */
export function readInstr(r: Reader, idx: InstrIndex): number {
  // Fast paths for the common shapes, on the raw bytes (the input validated, so the encodings are
  // well formed; the function end is checked by the caller); the rest goes through the Reader.
  const b = r.bytes
  let p = r.pos
  if (p >= r.end) r.fail('unexpected end of code')
  const op = b[p]!
  if ((op >= 0x45 && op <= 0xc4) || op === 0x0b || op === 0x1a || op === 0x1b || op === 0x0f || op === 0x00 || op === 0x01 || op === 0x05) {
    r.pos = p + 1
    return op
  }
  if ((op >= 0x20 && op <= 0x26) || op === 0x0c || op === 0x0d || op === 0x41 || op === 0x42 || op === 0x3f || op === 0x40) {
    p++
    while (b[p++]! & 0x80);
    r.pos = p
    return op
  }
  if (op === 0x10 || op === 0x12 || op === 0xd2) {
    p++
    let v = 0
    let shift = 0
    let c: number
    do {
      c = b[p++]!
      v += (c & 0x7f) * 2 ** shift
      shift += 7
    } while (c & 0x80 && shift < 35)
    idx.index = v
    r.pos = p
    return op
  }
  if (op >= 0x28 && op <= 0x3e) {
    p++
    const align = b[p]!
    while (b[p++]! & 0x80);
    if (align & 0x40) while (b[p++]! & 0x80); // memory index (multi-memory)
    while (b[p++]! & 0x80); // offset
    r.pos = p
    return op
  }
  if (op === 0x02 || op === 0x03 || op === 0x04) {
    const t = b[p + 1]!
    if (t < 0x80 && t !== 0x63 && t !== 0x64) {
      r.pos = p + 2
      return op
    }
  }
  return readInstrSlow(r, idx)
}

function readInstrSlow(r: Reader, idx: InstrIndex): number {
  const at = r.pos
  const op = r.byte()
  switch (op) {
    case 0x02: case 0x03: case 0x04: case 0x06: // block, loop, if, try (legacy exceptions)
      blockType(r)
      break
    case 0x1f: {
      // try_table: block type, then catch clauses
      blockType(r)
      const n = r.u32()
      for (let i = 0; i < n; i++) {
        const kind = r.byte()
        if (kind === 0x00 || kind === 0x01) r.u32() // tag
        else if (kind !== 0x02 && kind !== 0x03) r.fail(`unknown try_table catch kind ${kind}`)
        r.u32() // label
      }
      break
    }
    case 0x00: case 0x01: case 0x05: case 0x0a: case 0x0b: case 0x0f: case 0x19: case 0x1a: case 0x1b:
    case 0xd1: case 0xd3: case 0xd5:
      break
    case 0x07: case 0x08: case 0x09: case 0x0c: case 0x0d: case 0x14: case 0x15: case 0x18: case 0xd4: case 0xd6:
      r.u32()
      break
    case 0x0e: {
      // br_table: labels, then the default
      const n = r.u32()
      for (let i = 0; i <= n; i++) r.u32()
      break
    }
    case 0x10: case 0x12: case 0xd2: // call, return_call, ref.func
      idx.index = r.u32()
      break
    case 0x11: case 0x13: // call_indirect, return_call_indirect: type, table
      r.u32()
      r.u32()
      break
    case 0x1c: { // select with types
      const n = r.u32()
      for (let i = 0; i < n; i++) skipValType(r)
      break
    }
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26: case 0x3f: case 0x40:
      r.u32()
      break
    case 0x41: case 0x42:
      r.skipLeb()
      break
    case 0x43:
      r.skip(4)
      break
    case 0x44:
      r.skip(8)
      break
    case 0xd0: // ref.null heap type
      r.s33()
      break
    case 0xfc:
      idx.index = miscOp(r)
      break
    case 0xfd:
      idx.index = simdOp(r)
      break
    case 0xfe:
      idx.index = atomicOp(r)
      break
    default:
      if (op >= 0x28 && op <= 0x3e) memarg(r)
      else if (op >= 0x45 && op <= 0xc4) break
      else if (op === 0xfb) throw new RewriteError(`GC instruction (0xfb) at byte ${at} is not supported`)
      else throw new RewriteError(`unknown opcode 0x${op.toString(16)} at byte ${at}`)
  }
  return op
}

/** Whether `op` opens a block that a later `end` (or `delegate`) closes. */
function opens(op: number): boolean {
  return op === 0x02 || op === 0x03 || op === 0x04 || op === 0x06 || op === 0x1f
}

/** Instructions that neither branch nor call: a prefix of these before the first loop always reaches it. */
function straight(op: number): boolean {
  return op === 0x01 || op === 0x02 || op === 0x1a || op === 0x1b || (op >= 0x20 && op <= 0x24) || (op >= 0x28 && op <= 0x3f) || (op >= 0x41 && op <= 0xc4)
}

/** What {@link scanBody} found in a function body. @internal */
export interface BodyScan {
  /** Any `loop`. */
  loops: boolean
  /** Any call (`call`, `call_indirect`, `call_ref` and their `return_` forms). */
  calls: boolean
  /** Targets of direct calls (`call`, `return_call`), input numbering, repeats removed. */
  callees: number[]
  /** Function indices named by `ref.func` in the body. */
  refFuncs: number[]
  /** The first instruction that is not straight-line code is a `loop`: every entry reaches it. */
  loopFirst: boolean
  /** Instructions whose cost grows with their operands: `memory.grow`, bulk memory and table operations. */
  heavy: boolean
  /** `memory.atomic.wait32/64`: blocks the thread on a shared memory. */
  waits: boolean
}

/** Whether 0xFC sub-opcode `sub` is a bulk operation whose size operand is on top of the stack. @internal */
export function isBulk(sub: number): boolean {
  return sub === 8 || sub === 10 || sub === 11 || sub === 12 || sub === 14 || sub === 15 || sub === 17
}

/**
 * Scans the expression at `r` (a function body after its locals) without copying it.
 * @internal
 */
export function scanBody(r: Reader): BodyScan {
  const idx: InstrIndex = { index: -1 }
  const scan: BodyScan = { loops: false, calls: false, callees: [], refFuncs: [], loopFirst: false, heavy: false, waits: false }
  const callees = new Set<number>()
  let depth = 0
  let prefix = true
  for (;;) {
    const op = readInstr(r, idx)
    if (prefix && !straight(op)) {
      prefix = false
      scan.loopFirst = op === 0x03
    }
    if (op === 0x03) scan.loops = true
    else if (op === 0x10 || op === 0x11 || op === 0x12 || op === 0x13 || op === 0x14 || op === 0x15) {
      scan.calls = true
      if (op === 0x10 || op === 0x12) callees.add(idx.index)
    } else if (op === 0xd2) scan.refFuncs.push(idx.index)
    else if (op === 0x40 || (op === 0xfc && isBulk(idx.index))) scan.heavy = true
    else if (op === 0xfe && (idx.index === 1 || idx.index === 2)) scan.waits = true
    if (opens(op)) depth++
    else if (op === 0x0b || op === 0x18) {
      if (depth-- === 0) {
        if (op === 0x18) r.fail('delegate outside a try')
        scan.callees = [...callees]
        return scan
      }
    }
  }
}

/**
 * Per-function choices of {@link copyExpr} for a function body. Costs are in size-slot units
 * (bytes of code): a region's slots receive its own byte size plus the cost of the direct calls
 * made in it (functions that carry no code of their own at entry are paid for by their callers).
 * @internal
 */
export interface BodyEdits {
  /** Where the function's entry snippet goes: at its start, at its first loop (which every entry reaches), or nowhere. */
  entryAt: 'start' | 'first-loop' | 'none'
  entry: Snippet
  /** Output offsets of size slots already written for the function region (entry at start). */
  functionSlots: number[]
  /** Cost added to the enclosing regions by a direct call to function `index` (input numbering). */
  callCost?: ((index: number) => number) | undefined
  /** Byte size of the function body (the function region's own cost). */
  size: number
  /** Index of the function's scratch i32 local (for `before` snippets), or -1. */
  scratch: number
}

/**
 * Copies the expression at `r` (up to and including its final `end`) to `out` with `edits`; with
 * `body`, it is a function body and its function region is closed (size slots patched) at the end.
 * @throws {@link RewriteError} for an opcode it does not know
 * @internal
 */
export function copyExpr(r: Reader, out: Writer, edits: ExprEdits, body?: BodyEdits): void {
  const src = r.bytes
  const remap = edits.remap
  const loop = edits.loop
  const callCost = body?.callCost
  const before = edits.before
  const scratch = body?.scratch ?? -1
  const idx: InstrIndex = { index: -1 }
  let copied = r.pos
  let depth = 0
  let firstLoop = body?.entryAt === 'first-loop'
  // Open loops that carry size slots: their depth, where their body starts (input), extra cost, slots.
  const open: Array<{ depth: number; start: number; extra: number; slots: number[] }> = []
  const fn = { extra: 0, slots: body ? [...body.functionSlots] : [] }
  const flush = (to: number) => {
    if (to > copied) out.bytes(src.subarray(copied, to))
    copied = to
  }
  for (;;) {
    const at = r.pos
    const op = readInstr(r, idx)
    if (before && (op === 0x40 || op === 0xfc)) {
      const snip = before(op, idx.index)
      if (snip) {
        flush(at)
        emitSnippet(out, snip, scratch)
      }
    }
    if (opens(op)) {
      depth++
      if (op === 0x03 && (loop || firstLoop)) {
        flush(r.pos)
        if (firstLoop) {
          // Every entry passes here: the function's own check, paying for the whole function.
          firstLoop = false
          fn.slots.push(...emitSnippet(out, body!.entry))
        } else {
          const slots = emitSnippet(out, loop!)
          if (slots.length) open.push({ depth, start: r.pos, extra: 0, slots })
        }
      }
      continue
    }
    switch (op) {
      case 0x0b: { // end
        const top = open[open.length - 1]
        if (top && top.depth === depth) {
          open.pop()
          for (const s of top.slots) out.patchU32(s, cost(r.pos - top.start + top.extra))
        }
        if (depth-- === 0) {
          flush(r.pos)
          if (body) for (const s of fn.slots) out.patchU32(s, cost(body.size + fn.extra))
          return
        }
        break
      }
      case 0x18: // delegate: ends a legacy try
        if (depth-- === 0) r.fail('delegate outside a try')
        break
      case 0x10: // call
      case 0x12: // return_call
      case 0xd2: { // ref.func
        const f = idx.index
        if (callCost && op !== 0xd2) {
          const c = callCost(f)
          if (c > 0) {
            fn.extra += c
            for (const o of open) o.extra += c
          }
        }
        if (remap) {
          const g = remap(f)
          if (g !== f) {
            flush(at + 1)
            out.u32(g)
            copied = r.pos
          }
        }
        break
      }
    }
  }
}

function miscOp(r: Reader): number {
  const sub = r.u32()
  if (sub <= 7) return sub // saturating truncation
  switch (sub) {
    case 8: case 10: case 12: case 14: // memory.init, memory.copy, table.init, table.copy
      r.u32()
      r.u32()
      return sub
    case 9: case 11: case 13: case 15: case 16: case 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
      r.u32()
      return sub
    default:
      r.fail(`unknown 0xfc instruction ${sub}`)
  }
}

function simdOp(r: Reader): number {
  const sub = r.u32()
  if (sub <= 11 || sub === 92 || sub === 93) memarg(r) // loads, stores, load zero
  else if (sub === 12 || sub === 13) r.skip(16) // v128.const, i8x16.shuffle
  else if (sub >= 21 && sub <= 34) r.skip(1) // extract / replace lane
  else if (sub >= 84 && sub <= 91) {
    memarg(r) // load / store lane
    r.skip(1)
  } else if (sub > 0x113) r.fail(`unknown 0xfd instruction ${sub}`)
  return sub
}

function atomicOp(r: Reader): number {
  const sub = r.u32()
  if (sub === 3) r.skip(1) // atomic.fence
  else if (sub <= 2 || (sub >= 0x10 && sub <= 0x4e)) memarg(r)
  else r.fail(`unknown 0xfe instruction ${sub}`)
  return sub
}
