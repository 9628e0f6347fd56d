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
}

/** What the walker changes. @internal */
export interface ExprEdits {
  /** Function index renumbering; absent when indices stay. */
  remap?: FuncRemap | undefined
  /** Inserted at the head of every loop body (before its first instruction). */
  loop?: Snippet | undefined
}

/** Writes `s` to `out`; returns the output offsets of its size slots. @internal */
export function emitSnippet(out: Writer, s: Snippet): number[] {
  const base = out.length
  out.bytes(s.code)
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

function memarg(r: Reader): void {
  const align = r.u32()
  if (align & 0x40) r.u32() // multi-memory: memory index
  r.skipLeb() // offset (u64 under memory64)
}

/**
 * Copies the expression at `r` (up to and including its final `end`) to `out` with `edits`.
 * @throws {@link RewriteError} for an opcode it does not know
 * @internal
 */
export function copyExpr(r: Reader, out: Writer, edits: ExprEdits): void {
  const src = r.bytes
  const remap = edits.remap
  const loop = edits.loop
  let copied = r.pos
  let depth = 0
  // Open loops that carry size slots: their depth, where their body starts (input), the slots.
  const open: Array<{ depth: number; start: number; slots: number[] }> = []
  const flush = (to: number) => {
    if (to > copied) out.bytes(src.subarray(copied, to))
    copied = to
  }
  for (;;) {
    const at = r.pos
    const op = r.byte()
    switch (op) {
      case 0x02: // block
      case 0x04: // if
      case 0x06: // try (legacy exception handling)
        blockType(r)
        depth++
        break
      case 0x03: // loop
        blockType(r)
        depth++
        if (loop) {
          flush(r.pos)
          const slots = emitSnippet(out, loop)
          if (slots.length) open.push({ depth, start: r.pos, slots })
        }
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
        depth++
        break
      }
      case 0x0b: { // end
        const top = open[open.length - 1]
        if (top && top.depth === depth) {
          open.pop()
          for (const at of top.slots) out.patchU32(at, r.pos - top.start)
        }
        if (depth-- === 0) {
          flush(r.pos)
          return
        }
        break
      }
      case 0x18: // delegate: ends a legacy try
        r.u32()
        if (depth-- === 0) r.fail('delegate outside a try')
        break
      case 0x00: case 0x01: case 0x05: case 0x0a: case 0x0f: case 0x19: case 0x1a: case 0x1b:
      case 0xd1: case 0xd3: case 0xd5:
        break
      case 0x07: case 0x08: case 0x09: case 0x0c: case 0x0d: case 0x14: case 0x15: case 0xd4: case 0xd6:
        r.u32()
        break
      case 0x0e: {
        // br_table: labels, then the default
        const n = r.u32()
        for (let i = 0; i <= n; i++) r.u32()
        break
      }
      case 0x10: // call
      case 0x12: // return_call
      case 0xd2: { // ref.func
        const f = r.u32()
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
      case 0x11: case 0x13: // call_indirect, return_call_indirect: type, table
        r.u32()
        r.u32()
        break
      case 0x1c: { // select with types
        const n = r.u32()
        for (let i = 0; i < n; i++) skipValType(r)
        break
      }
      case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26:
      case 0x3f: case 0x40:
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
        miscOp(r)
        break
      case 0xfd:
        simdOp(r)
        break
      case 0xfe:
        atomicOp(r)
        break
      default:
        if (op >= 0x28 && op <= 0x3e) memarg(r)
        else if (op >= 0x45 && op <= 0xc4) break
        else if (op === 0xfb) throw new RewriteError(`GC instruction (0xfb) at byte ${at} is not supported`)
        else throw new RewriteError(`unknown opcode 0x${op.toString(16)} at byte ${at}`)
    }
  }
}

function miscOp(r: Reader): void {
  const sub = r.u32()
  if (sub <= 7) return // saturating truncation
  switch (sub) {
    case 8: case 10: case 12: case 14: // memory.init, memory.copy, table.init, table.copy
      r.u32()
      r.u32()
      return
    case 9: case 11: case 13: case 15: case 16: case 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
      r.u32()
      return
    default:
      r.fail(`unknown 0xfc instruction ${sub}`)
  }
}

function simdOp(r: Reader): void {
  const sub = r.u32()
  if (sub <= 11 || sub === 92 || sub === 93) memarg(r) // loads, stores, load zero
  else if (sub === 12 || sub === 13) r.skip(16) // v128.const, i8x16.shuffle
  else if (sub >= 21 && sub <= 34) r.skip(1) // extract / replace lane
  else if (sub >= 84 && sub <= 91) {
    memarg(r) // load / store lane
    r.skip(1)
  } else if (sub > 0x113) r.fail(`unknown 0xfd instruction ${sub}`)
}

function atomicOp(r: Reader): void {
  const sub = r.u32()
  if (sub === 3) r.skip(1) // atomic.fence
  else if (sub <= 2 || (sub >= 0x10 && sub <= 0x4e)) memarg(r)
  else r.fail(`unknown 0xfe instruction ${sub}`)
}
