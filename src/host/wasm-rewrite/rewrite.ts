/**
 * Composable module passes: each pass first declares what it adds (function imports, globals,
 * types), then, once every index is final, emits code and exports. {@link rewriteModule} runs them
 * in order and checks the result with `WebAssembly.validate`.
 * @module
 */
import { RewriteError } from './bytes.js'
import type { Snippet } from './code.js'
import { sameType, WasmModule, type EncodePlan, type ExportEntry, type FuncType, type FunctionInfo, type ValType } from './module.js'

/** What a pass can read and change. @internal */
export interface RewriteContext {
  /** The decoded module (types, imports, memories, exports as they were). */
  readonly module: WasmModule
  /** Adds a function import (after the existing ones); returns its final function index. */
  importFunction(module: string, name: string, type: FuncType): number
  /** Adds a global (after the existing ones); returns its final global index. */
  addGlobal(type: ValType, mutable: boolean, init: Uint8Array): number
  /** The final index of function `index` of the input module (valid in `finish`). */
  funcIndex(index: number): number
  /** Adds an export (valid in `finish`; indices are final). */
  addExport(entry: ExportEntry): void
  /** Code inserted at the start of every function body; size slots get the body's size (valid in `finish`). */
  atEntry(code: Snippet): void
  /** Code inserted at the head of every loop; size slots get the loop body's size (valid in `finish`). */
  atLoop(code: Snippet): void
  /** Marks the memory section changed after editing `module.memories`. */
  memoriesChanged(): void
  /** The defined functions: size, loops, calls, indirect reachability (decoded on first use). */
  functions(): FunctionInfo[]
  /**
   * Where entry code goes per defined function, and the cost a direct call to a function adds to
   * the size slots of the regions it is made in (valid in `finish`; one pass may set it).
   */
  entryPolicy(entryAt: (defined: number) => 'start' | 'first-loop' | 'none', callCost: (index: number) => number): void
  /**
   * Code inserted before `memory.grow` (op 0x40) and 0xFC instructions; a snippet's local slots
   * get a scratch i32 local added to functions that hold such instructions (valid in `finish`; one pass).
   */
  beforeHeavy(before: (op: number, sub: number) => Snippet | undefined): void
}

/** One transformation of a module. @internal */
export interface RewritePass {
  /** For messages. */
  readonly name: string
  /** Whether it changes function bodies (such a pass needs the instruction walker). */
  readonly changesCode: boolean
  /** Adds imports, globals, types; edits limits. */
  declare?(ctx: RewriteContext): void
  /** Emits code and exports, with every index final. */
  finish?(ctx: RewriteContext): void
}

/**
 * Runs `passes` over `bytes` and returns the new binary.
 * @throws {@link RewriteError} when the module cannot be decoded or rewritten, or when the output
 * does not validate (never a wrong rewrite)
 * @internal
 */
export function rewriteModule(bytes: Uint8Array, passes: readonly RewritePass[]): Uint8Array {
  const m = new WasmModule(bytes)
  const none: Snippet = { code: new Uint8Array(0), sizeSlots: [] }
  const plan: EncodePlan = { types: [], funcImports: [], globals: [], exports: [], entry: none, loop: none }
  let finishing = false
  const entry: Snippet[] = []
  const loop: Snippet[] = []
  const typeIndex = (t: FuncType): number => {
    const i = m.types.findIndex((x) => x !== undefined && sameType(x, t))
    if (i >= 0) return i
    const j = plan.types.findIndex((x) => sameType(x, t))
    if (j >= 0) return m.types.length + j
    plan.types.push(t)
    return m.types.length + plan.types.length - 1
  }
  const late = (what: string) => {
    if (!finishing) throw new RewriteError(`${what} is only possible in finish()`)
  }
  const early = (what: string) => {
    if (finishing) throw new RewriteError(`${what} is only possible in declare()`)
  }
  const ctx: RewriteContext = {
    module: m,
    importFunction(module, name, type) {
      early('importFunction')
      if (m.imports.some((i) => i.module === module && i.name === name)) throw new RewriteError(`the module already imports ${module}.${name}`)
      plan.funcImports.push({ module, name, typeIndex: typeIndex(type) })
      return m.importedFuncs + plan.funcImports.length - 1
    },
    addGlobal(type, mutable, init) {
      early('addGlobal')
      plan.globals.push({ type, mutable, init })
      return m.importedGlobals + m.definedGlobals + plan.globals.length - 1
    },
    funcIndex(index) {
      late('funcIndex')
      return index < m.importedFuncs ? index : index + plan.funcImports.length
    },
    addExport(e) {
      late('addExport')
      if ([...m.exports, ...plan.exports].some((x) => x.name === e.name)) throw new RewriteError(`export ${e.name} exists already`)
      plan.exports.push(e)
    },
    atEntry(code) {
      late('atEntry')
      entry.push(code)
    },
    atLoop(code) {
      late('atLoop')
      loop.push(code)
    },
    memoriesChanged() {
      m.memoriesChanged()
    },
    functions: () => m.functions(),
    entryPolicy(entryAt, callCost) {
      late('entryPolicy')
      if (plan.entryAt) throw new RewriteError('only one pass may set the entry policy')
      plan.entryAt = entryAt
      plan.callCost = callCost
    },
    beforeHeavy(before) {
      late('beforeHeavy')
      if (plan.before) throw new RewriteError('only one pass may insert code before heavy instructions')
      plan.before = before
    },
  }
  for (const p of passes) p.declare?.(ctx)
  finishing = true
  for (const p of passes) p.finish?.(ctx)
  plan.entry = concat(entry)
  plan.loop = concat(loop)
  const out = m.encode(plan)
  if (!WebAssembly.validate(out as Uint8Array<ArrayBuffer>)) {
    throw new RewriteError(`the rewritten module does not validate (passes: ${passes.map((p) => p.name).join(', ')})`)
  }
  return out
}

function concat(parts: Snippet[]): Snippet {
  const code = new Uint8Array(parts.reduce((n, p) => n + p.code.byteLength, 0))
  const sizeSlots: number[] = []
  let at = 0
  for (const p of parts) {
    code.set(p.code, at)
    for (const o of p.sizeSlots) sizeSlots.push(at + o)
    at += p.code.byteLength
  }
  return { code, sizeSlots }
}
