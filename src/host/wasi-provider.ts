/**
 * WASI providers: the default sandbox (ABI §9), Node's `node:wasi`, `@wasmer/wasi`, or a custom one.
 * @module
 */
import { WASI_LINE_MAX_BYTES } from '../abi/limits.js'
import { ProxyWasmHostError } from '../errors.js'
import { createSandboxWasi, ProcExit } from './hostcalls/wasi.js'
import type { Plugin } from './plugin.js'
import type { WasmVm } from './vm.js'

/** What a WASI provider gives one VM. */
export interface WasiInstance {
  /** Import namespaces (`wasi_snapshot_preview1`, `wasi_unstable`). */
  imports: WebAssembly.Imports
  /** Runs the module's start-up itself; return `true` when it did (else the host calls `_initialize`/`_start`). */
  start?(instance: WebAssembly.Instance): boolean
  /** Called after each top-level call into the guest (e.g. to drain captured stdout). */
  afterCall?(): void
}

/** A custom WASI provider. */
export interface WasiProvider {
  /** Builds the WASI imports for one VM of `plugin`. */
  create(context: { plugin: string; env: Record<string, string>; args: string[]; write(fd: 1 | 2, text: string): void }): WasiInstance
}

/** WASI choice: the sandbox (default), `node:wasi`, `@wasmer/wasi`, or a custom provider. */
export type WasiOption = 'sandbox' | 'node' | 'wasmer' | WasiProvider

/** @internal a ready provider bound to options. */
export interface WasiSetup {
  /**
   * `monotonicShift` (sandbox only): WASI's monotonic clock reads that much less for this VM — a
   * VM restored from a start-up snapshot sees its clock go on from the snapshot's time.
   */
  create(plugin: Plugin, vm: WasmVm, monotonicShift?: bigint): WasiInstance
  /**
   * What start-up can read from this provider (environment, arguments), for start-up snapshots;
   * only the sandbox has one (other providers keep state of their own: every VM runs start-up).
   */
  snapshotKey?: string
}

/** `proc_exit` for every provider: unwinds the guest; the VM fails with `PWH_ERR_PLUGIN_EXIT` and the code. */
const procExit = (code: number): never => {
  throw new ProcExit(code >>> 0)
}

/** @internal */
export async function setupWasi(option: WasiOption | undefined, env: Record<string, string>, args: string[]): Promise<WasiSetup> {
  const envList = Object.entries(env).map(([k, v]) => `${k}=${v}`)
  const writer = (plugin: Plugin, vm: WasmVm) => (fd: 1 | 2, text: string) =>
    plugin.emitLog(fd === 1 ? 'info' : 'error', text, vm.current?.id ?? 0, fd === 1 ? 'stdout' : 'stderr')
  if (option === undefined || option === 'sandbox') {
    return {
      snapshotKey: JSON.stringify([envList, args]),
      create(plugin, vm, monotonicShift) {
        // stdout/stderr are line-buffered: Go writes "panic: " and "boom\n" in separate fd_write calls.
        const lines = lineBuffers(writer(plugin, vm))
        const clock = monotonicShift ? { ...plugin.clock, monotonicNs: () => plugin.clock.monotonicNs() - monotonicShift } : plugin.clock
        const fns = createSandboxWasi({ memory: () => vm.memory, write: () => {}, writeBytes: lines.push, env: envList, args, clock })
        // Envoy binds the same functions under both names; AssemblyScript imports wasi_unstable.
        return { imports: { wasi_snapshot_preview1: fns, wasi_unstable: fns }, afterCall: lines.flush }
      },
    }
  }
  if (option === 'node') {
    const { WASI } = await import('node:wasi')
    return {
      create() {
        const wasi = new WASI({ version: 'preview1', args, env, returnOnExit: true })
        // proc_exit fails the VM with its code, as in the sandbox (node:wasi would end the call or the process).
        const fns = { ...wasi.wasiImport, proc_exit: procExit }
        return {
          imports: { wasi_snapshot_preview1: fns, wasi_unstable: fns },
          start(instance) {
            if (typeof instance.exports._initialize === 'function' || typeof instance.exports._start !== 'function') {
              wasi.initialize(instance)
              if (typeof instance.exports.main === 'function') (instance.exports.main as (a: number, b: number) => number)(0, 0)
            } else {
              try {
                wasi.start(instance)
              } catch (err) {
                // A command's main returning ends with proc_exit(0): start-up is done.
                if (!(err instanceof ProcExit && err.exitCode === 0)) throw err
              }
            }
            return true
          },
        }
      },
    }
  }
  if (option === 'wasmer') {
    let mod: typeof import('@wasmer/wasi')
    try {
      mod = await import('@wasmer/wasi')
      await mod.init()
    } catch (err) {
      throw new ProxyWasmHostError('PWH_ERR_WASI_PROVIDER', `@wasmer/wasi could not be loaded: ${(err as Error).message}; install it with \`npm i @wasmer/wasi\``, { cause: err })
    }
    return {
      create(plugin, vm) {
        const wasi = new mod.WASI({ env, args })
        const lines = lineBuffers(writer(plugin, vm))
        const ns = wasi.getImports(moduleOf(plugin)) as WebAssembly.Imports
        const fns = (ns.wasi_snapshot_preview1 ?? ns.wasi_unstable) as WebAssembly.ModuleImports
        const flush = () => {
          lines.push(1, wasi.getStdoutBuffer())
          lines.push(2, wasi.getStderrBuffer())
          lines.flush()
        }
        const bound = { ...fns, proc_exit: procExit }
        return {
          imports: { wasi_snapshot_preview1: bound, wasi_unstable: bound },
          start(instance) {
            wasi.instantiate(instance, {})
            return false
          },
          afterCall: flush,
        }
      },
    }
  }
  if (typeof option === 'object' && typeof option.create === 'function') {
    const provider = option
    return {
      create(plugin, vm) {
        return provider.create({ plugin: plugin.name, env, args, write: writer(plugin, vm) })
      },
    }
  }
  throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `unknown wasi option ${JSON.stringify(option)}: use 'sandbox', 'node', 'wasmer' or a provider object`)
}

/**
 * Line buffers for stdout and stderr: each complete line goes to `emit`, a line longer than
 * {@link WASI_LINE_MAX_BYTES} is cut there (the rest of it is counted and said so), `flush` emits
 * what is pending after a guest call. Linear in what the plugin writes, bounded in memory.
 * @internal
 */
export function lineBuffers(emit: (fd: 1 | 2, text: string) => void): { push(fd: 1 | 2, bytes: Uint8Array): void; flush(): void } {
  const state = { 1: new LineBuffer(), 2: new LineBuffer() }
  return {
    push(fd, bytes) {
      const b = state[fd]
      let start = 0
      for (;;) {
        const nl = bytes.indexOf(10, start)
        b.take(bytes.subarray(start, nl < 0 ? bytes.byteLength : nl))
        if (nl < 0) return
        emit(fd, b.line())
        start = nl + 1
      }
    },
    flush() {
      if (state[1].pending) emit(1, state[1].line())
      if (state[2].pending) emit(2, state[2].line())
    },
  }
}

const utf8 = new TextDecoder()

class LineBuffer {
  #parts: Uint8Array[] = []
  #kept = 0
  #dropped = 0

  get pending(): boolean {
    return this.#kept > 0 || this.#dropped > 0
  }

  take(part: Uint8Array): void {
    const room = WASI_LINE_MAX_BYTES - this.#kept
    if (part.byteLength <= room) {
      if (part.byteLength) this.#parts.push(part.slice())
      this.#kept += part.byteLength
      return
    }
    if (room > 0) this.#parts.push(part.slice(0, room))
    this.#kept += Math.max(room, 0)
    this.#dropped += part.byteLength - Math.max(room, 0)
  }

  line(): string {
    const bytes = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts)
    const text = utf8.decode(bytes) + (this.#dropped ? ` … [line cut at ${WASI_LINE_MAX_BYTES} bytes, ${this.#dropped} more bytes dropped]` : '')
    this.#parts = []
    this.#kept = 0
    this.#dropped = 0
    return text
  }
}

const modules = new WeakMap<Plugin, WebAssembly.Module>()
/** @internal remembers the module of a plugin for providers that inspect imports. */
export function rememberModule(plugin: Plugin, module: WebAssembly.Module): void {
  modules.set(plugin, module)
}
function moduleOf(plugin: Plugin): WebAssembly.Module {
  return modules.get(plugin)!
}
