/**
 * Module-level decoding of a WebAssembly binary into the parts passes read and change (types,
 * imports, globals, memories, exports), and encoding it back. Everything a pass does not touch is
 * copied byte for byte; function indices everywhere (code, exports, start, element segments,
 * constant expressions, the name section) follow the function imports passes add.
 * @module
 */
import { copyExpr, emitSnippet, readInstr, scanBody, skipLocals, skipValType, type BodyScan, type ExprEdits, type FuncRemap, type Snippet } from './code.js'
import { Reader, RewriteError, Writer } from './bytes.js'

/** A value type as the rewriter names it (`ref` covers every reference type). */
export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref' | 'ref'

const VALTYPE_CODES: Record<number, ValType> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref' }
const CODE_OF: Partial<Record<ValType, number>> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b, funcref: 0x70, externref: 0x6f }

/** A function signature. */
export interface FuncType {
  params: ValType[]
  results: ValType[]
}

/** One import, as found in the import section. */
export interface ImportEntry {
  module: string
  name: string
  /** 0 function, 1 table, 2 memory, 3 global, 4 tag. */
  kind: number
  /** Function imports: the signature. */
  type?: FuncType
  /** Global imports: value type and mutability. */
  global?: { type: ValType; mutable: boolean }
}

/** Memory limits in 64 KiB pages. */
export interface MemoryLimits {
  min: number
  max: number | undefined
  shared: boolean
  memory64: boolean
}

/** One export. */
export interface ExportEntry {
  name: string
  /** 0 function, 1 table, 2 memory, 3 global, 4 tag. */
  kind: number
  index: number
}

interface Section {
  id: number
  /** Content range (after the id and size). */
  start: number
  end: number
  /** Custom sections: the name. */
  name?: string
}

/** Known sections in the order the binary format requires (custom sections may sit anywhere). */
const ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11]

/** The decoded parts of a module. @internal */
export class WasmModule {
  readonly bytes: Uint8Array
  readonly sections: Section[] = []
  /** Function types by index (`undefined` for non-function types, which the rewriter keeps as they are). */
  readonly types: Array<FuncType | undefined> = []
  readonly imports: ImportEntry[] = []
  readonly memories: MemoryLimits[] = []
  readonly exports: ExportEntry[] = []
  /** Type index of each defined function. */
  readonly funcTypes: number[] = []
  importedFuncs = 0
  importedGlobals = 0
  definedFuncs = 0
  definedGlobals = 0
  #typeRaw: Uint8Array[] = []
  #importRaw: Uint8Array[] = []
  #memoriesChanged = false
  #functions: FunctionInfo[] | undefined

  constructor(bytes: Uint8Array) {
    this.bytes = bytes
    const r = new Reader(bytes)
    if (bytes.byteLength < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
      throw new RewriteError('not a WebAssembly binary (bad magic)')
    }
    if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) throw new RewriteError('not a WebAssembly core module of version 1')
    r.pos = 8
    while (!r.done) {
      const id = r.byte()
      const size = r.u32()
      const start = r.pos
      r.skip(size)
      const s: Section = { id, start, end: r.pos }
      if (id === 0) s.name = new Reader(bytes, start, r.pos).name()
      this.sections.push(s)
    }
    for (const s of this.sections) {
      const sr = new Reader(bytes, s.start, s.end)
      if (s.id === 1) this.#readTypes(sr)
      else if (s.id === 2) this.#readImports(sr)
      else if (s.id === 3) {
        this.definedFuncs = sr.u32()
        for (let i = 0; i < this.definedFuncs; i++) this.funcTypes.push(sr.u32())
      }
      else if (s.id === 5) {
        const n = sr.u32()
        for (let i = 0; i < n; i++) this.memories.push(readLimits(sr))
      } else if (s.id === 6) this.definedGlobals = sr.u32()
      else if (s.id === 7) {
        const n = sr.u32()
        for (let i = 0; i < n; i++) this.exports.push({ name: sr.name(), kind: sr.byte(), index: sr.u32() })
      }
    }
  }

  #readTypes(r: Reader): void {
    const n = r.u32()
    for (let i = 0; i < n; i++) {
      const start = r.pos
      const form = r.byte()
      if (form !== 0x60) throw new RewriteError(`type ${i}: only function types are supported (form 0x${form.toString(16)})`)
      const params = readValTypes(r)
      const results = readValTypes(r)
      this.types.push({ params, results })
      this.#typeRaw.push(r.bytes.subarray(start, r.pos))
    }
  }

  #readImports(r: Reader): void {
    const n = r.u32()
    for (let i = 0; i < n; i++) {
      const start = r.pos
      const e: ImportEntry = { module: r.name(), name: r.name(), kind: r.byte() }
      switch (e.kind) {
        case 0: {
          const t = r.u32()
          const type = this.types[t]
          if (!type) throw new RewriteError(`import ${e.module}.${e.name}: type ${t} is not a function type`)
          e.type = type
          this.importedFuncs++
          break
        }
        case 1:
          skipValType(r)
          readLimits(r)
          break
        case 2:
          readLimits(r)
          break
        case 3: {
          const type = readValType(r)
          e.global = { type, mutable: r.byte() === 1 }
          this.importedGlobals++
          break
        }
        case 4:
          r.byte()
          r.u32()
          break
        default:
          r.fail(`unknown import kind ${e.kind}`)
      }
      this.imports.push(e)
      this.#importRaw.push(r.bytes.subarray(start, r.pos))
    }
  }

  /** Whether memory limits were changed (the memory section is then re-encoded). */
  memoriesChanged(): void {
    this.#memoriesChanged = true
  }

  /**
   * Encodes the module with `plan`'s additions; the code is walked only when function indices move
   * or code is inserted.
   */
  encode(plan: EncodePlan): Uint8Array {
    const out = new Writer(this.bytes.byteLength + 4096)
    out.bytes(this.bytes.subarray(0, 8))
    const added = plan.funcImports.length
    const remap: FuncRemap | undefined = added === 0 ? undefined : (f) => (f < this.importedFuncs ? f : f + added)
    const codeEdits = remap !== undefined || plan.entry.code.byteLength > 0 || plan.loop.code.byteLength > 0 || plan.before !== undefined
    const present = new Set(this.sections.map((s) => s.id))
    const needed = new Set<number>()
    if (plan.types.length) needed.add(1)
    if (plan.funcImports.length) needed.add(2)
    if (plan.globals.length) needed.add(6)
    if (plan.exports.length) needed.add(7)
    const emitted = new Set<number>()
    const emitMissingBefore = (id: number) => {
      const rank = ORDER.indexOf(id)
      for (const m of ORDER.slice(0, rank < 0 ? ORDER.length : rank)) {
        if (needed.has(m) && !present.has(m) && !emitted.has(m)) {
          emitted.add(m)
          this.#section(out, m, (w) => this.#encodeKnown(m, undefined, w, plan, remap))
        }
      }
    }
    for (const s of this.sections) {
      if (s.id === 0) {
        const custom = this.#custom(s, remap, codeEdits)
        if (custom) this.#section(out, 0, (w) => w.bytes(custom))
        continue
      }
      emitMissingBefore(s.id)
      emitted.add(s.id)
      this.#section(out, s.id, (w) => this.#encodeKnown(s.id, s, w, plan, remap, codeEdits))
    }
    emitMissingBefore(-1)
    return out.result().slice()
  }

  #section(out: Writer, id: number, fill: (w: Writer) => void): void {
    const w = new Writer()
    fill(w)
    out.byte(id)
    out.sized(w)
  }

  #encodeKnown(id: number, s: Section | undefined, w: Writer, plan: EncodePlan, remap: FuncRemap | undefined, codeEdits = false): void {
    const raw = s ? this.bytes.subarray(s.start, s.end) : new Uint8Array(0)
    const r = s ? new Reader(this.bytes, s.start, s.end) : undefined
    switch (id) {
      case 1:
        w.u32(this.#typeRaw.length + plan.types.length)
        for (const t of this.#typeRaw) w.bytes(t)
        for (const t of plan.types) writeFuncType(w, t)
        return
      case 2:
        w.u32(this.#importRaw.length + plan.funcImports.length)
        for (const e of this.#importRaw) w.bytes(e)
        for (const f of plan.funcImports) {
          w.name(f.module)
          w.name(f.name)
          w.byte(0)
          w.u32(f.typeIndex)
        }
        return
      case 4:
        if (remap && r) return this.#tables(r, w, remap)
        break
      case 5:
        if (this.#memoriesChanged) {
          w.u32(this.memories.length)
          for (const m of this.memories) writeLimits(w, m)
          return
        }
        break
      case 6: {
        if (!remap && !plan.globals.length) break
        const n = r ? r.u32() : 0
        w.u32(n + plan.globals.length)
        for (let i = 0; i < n; i++) {
          const start = r!.pos
          skipValType(r!)
          r!.byte()
          w.bytes(this.bytes.subarray(start, r!.pos))
          copyExpr(r!, w, { remap })
        }
        for (const g of plan.globals) {
          w.byte(CODE_OF[g.type]!)
          w.byte(g.mutable ? 1 : 0)
          w.bytes(g.init)
        }
        return
      }
      case 7:
        w.u32(this.exports.length + plan.exports.length)
        for (const e of [...this.exports, ...plan.exports]) {
          w.name(e.name)
          w.byte(e.kind)
          w.u32(e.kind === 0 && remap && !plan.exports.includes(e) ? remap(e.index) : e.index)
        }
        return
      case 8:
        if (remap && r) {
          w.u32(remap(r.u32()))
          return
        }
        break
      case 9:
        if (remap && r) return this.#elements(r, w, remap)
        break
      case 10:
        if (codeEdits && r) return this.#code(r, w, { remap, loop: plan.loop.code.byteLength ? plan.loop : undefined, before: plan.before }, plan)
        break
    }
    w.bytes(raw)
  }

  #tables(r: Reader, w: Writer, remap: FuncRemap): void {
    const n = r.u32()
    w.u32(n)
    for (let i = 0; i < n; i++) {
      const start = r.pos
      if (r.bytes[r.pos] === 0x40) {
        // table with an initialiser expression (function references)
        r.pos += 2
        skipValType(r)
        readLimits(r)
        w.bytes(this.bytes.subarray(start, r.pos))
        copyExpr(r, w, { remap })
      } else {
        skipValType(r)
        readLimits(r)
        w.bytes(this.bytes.subarray(start, r.pos))
      }
    }
  }

  #elements(r: Reader, w: Writer, remap: FuncRemap): void {
    const n = r.u32()
    w.u32(n)
    for (let i = 0; i < n; i++) {
      const flags = r.u32()
      w.u32(flags)
      if (flags > 7) r.fail(`unknown element segment form ${flags}`)
      const passiveOrDeclared = (flags & 1) !== 0
      const explicitTable = (flags & 2) !== 0
      const exprs = (flags & 4) !== 0
      if (!passiveOrDeclared) {
        if (explicitTable) w.u32(r.u32())
        copyExpr(r, w, { remap })
      }
      if (passiveOrDeclared || explicitTable) {
        // element kind (0x00 = funcref) or a reference type
        const start = r.pos
        if (exprs) skipValType(r)
        else r.byte()
        w.bytes(this.bytes.subarray(start, r.pos))
      }
      const count = r.u32()
      w.u32(count)
      for (let k = 0; k < count; k++) {
        if (exprs) copyExpr(r, w, { remap })
        else w.u32(remap(r.u32()))
      }
    }
  }

  #code(r: Reader, w: Writer, edits: ExprEdits, plan: EncodePlan): void {
    const n = r.u32()
    w.u32(n)
    const body = new Writer(64 * 1024)
    const entry = plan.entry
    for (let i = 0; i < n; i++) {
      const size = r.u32()
      const end = r.pos + size
      const start = r.pos
      const groups = r.u32()
      const groupsAt = r.pos
      let locals = this.types[this.funcTypes[i]!]?.params.length ?? 0
      for (let g = 0; g < groups; g++) {
        locals += r.u32()
        skipValType(r)
      }
      body.length = 0
      // A scratch i32 local for the code inserted before heavy instructions: one group more.
      const scratch = plan.before && this.functions()[i]!.scan.heavy ? locals : -1
      if (scratch < 0) body.bytes(this.bytes.subarray(start, r.pos))
      else {
        body.u32(groups + 1)
        body.bytes(this.bytes.subarray(groupsAt, r.pos))
        body.u32(1)
        body.byte(0x7f)
      }
      const entryAt = entry.code.byteLength ? (plan.entryAt?.(i) ?? 'start') : 'none'
      const functionSlots = entryAt === 'start' ? emitSnippet(body, entry) : []
      copyExpr(r, body, edits, { entryAt, entry, functionSlots, callCost: plan.callCost, size, scratch })
      if (r.pos !== end) throw new RewriteError(`function body ${i}: the expression ends at byte ${r.pos}, the body at ${end}`)
      w.sized(body)
    }
  }

  /**
   * What each defined function's body holds (byte size, loops, calls), and which functions are
   * reachable other than by a direct call (table elements, `ref.func`): decoded on first use.
   */
  functions(): FunctionInfo[] {
    if (this.#functions) return this.#functions
    const indirect = new Set<number>()
    const idx = { index: -1 }
    const refs = (r: Reader) => {
      // a constant expression: collect its ref.func indices
      let depth = 0
      for (;;) {
        const op = readInstr(r, idx)
        if (op === 0xd2) indirect.add(idx.index)
        if (op === 0x02 || op === 0x03 || op === 0x04) depth++
        else if (op === 0x0b && depth-- === 0) return
      }
    }
    const out: FunctionInfo[] = []
    for (const s of this.sections) {
      const r = new Reader(this.bytes, s.start, s.end)
      if (s.id === 6) {
        const n = r.u32()
        for (let i = 0; i < n; i++) {
          skipValType(r)
          r.byte()
          refs(r)
        }
      } else if (s.id === 9) {
        const n = r.u32()
        for (let i = 0; i < n; i++) {
          const flags = r.u32()
          if (!(flags & 1)) {
            if (flags & 2) r.u32()
            refs(r)
          }
          if (flags & 3) {
            if (flags & 4) skipValType(r)
            else r.byte()
          }
          const count = r.u32()
          for (let k = 0; k < count; k++) {
            if (flags & 4) refs(r)
            else indirect.add(r.u32())
          }
        }
      } else if (s.id === 10) {
        const n = r.u32()
        for (let i = 0; i < n; i++) {
          const size = r.u32()
          const end = r.pos + size
          skipLocals(r)
          const scan = scanBody(r)
          for (const f of scan.refFuncs) indirect.add(f)
          r.pos = end
          out.push({ index: this.importedFuncs + i, size, scan, indirect: false })
        }
      }
    }
    for (const f of out) f.indirect = indirect.has(f.index)
    return (this.#functions = out)
  }

  /** A custom section as it goes out: the name section renumbered, code-offset sections dropped. */
  #custom(s: Section, remap: FuncRemap | undefined, codeEdits: boolean): Uint8Array | undefined {
    const raw = this.bytes.subarray(s.start, s.end)
    // DWARF and code metadata point at code offsets, which moved.
    if (codeEdits && (s.name!.startsWith('.debug_') || s.name!.startsWith('metadata.code.'))) return undefined
    if (s.name !== 'name' || !remap) return raw
    try {
      return renumberNames(this.bytes, s, remap)
    } catch {
      // Names are optional: a name section that does not decode is dropped, not kept wrong.
      return undefined
    }
  }
}

/** One defined function, as {@link WasmModule.functions} found it. @internal */
export interface FunctionInfo {
  /** Function index in the input module. */
  index: number
  /** Body size in bytes (locals included). */
  size: number
  scan: BodyScan
  /** Reachable other than by a direct call: a table element or a `ref.func`. */
  indirect: boolean
}

/** What passes add; indices in added code are final indices. @internal */
export interface EncodePlan {
  types: FuncType[]
  funcImports: Array<{ module: string; name: string; typeIndex: number }>
  globals: Array<{ type: ValType; mutable: boolean; init: Uint8Array }>
  exports: ExportEntry[]
  /** Inserted at the start of every function body (size slots: the body's size). */
  entry: Snippet
  /** Inserted at the head of every loop (size slots: the loop body's size). */
  loop: Snippet
  /** Where the entry snippet of defined function `i` goes (default: at its start). */
  entryAt?: ((defined: number) => 'start' | 'first-loop' | 'none') | undefined
  /** Cost a direct call to function `index` (input numbering) adds to the regions it is made in. */
  callCost?: ((index: number) => number) | undefined
  /** Code before `memory.grow` and 0xFC instructions (functions with heavy ones get a scratch i32 local). */
  before?: ((op: number, sub: number) => Snippet | undefined) | undefined
}

function renumberNames(bytes: Uint8Array, s: Section, remap: FuncRemap): Uint8Array {
  const r = new Reader(bytes, s.start, s.end)
  r.name() // "name"
  const w = new Writer(s.end - s.start + 64)
  w.name('name')
  while (!r.done) {
    const id = r.byte()
    const size = r.u32()
    const end = r.pos + size
    const sub = new Writer(size + 16)
    if (id === 1) {
      nameMap(r, sub, remap)
    } else if (id === 2 || id === 3) {
      const n = r.u32()
      sub.u32(n)
      for (let i = 0; i < n; i++) {
        sub.u32(remap(r.u32()))
        nameMap(r, sub, undefined)
      }
    } else {
      sub.bytes(r.slice(size))
    }
    if (r.pos !== end) throw new RewriteError('name subsection size mismatch')
    w.byte(id)
    w.sized(sub)
  }
  return w.result()
}

function nameMap(r: Reader, w: Writer, remap: FuncRemap | undefined): void {
  const n = r.u32()
  w.u32(n)
  for (let i = 0; i < n; i++) {
    const idx = r.u32()
    w.u32(remap ? remap(idx) : idx)
    const len = r.u32()
    w.u32(len)
    w.bytes(r.slice(len))
  }
}

function readValType(r: Reader): ValType {
  const b = r.bytes[r.pos]!
  const t = VALTYPE_CODES[b]
  skipValType(r)
  return t ?? 'ref'
}

function readValTypes(r: Reader): ValType[] {
  const n = r.u32()
  const out: ValType[] = []
  for (let i = 0; i < n; i++) out.push(readValType(r))
  return out
}

function writeFuncType(w: Writer, t: FuncType): void {
  w.byte(0x60)
  for (const list of [t.params, t.results]) {
    w.u32(list.length)
    for (const v of list) {
      const c = CODE_OF[v]
      if (c === undefined) throw new RewriteError(`cannot encode value type ${v}`)
      w.byte(c)
    }
  }
}

function readLimits(r: Reader): MemoryLimits {
  const flags = r.byte()
  if (flags > 7) r.fail(`unknown limits flags 0x${flags.toString(16)}`)
  const memory64 = (flags & 4) !== 0
  const read = () => (memory64 ? r.u64() : r.u32())
  const min = read()
  const max = flags & 1 ? read() : undefined
  return { min, max, shared: (flags & 2) !== 0, memory64 }
}

function writeLimits(w: Writer, m: MemoryLimits): void {
  w.byte((m.max !== undefined ? 1 : 0) | (m.shared ? 2 : 0) | (m.memory64 ? 4 : 0))
  w.u32(m.min)
  if (m.max !== undefined) w.u32(m.max)
}

/** Whether two signatures are the same. @internal */
export function sameType(a: FuncType, b: FuncType): boolean {
  return a.params.length === b.params.length && a.results.length === b.results.length &&
    a.params.every((v, i) => v === b.params[i]) && a.results.every((v, i) => v === b.results[i])
}
