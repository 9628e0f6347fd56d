/**
 * `proxy-wasm-host inspect file.wasm`: what a plugin binary looks like to the host — ABI version,
 * a toolchain guess, imports and exports, and the hostcalls this host does not implement.
 * @module
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { ABI_MARKERS } from '../abi/enums.js'
import { ProxyWasmHostError } from '../errors.js'
import { envHostcalls, UNIMPLEMENTED } from '../host/hostcalls/index.js'
import { systemClock } from '../host/clock.js'
import { createSandboxWasi } from '../host/hostcalls/wasi.js'
import type { WasmVm } from '../host/vm.js'

/** What {@link inspectWasm} found. */
export interface InspectReport {
  /** File path. */
  file: string
  /** Size in bytes. */
  size: number
  /** SHA-256 of the file, lower-case hex (what `WasmPlugin` `spec.sha256` expects). */
  sha256: string
  /** ABI version from the marker export, if any. */
  abi: string | undefined
  /** The marker export's name. */
  marker: string | undefined
  /** Toolchain guess. */
  toolchain: string
  /** `_initialize`, `_start`, a start section, or none. */
  startup: string
  /** `proxy_on_memory_allocate`, `malloc` or none. */
  allocator: string | undefined
  /** Imports with what the host does with them. */
  imports: Array<{ module: string; name: string; kind: string; status: 'implemented' | 'unimplemented' | 'wasi' | 'unknown' }>
  /** Exports. */
  exports: Array<{ name: string; kind: string }>
}

/**
 * Reads and describes a plugin binary (no instance is created, nothing runs).
 * @param file - path of the `.wasm` file
 * @returns the report
 * @throws `PWH_ERR_PLUGIN_READ` when the file cannot be read, `PWH_ERR_PLUGIN_INVALID_WASM` when it
 * is not a valid module
 */
export async function inspectWasm(file: string): Promise<InspectReport> {
  let bytes: Uint8Array<ArrayBuffer>
  try {
    bytes = new Uint8Array(await readFile(file))
  } catch (err) {
    throw new ProxyWasmHostError('PWH_ERR_PLUGIN_READ', `${file}: cannot read the plugin binary (${(err as Error).message})`, { cause: err })
  }
  let module: WebAssembly.Module
  try {
    module = await WebAssembly.compile(bytes)
  } catch (err) {
    throw new ProxyWasmHostError('PWH_ERR_PLUGIN_INVALID_WASM', `${file}: invalid WebAssembly module (${(err as Error).message.replace(/^WebAssembly\.compile\(\): /, '')})`)
  }
  const exports = WebAssembly.Module.exports(module).map((e) => ({ name: e.name, kind: e.kind as string }))
  const imported = WebAssembly.Module.imports(module)
  const env = new Set(Object.keys(envHostcalls({} as WasmVm)))
  const unimplemented = new Set<string>(UNIMPLEMENTED)
  const wasi = new Set(Object.keys(createSandboxWasi({ memory: () => { throw new Error('no memory') }, write: () => {}, env: [], args: [], clock: systemClock })))
  const seen = new Set<string>()
  const imports: InspectReport['imports'] = []
  for (const i of imported) {
    const key = `${i.module}.${i.name}`
    if (seen.has(key)) continue // Go lists some WASI imports twice
    seen.add(key)
    let status: InspectReport['imports'][number]['status'] = 'unknown'
    if (i.module === 'env') status = unimplemented.has(i.name) ? 'unimplemented' : env.has(i.name) ? 'implemented' : 'unknown'
    else if (i.module === 'wasi_snapshot_preview1' || i.module === 'wasi_unstable') status = wasi.has(i.name) ? 'wasi' : 'unknown'
    imports.push({ module: i.module, name: i.name, kind: i.kind, status })
  }
  const marker = exports.find((e) => e.kind === 'function' && e.name in ABI_MARKERS)?.name
  const has = (n: string) => exports.some((e) => e.name === n)
  const hasStart = startSection(bytes)
  return {
    file,
    size: bytes.byteLength,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    abi: marker ? ABI_MARKERS[marker as keyof typeof ABI_MARKERS] : undefined,
    marker,
    toolchain: guessToolchain(exports.map((e) => e.name), imported, hasStart),
    startup: has('_initialize') ? '_initialize (reactor)' : has('_start') ? '_start (command)' : hasStart ? 'start section' : 'none',
    allocator: has('proxy_on_memory_allocate') ? 'proxy_on_memory_allocate' : has('malloc') ? 'malloc' : undefined,
    imports,
    exports,
  }
}

/** The report as the text `inspect` prints. */
export function formatReport(r: InspectReport): string {
  const lines: string[] = []
  const pad = (s: string, n: number) => (s.length >= n ? `${s} ` : s + ' '.repeat(n - s.length))
  lines.push(`${pad('file', 12)}${r.file} (${r.size} bytes)`)
  lines.push(`${pad('sha256', 12)}${r.sha256}`)
  lines.push(`${pad('abi', 12)}${r.abi ? `${r.abi} (export ${r.marker})` : 'none: no proxy_abi_version_* export, the host refuses this module'}`)
  lines.push(`${pad('toolchain', 12)}${r.toolchain} (guess)`)
  lines.push(`${pad('start-up', 12)}${r.startup}`)
  lines.push(`${pad('allocator', 12)}${r.allocator ?? 'none: exports neither proxy_on_memory_allocate nor malloc, the host refuses this module'}`)
  lines.push('')
  lines.push(`imports (${r.imports.length})`)
  const note = {
    implemented: 'implemented',
    unimplemented: 'UNIMPLEMENTED (answers Unimplemented)',
    wasi: 'wasi',
    unknown: 'UNKNOWN (not provided: instantiation fails)',
  } as const
  for (const i of r.imports) lines.push(`  ${pad(`${i.module}.${i.name}`, 52)}${i.kind === 'function' ? note[i.status] : `${i.kind}, ${note[i.status]}`}`)
  lines.push(`exports (${r.exports.length})`)
  for (const e of r.exports) lines.push(`  ${pad(e.name, 52)}${e.kind}`)
  lines.push('')
  const unimpl = r.imports.filter((i) => i.status === 'unimplemented').map((i) => i.name)
  const unknown = r.imports.filter((i) => i.status === 'unknown').map((i) => `${i.module}.${i.name}`)
  lines.push(`unimplemented hostcalls: ${unimpl.length ? unimpl.join(', ') : 'none'}`)
  lines.push(`unknown imports: ${unknown.length ? unknown.join(', ') : 'none'}`)
  return `${lines.join('\n')}\n`
}

/** A guess from export and import names; good enough to say what built a module, never relied on. */
function guessToolchain(exports: string[], imports: WebAssembly.ModuleImportDescriptor[], hasStart: boolean): string {
  const exp = new Set(exports)
  const mods = new Set(imports.map((i) => i.module))
  const imp = new Set(imports.map((i) => `${i.module}.${i.name}`))
  const wasiP1 = (n: string) => imp.has(`wasi_snapshot_preview1.${n}`)
  if (exp.has('_initialize') && exp.has('proxy_on_memory_allocate') && mods.has('wasi_snapshot_preview1') && (wasiP1('sched_yield') || wasiP1('poll_oneoff')) && !exp.has('malloc')) {
    return 'Go (GOOS=wasip1, -buildmode=c-shared)'
  }
  if (exp.has('_start') && exp.has('malloc') && !exp.has('__new')) return 'TinyGo'
  if ((mods.has('wasi_unstable') || imp.has('env.abort')) && (exp.has('__new') || ((exp.has('__alloc') || exp.has('malloc')) && hasStart))) return 'AssemblyScript'
  if (imp.has('env.emscripten_notify_memory_growth') || exp.has('stackSave') || exp.has('emscripten_stack_init')) return 'C++ (Emscripten)'
  if (exp.has('proxy_on_memory_allocate') && (exp.has('__data_end') || exp.has('__heap_base'))) return 'Rust (or C/C++ with wasi-sdk)'
  return 'unknown (hand-written?)'
}

/** Whether the module has a start section (id 8); AssemblyScript runs its top-level code from it. */
function startSection(bytes: Uint8Array): boolean {
  let p = 8
  const leb = (): number => {
    let result = 0
    let shift = 0
    for (;;) {
      const b = bytes[p++]
      if (b === undefined) return -1
      result += (b & 0x7f) * 2 ** shift
      if (!(b & 0x80)) return result
      shift += 7
    }
  }
  while (p < bytes.length) {
    const id = bytes[p++]
    const size = leb()
    if (size < 0) return false
    if (id === 8) return true
    p += size
  }
  return false
}
