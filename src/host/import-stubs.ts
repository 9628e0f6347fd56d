/**
 * What a plugin gets for imports the host does not provide, and the loud side of fail-open: a
 * hostcall answered `Unimplemented` is logged (at load, and the first time it is called) with what
 * that means for the requests, since a silent `Unimplemented` makes security plugins fail open.
 * @module
 */
import { Writer, type FuncType, type ImportEntry, type ValType } from './wasm-rewrite/index.js'
import { envHostcalls, UNIMPLEMENTED } from './hostcalls/index.js'
import type { WasmVm } from './vm.js'

const CONSEQUENCES: Array<[RegExp, string]> = [
  [/^proxy_(dispatch_)?http_call$/, 'HTTP callouts never happen: a plugin that checks requests through a callout (auth, rate limits) may let them through'],
  [/^proxy_grpc_/, 'gRPC callouts never happen: a plugin that checks requests through one may let them through'],
  [/^proxy_(get|set)_shared_data$/, 'shared data is unavailable: limits, caches and leader leases kept there do not apply'],
  [/_shared_queue$/, 'shared queues are unavailable: what the plugin enqueues is lost'],
  [/_metric$/, 'metrics are not recorded'],
  [/^proxy_redis_/, 'Redis calls never happen: rate limits and caches kept in Redis do not apply'],
  [/upstream_(hosts|override_host)$/, 'upstream host selection by the plugin is ignored'],
  [/^proxy_inject_encoded_data/, 'data the plugin injects into the stream is dropped'],
]

/** What it means for requests that `name` answers `Unimplemented`. @internal */
export function consequenceOf(name: string): string {
  for (const [re, text] of CONSEQUENCES) if (re.test(name)) return text
  return 'the ABI has no such hostcall; what the plugin does without it is up to the plugin'
}

let known: Set<string> | undefined
/** `env` hostcalls the host implements (listed `Unimplemented` ones included). */
function knownEnv(): Set<string> {
  return (known ??= new Set(Object.keys(envHostcalls({} as WasmVm))))
}

/**
 * The `env` function imports of a module that this host answers `Unimplemented`: listed ones
 * (`hostcalls/unimplemented.ts`) and names the host does not know.
 * @internal
 */
export function unimplementedImports(imports: ReadonlyArray<{ module: string; name: string; kind: string | number }>): string[] {
  const listed = new Set<string>(UNIMPLEMENTED)
  const out = new Set<string>()
  for (const i of imports) {
    if (i.module !== 'env' || (i.kind !== 'function' && i.kind !== 0)) continue
    if (listed.has(i.name) || !knownEnv().has(i.name)) out.add(i.name)
  }
  return [...out]
}

/** Whether the host's `env` table answers `name` with `Unimplemented` (a listed name). @internal */
export function isListedUnimplemented(name: string): boolean {
  return (UNIMPLEMENTED as readonly string[]).includes(name)
}

/** The default result of a stub for an import of `module` (i32 results: Unimplemented, ENOSYS, 0). */
function i32Default(module: string): number {
  if (module === 'env') return 12
  if (module.startsWith('wasi')) return 52
  return 0
}

const ZERO: Partial<Record<ValType, unknown>> = { i32: 0, i64: 0n, f32: 0, f64: 0, funcref: null, externref: null }

/**
 * A stand-in for an import the host does not provide, of the import's own type, answering without
 * trapping: functions return their type's zero (an i32 result: `Unimplemented` (12) for `env`,
 * `ENOSYS` (52) for WASI, else 0) and call `onCall` first; globals hold zero. `undefined` when no
 * stand-in can be built (tables, memories, tags, non-nullable references): instantiation then fails
 * with the engine's message.
 * @internal
 */
export function importStub(imp: ImportEntry, onCall: () => void): unknown {
  if (imp.kind === 3 && imp.global) {
    const value = ZERO[imp.global.type]
    if (value === undefined || imp.global.type === 'funcref' || imp.global.type === 'externref') return undefined
    return new WebAssembly.Global({ value: imp.global.type as 'i32', mutable: imp.global.mutable }, value as number)
  }
  if (imp.kind !== 0 || !imp.type) return undefined
  const t = imp.type
  if ([...t.params, ...t.results].some((v) => v === 'ref')) return undefined
  const results = t.results.map((v) => (v === 'i32' ? i32Default(imp.module) : ZERO[v]))
  if ([...t.params, ...t.results].includes('v128')) return wasmStub(t, results, onCall)
  if (results.length === 0) return () => void onCall()
  if (results.length === 1) {
    const r = results[0]
    return () => (onCall(), r)
  }
  return () => (onCall(), results.slice())
}

const CODE: Partial<Record<ValType, number>> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b, funcref: 0x70, externref: 0x6f }

/** A stub for a signature JS cannot express (v128): a one-function module returning constants. */
function wasmStub(t: FuncType, results: unknown[], onCall: () => void): unknown {
  const w = new Writer(128)
  w.bytes(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]))
  const section = (id: number, fill: (s: Writer) => void) => {
    const s = new Writer(64)
    fill(s)
    w.byte(id)
    w.sized(s)
  }
  const types = (s: Writer, list: ValType[]) => {
    s.u32(list.length)
    for (const v of list) s.byte(CODE[v]!)
  }
  section(1, (s) => {
    s.u32(2)
    s.byte(0x60)
    types(s, t.params)
    types(s, t.results)
    s.byte(0x60)
    s.u32(0)
    s.u32(0)
  })
  section(2, (s) => {
    s.u32(1)
    s.name('host')
    s.name('notify')
    s.byte(0)
    s.u32(1)
  })
  section(3, (s) => {
    s.u32(1)
    s.u32(0)
  })
  section(7, (s) => {
    s.u32(1)
    s.name('stub')
    s.byte(0)
    s.u32(1)
  })
  section(10, (s) => {
    const body = new Writer(64)
    body.u32(0) // no locals
    body.byte(0x10) // call notify
    body.u32(0)
    t.results.forEach((v, i) => {
      if (v === 'i32') (body.byte(0x41), body.s32(results[i] as number))
      else if (v === 'i64') (body.byte(0x42), body.byte(0))
      else if (v === 'f32') (body.byte(0x43), body.bytes(new Uint8Array(4)))
      else if (v === 'f64') (body.byte(0x44), body.bytes(new Uint8Array(8)))
      else if (v === 'v128') (body.bytes(new Uint8Array([0xfd, 0x0c])), body.bytes(new Uint8Array(16)))
      else (body.byte(0xd0), body.byte(CODE[v]!))
    })
    body.byte(0x0b)
    s.u32(1)
    s.sized(body)
  })
  const module = new WebAssembly.Module(w.result().slice())
  return new WebAssembly.Instance(module, { host: { notify: onCall } }).exports.stub
}
