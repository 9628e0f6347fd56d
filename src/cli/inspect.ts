/**
 * `proxy-wasm-host inspect file.wasm`: what a plugin binary looks like to the host — ABI version,
 * a toolchain guess, imports and exports, and the hostcalls this host does not implement.
 * @module
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { ABI_MARKERS } from '../abi/enums.js'
import { ProxyWasmHostError, isProxyWasmHostError } from '../errors.js'
import { WasmPluginHost } from '../host/host.js'
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
  /** Toolchain: from the `producers` custom section when the compiler wrote one, else a guess. */
  toolchain: string
  /** The `producers` custom section (`language`, `processed-by`, `sdk` → `name version` entries), if any. */
  producers: Record<string, string[]> | undefined
  /** `_initialize`, `_start`, a start section, or none. */
  startup: string
  /** `proxy_on_memory_allocate`, `malloc` or none. */
  allocator: string | undefined
  /** Imports with what the host does with them. */
  imports: Array<{ module: string; name: string; kind: string; status: 'implemented' | 'unimplemented' | 'wasi' | 'unknown' }>
  /** Exports. */
  exports: Array<{ name: string; kind: string }>
  /** Why the host refuses to load this module (the code and message `load()` would throw), or `null`. */
  refused: { code: string; message: string } | null
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
  const producers = readProducers(module)
  const marker = exports.find((e) => e.kind === 'function' && e.name in ABI_MARKERS)?.name
  const has = (n: string) => exports.some((e) => e.name === n)
  const hasStart = startSection(bytes)
  return {
    file,
    size: bytes.byteLength,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    abi: marker ? ABI_MARKERS[marker as keyof typeof ABI_MARKERS] : undefined,
    marker,
    toolchain: producersToolchain(producers, exports.map((e) => e.name)) ?? guessToolchain(exports.map((e) => e.name), imported, hasStart),
    producers,
    startup: has('_initialize') ? '_initialize (reactor)' : has('_start') ? '_start (command)' : hasStart ? 'start section' : 'none',
    allocator: has('proxy_on_memory_allocate') ? 'proxy_on_memory_allocate' : has('malloc') ? 'malloc' : undefined,
    imports,
    exports,
    refused: await refusal(bytes, file, imported),
  }
}

/** What `host.load()` would refuse before running anything: the host's own checks, then imports it cannot provide. */
async function refusal(bytes: Uint8Array, file: string, imported: WebAssembly.ModuleImportDescriptor[]): Promise<InspectReport['refused']> {
  const host = new WasmPluginHost({ logger: { level: 'critical', log: () => {} } })
  try {
    await host.compile(bytes)
  } catch (err) {
    if (!isProxyWasmHostError(err)) throw err
    return { code: err.code, message: err.message.replace(/^<bytes>/, file) }
  } finally {
    host.close()
  }
  // The host answers unknown functions (Unimplemented / ENOSYS) but has no memory, table or global to give.
  const other = imported.filter((i) => i.kind !== 'function')
  if (other.length) {
    return {
      code: 'PWH_ERR_PLUGIN_START_FAILED',
      message: `${file}: imports ${other.map((i) => `${i.kind} ${i.module}.${i.name}`).join(', ')}, which the host does not provide, so the module cannot be instantiated`,
    }
  }
  return null
}

/**
 * The `producers` custom section (tool conventions): fields of `name version` entries, written by
 * rustc, clang, Emscripten and others.
 */
function readProducers(module: WebAssembly.Module): Record<string, string[]> | undefined {
  const section = WebAssembly.Module.customSections(module, 'producers')[0]
  if (!section) return undefined
  const b = new Uint8Array(section)
  const at = { p: 0 }
  const leb = (): number => {
    const n = readLeb(b, at)
    if (n < 0) throw new Error('truncated')
    return n
  }
  const str = (): string => {
    const n = leb()
    if (at.p + n > b.length) throw new Error('truncated')
    const s = Buffer.from(b.subarray(at.p, at.p + n)).toString('utf8')
    at.p += n
    return s
  }
  try {
    const out: Record<string, string[]> = {}
    for (let fields = leb(); fields > 0; fields--) {
      const name = str()
      const values: string[] = []
      for (let n = leb(); n > 0; n--) {
        const value = str()
        const version = str()
        values.push(version ? `${value} ${version}` : value)
      }
      out[name] = values
    }
    return out
  } catch {
    return undefined // a malformed section says nothing reliable
  }
}

/** The toolchain named by the producers section, if it names one. */
function producersToolchain(producers: Record<string, string[]> | undefined, exports: readonly string[] = []): string | undefined {
  if (!producers) return undefined
  const by = producers['processed-by'] ?? []
  const lang = (producers.language ?? []).map((l) => l.split(' ')[0]!)
  const tool = (name: string) => by.find((t) => t.toLowerCase().startsWith(name))
  const go = (producers.language ?? []).find((l) => l.startsWith('Go '))
  if (go && !tool('tinygo')) {
    const version = go.slice(3).replace(/^go/, '')
    return `Go ${version} (GOOS=wasip1${exports.includes('_initialize') ? ', -buildmode=c-shared' : ''})`
  }
  const rustc = tool('rustc')
  if (rustc || lang.includes('Rust')) return `Rust (${rustc ?? 'rustc'})`
  const tinygo = tool('tinygo')
  if (tinygo) return `TinyGo (${tinygo})`
  const emcc = tool('emscripten')
  if (emcc) return `C++ (${emcc})`
  const clang = tool('clang')
  if (clang) return `${lang.includes('C++') || lang.includes('C_plus_plus_14') ? 'C++' : 'C/C++'} (${clang})`
  return by.length ? by.join(', ') : undefined
}

/** The report as the text `inspect` prints. */
export function formatReport(r: InspectReport): string {
  const lines: string[] = []
  const pad = (s: string, n: number) => (s.length >= n ? `${s} ` : s + ' '.repeat(n - s.length))
  lines.push(`${pad('file', 12)}${r.file} (${r.size} bytes)`)
  lines.push(`${pad('sha256', 12)}${r.sha256}`)
  lines.push(`${pad('abi', 12)}${r.abi ? `${r.abi} (export ${r.marker})` : 'none: no proxy_abi_version_* export, the host refuses this module'}`)
  lines.push(`${pad('toolchain', 12)}${r.toolchain}${r.producers && producersToolchain(r.producers) ? ' (producers section)' : ' (guess)'}`)
  lines.push(`${pad('start-up', 12)}${r.startup}`)
  lines.push(`${pad('allocator', 12)}${r.allocator ?? 'none: exports neither proxy_on_memory_allocate nor malloc, the host refuses this module'}`)
  lines.push('')
  lines.push(`imports (${r.imports.length})`)
  const note = {
    implemented: 'implemented',
    unimplemented: 'UNIMPLEMENTED (answers Unimplemented)',
    wasi: 'wasi',
    unknown: 'UNKNOWN (not provided: answers Unimplemented, or ENOSYS for WASI)',
  } as const
  for (const i of r.imports) lines.push(`  ${pad(`${i.module}.${i.name}`, 52)}${i.kind === 'function' ? note[i.status] : `${i.kind}, ${note[i.status]}`}`)
  lines.push(`exports (${r.exports.length})`)
  for (const e of r.exports) lines.push(`  ${pad(e.name, 52)}${e.kind}`)
  lines.push('')
  const unimpl = r.imports.filter((i) => i.status === 'unimplemented').map((i) => i.name)
  const unknown = r.imports.filter((i) => i.status === 'unknown').map((i) => `${i.module}.${i.name}`)
  lines.push(`unimplemented hostcalls: ${unimpl.length ? unimpl.join(', ') : 'none'}`)
  lines.push(`unknown imports: ${unknown.length ? unknown.join(', ') : 'none'}`)
  lines.push(r.refused ? `the host refuses this module: ${r.refused.code}` : 'the host accepts this module')
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
  const at = { p: 8 }
  while (at.p < bytes.length) {
    const id = bytes[at.p++]
    const size = readLeb(bytes, at)
    if (size < 0) return false
    if (id === 8) return true
    at.p += size
  }
  return false
}

/** An unsigned LEB128 at `at.p` (advanced past it), or -1 when the bytes end first. */
function readLeb(bytes: Uint8Array, at: { p: number }): number {
  let result = 0
  let shift = 0
  for (;;) {
    const b = bytes[at.p++]
    if (b === undefined) return -1
    result += (b & 0x7f) * 2 ** shift
    if (!(b & 0x80)) return result
    shift += 7
  }
}
