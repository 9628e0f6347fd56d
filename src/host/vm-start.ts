/**
 * Starting one VM of a plugin: imports bound (hostcalls, WASI, the CPU limit's refuel, stand-ins
 * for what the host lacks), the module instantiated, start-up run (ABI §5.5, §6.1–6.2) — each step
 * under the CPU limit. The plugin installs the VM only when all of it succeeded.
 * @module
 */
import { PluginFailureError, ProxyWasmHostError } from '../errors.js'
import { RootContext } from './context.js'
import { guardExports, isWatchdogTimeout, refueler, watchdog } from './cpu-limit.js'
import { traceHostcalls } from './diagnostics.js'
import { envHostcalls } from './hostcalls/index.js'
import type { Hostcall } from './hostcalls/util.js'
import { ProcExit } from './hostcalls/wasi.js'
import { consequenceOf, importStub, isListedUnimplemented } from './import-stubs.js'
import type { Plugin, PluginRuntime } from './plugin.js'
import { WasmVm } from './vm.js'
import { initialImage, markRestored, restoreSnapshot, StartWatch, takeSnapshot } from './vm-snapshot.js'
import { FUEL_IMPORT, type ImportEntry } from './wasm-rewrite/index.js'

/** A VM that passed start-up, with its root context. @internal */
export interface StartedVm {
  vm: WasmVm
  root: RootContext
}

/** Stops the tick of `root`. @internal */
export function stopTick(root: RootContext): void {
  root.tickTimer?.cancel()
  root.tickTimer = undefined
}

/** Cancels every outstanding call of `root` (their completions never reach the guest). @internal */
export function cancelPending(root: RootContext): void {
  if (root.pending.size === 0) return
  const list = [...root.pending.values()]
  root.pending.clear()
  for (const p of list) p.cancel()
}

/**
 * Builds and starts a VM of `plugin`; the plugin's current VM is left alone. `warned` holds the
 * `module.name` of unimplemented imports already reported for the plugin (one warn line each).
 * @throws `PWH_ERR_PLUGIN_START_FAILED`, `PWH_ERR_PLUGIN_CONFIGURE_FAILED`; the VM is then marked
 * failed and its root dropped (a rejected VM never serves)
 * @internal
 */
export function startVm(plugin: Plugin, rt: PluginRuntime, warned: Set<string>): StartedVm {
  const vm = new WasmVm(plugin)
  // A start-up snapshot of the module (vm-snapshot.ts): restored when taken, else watched for.
  const snap = rt.snapshot
  const taken = snap?.plan.taken.get(snap.key)
  const restore = typeof taken === 'object' ? taken : undefined
  const wasi = rt.wasi.create(plugin, vm, restore ? plugin.clock.monotonicNs() - restore.monotonicNs : undefined)
  // Called after each top-level call into the guest: the sandbox flushes a half-written line only.
  if (typeof wasi.afterCall === 'function') vm.afterCall = wasi.afterCall.bind(wasi)
  const imports = bindImports(plugin, rt, vm, wasi.imports, warned)
  const what = `plugin "${plugin.name}" (${plugin.source})`
  const startFailed = (why: string, err?: unknown) => new ProxyWasmHostError('PWH_ERR_PLUGIN_START_FAILED', `${what} failed to start: ${why}`, { cause: err })
  const guard = rt.cpuLimitMode === 'watchdog' ? watchdog(rt.cpuLimitMs) : undefined
  const guarded = <T>(run: () => T): T => {
    // Each start-up step is a top-level call of its own for the CPU limit.
    vm.topCalls++
    return guard ? guard(run) : run()
  }
  const watch = snap && taken === undefined ? new StartWatch() : undefined
  watch?.wrap(imports, rt.cpuLimitMode === 'fuel')
  let instance: WebAssembly.Instance
  let image: Uint8Array | undefined
  try {
    instance = guarded(() => {
      if (watch) watch.instantiating = true
      try {
        return new WebAssembly.Instance(rt.module, imports)
      } finally {
        if (watch) watch.instantiating = false
      }
    })
    if (restore) restoreSnapshot(snap!.plan, restore, instance)
    else if (watch) image = initialImage(instance)
  } catch (err) {
    // A start section (AssemblyScript) runs while instantiating: it can trap or run out of time.
    if (err instanceof WebAssembly.RuntimeError || err instanceof ProcExit || vm.cpuExceeded || isWatchdogTimeout(err)) {
      const f = vm.fail(err, 'start function')
      throw startFailed(`the start function failed (${f.message})`, f)
    }
    throw new ProxyWasmHostError('PWH_ERR_PLUGIN_START_FAILED', `${what} could not be instantiated: ${(err as Error).message}`, { cause: err })
  }
  vm.attach(instance)
  if (restore) markRestored(vm)
  if (guard) vm.setExports(guardExports(vm.exports, guard))
  const root = new RootContext(vm.nextContextId(), plugin, vm)
  try {
    try {
      if (!restore && !guarded(() => wasi.start?.(instance))) {
        if (typeof vm.exports._initialize === 'function') {
          vm.call(undefined, '_initialize', 0)
          if (typeof vm.exports.main === 'function') vm.call(undefined, 'main', 0, 0, 0)
        } else if (typeof vm.exports._start === 'function') {
          vm.call(undefined, '_start', 0)
        }
      }
    } catch (err) {
      const f = vm.fail(err, '_initialize')
      throw startFailed(`start-up code failed (${f.message})`, f)
    } finally {
      vm.afterCall?.()
    }
    if (watch) {
      // Before any root context callback: the state every VM of the module starts from.
      const why = watch.end()
      if (why) snap!.plan.taken.set(snap!.key, why)
      else {
        takeSnapshot(snap!.plan, snap!.key, instance, image!, plugin.clock)
        // The watched VM's imports carry the watch's wrappers: the VM that serves is restored
        // from the snapshot with the plain ones (start-up ran once, inside the module).
        return startVm(plugin, rt, warned)
      }
    }
    vm.contexts.set(root.id, root)
    try {
      root.created = true
      vm.call(root, 'proxy_on_context_create', 0, root.id, 0)
      if (vm.call(root, 'proxy_on_vm_start', 1, root.id, plugin.vmConfigBytes.byteLength) === 0) {
        throw startFailed('proxy_on_vm_start returned false (check the VM configuration and the plugin logs)')
      }
      root.inConfigure = true
      const ok = vm.call(root, 'proxy_on_configure', 1, root.id, plugin.pluginConfigBytes.byteLength)
      root.inConfigure = false
      if (ok === 0) {
        throw new ProxyWasmHostError('PWH_ERR_PLUGIN_CONFIGURE_FAILED',
          `${what} rejected its configuration in proxy_on_configure; the plugin logs say why. Configuration: ${truncate(plugin.configuration)}`)
      }
    } catch (err) {
      root.inConfigure = false
      if (err instanceof PluginFailureError || !(err instanceof ProxyWasmHostError)) throw startFailed(`root context failed (${(err as Error).message})`, err)
      throw err
    } finally {
      vm.afterCall?.()
    }
  } catch (err) {
    // The rejected VM never serves: no tick, no callout completion reaches it.
    root.deleted = true
    stopTick(root)
    rt.services.redis?.release(root)
    cancelPending(root)
    vm.failure ??= new PluginFailureError('PWH_ERR_PLUGIN_FAILED', plugin.name, 'start', `${what} did not start`)
    throw err
  }
  return { vm, root }
}

/** Binds the module's imports: hostcalls, WASI, the CPU limit's refuel, stand-ins for the rest. */
function bindImports(plugin: Plugin, rt: PluginRuntime, vm: WasmVm, wasiImports: WebAssembly.Imports, warned: Set<string>): WebAssembly.Imports {
  // diagnostics_channel `proxy-wasm-host:hostcall`: wrapped only when subscribed at start-up.
  const env: Record<string, Hostcall> = traceHostcalls(envHostcalls(vm), vm)
  const imports: WebAssembly.Imports = { env: {}, ...wasiImports }
  if (rt.cpuLimitMode === 'fuel') imports[FUEL_IMPORT.module] = { [FUEL_IMPORT.name]: refueler(vm, rt.cpuLimitMs) }
  const list: ImportEntry[] = rt.imports ??
    WebAssembly.Module.imports(rt.module).map((i) => ({ module: i.module, name: i.name, kind: i.kind === 'function' ? 0 : -1 }))
  for (const imp of list) {
    const ns = (imports[imp.module] ??= {}) as Record<string, unknown>
    if (ns[imp.name] !== undefined) continue
    const key = `${imp.module}.${imp.name}`
    const given = imp.module === 'env' ? env[imp.name] : undefined
    if (given && !isListedUnimplemented(imp.name)) {
      ns[imp.name] = given
      continue
    }
    // Unimplemented (listed) or unknown: answered without trapping, logged the first time.
    const warn = () => {
      if (warned.has(key)) return
      warned.add(key)
      const answer = stubAnswer(imp)
      const consequence = imp.module === 'env' ? `; ${consequenceOf(imp.name)}` : ''
      plugin.emitLog('warn', `called ${key}, which this host does not implement: answered ${answer}${consequence}`, vm.effective?.id ?? 0, 'host')
    }
    if (given) {
      const impl = given as (...a: never[]) => number | void
      ns[imp.name] = (...a: never[]) => (warn(), impl(...a))
      continue
    }
    const stub = imp.type || imp.global ? importStub(imp, warn) : imp.kind === 0 ? () => (warn(), imp.module === 'env' ? 12 : 52) : undefined
    if (stub !== undefined) ns[imp.name] = stub
  }
  return imports
}

/** What a stand-in answers, for the warn line. */
function stubAnswer(imp: ImportEntry): string {
  const first = imp.type ? imp.type.results[0] : 'i32'
  if (first === undefined) return 'nothing'
  if (first !== 'i32') return 'zero'
  return imp.module === 'env' ? 'Unimplemented (12)' : imp.module.startsWith('wasi') ? 'ENOSYS (52)' : '0'
}

function truncate(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s || '(empty)'
}
