/**
 * WASI providers: the default sandbox (ABI §9), Node's `node:wasi`, `@wasmer/wasi`, or a custom one.
 * @module
 */
import { ProxyWasmHostError } from '../errors.js'
import { createSandboxWasi } from './hostcalls/wasi.js'
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

/**
 * @internal a ready provider bound to options. `create` also sets `vm.afterCall` to the instance's
 * `afterCall`, which the host calls after each top-level call into the guest.
 */
export interface WasiSetup {
  create(plugin: Plugin, vm: WasmVm): WasiInstance
}

/** @internal */
export async function setupWasi(option: WasiOption | undefined, env: Record<string, string>, args: string[]): Promise<WasiSetup> {
  const envList = Object.entries(env).map(([k, v]) => `${k}=${v}`)
  const writer = (plugin: Plugin, vm: WasmVm) => (fd: 1 | 2, text: string) =>
    plugin.emitLog(fd === 1 ? 'info' : 'error', text, vm.current?.id ?? 0, fd === 1 ? 'stdout' : 'stderr')
  if (option === undefined || option === 'sandbox') {
    return {
      create(plugin, vm) {
        // stdout/stderr are line-buffered: Go writes "panic: " and "boom\n" in separate fd_write calls.
        const write = writer(plugin, vm)
        const pending: Record<1 | 2, string> = { 1: '', 2: '' }
        let buffered = false
        const lineWrite = (fd: 1 | 2, text: string) => {
          const all = pending[fd] + text
          const lines = all.split('\n')
          pending[fd] = lines.pop()!
          buffered ||= pending[fd] !== ''
          for (const line of lines) write(fd, line)
        }
        // Called after every guest call: nothing to do unless a line is half written.
        const afterCall = () => {
          if (!buffered) return
          buffered = false
          if (pending[1]) write(1, pending[1])
          if (pending[2]) write(2, pending[2])
          pending[1] = ''
          pending[2] = ''
        }
        vm.afterCall = afterCall
        const fns = createSandboxWasi({ memory: () => vm.memory, write: lineWrite, env: envList, args, clock: plugin.clock })
        // Envoy binds the same functions under both names; AssemblyScript imports wasi_unstable.
        return { imports: { wasi_snapshot_preview1: fns, wasi_unstable: fns }, afterCall }
      },
    }
  }
  if (option === 'node') {
    const { WASI } = await import('node:wasi')
    return {
      create() {
        const wasi = new WASI({ version: 'preview1', args, env, returnOnExit: true })
        return {
          imports: { wasi_snapshot_preview1: wasi.wasiImport, wasi_unstable: wasi.wasiImport },
          start(instance) {
            if (typeof instance.exports._initialize === 'function' || typeof instance.exports._start !== 'function') {
              wasi.initialize(instance)
              if (typeof instance.exports.main === 'function') (instance.exports.main as (a: number, b: number) => number)(0, 0)
            } else {
              const code = wasi.start(instance)
              if (code !== 0) throw new Error(`_start exited with code ${code}`)
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
        const write = writer(plugin, vm)
        const ns = wasi.getImports(moduleOf(plugin)) as WebAssembly.Imports
        const fns = (ns.wasi_snapshot_preview1 ?? ns.wasi_unstable) as WebAssembly.ModuleImports
        const flush = () => {
          const out = wasi.getStdoutString()
          const err = wasi.getStderrString()
          for (const line of out.split('\n').filter(Boolean)) write(1, line)
          for (const line of err.split('\n').filter(Boolean)) write(2, line)
        }
        vm.afterCall = flush
        return {
          imports: { wasi_snapshot_preview1: fns, wasi_unstable: fns },
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
        const instance = provider.create({ plugin: plugin.name, env, args, write: writer(plugin, vm) })
        if (typeof instance.afterCall === 'function') vm.afterCall = () => instance.afterCall!()
        return instance
      },
    }
  }
  throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `unknown wasi option ${JSON.stringify(option)}: use 'sandbox', 'node', 'wasmer' or a provider object`)
}

const modules = new WeakMap<Plugin, WebAssembly.Module>()
/** @internal remembers the module of a plugin for providers that inspect imports. */
export function rememberModule(plugin: Plugin, module: WebAssembly.Module): void {
  modules.set(plugin, module)
}
function moduleOf(plugin: Plugin): WebAssembly.Module {
  return modules.get(plugin)!
}
