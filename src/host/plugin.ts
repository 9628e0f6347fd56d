/**
 * A loaded plugin (cpp-host `PluginBase`): its name, ordering, configuration and fail strategy, the
 * VM that runs it, and its root context.
 * @module
 */
import { LOG_LEVEL_NAMES, MapType, type AbiVersion, type LogLevel, type LogLevelName } from '../abi/enums.js'
import type { PluginFailureError } from '../errors.js'
import type { Clock } from './clock.js'
import type { CpuLimitMode } from './cpu-limit.js'
import type { ImportEntry } from './wasm-rewrite/index.js'
import { cancelPending, startVm, stopTick, type StartedVm } from './vm-start.js'
import type { HttpCallDispatcher, RedisBridge, SharedDataStore, SharedQueueStore, UpstreamHostsSource } from './services.js'
import type { PluginMetrics } from '../state/metrics.js'
import type { StateLimits } from './state-limits.js'
import { HttpState, RootContext, StreamContext, type ContextBase, type StreamInfo } from './context.js'
import type { HeaderMap } from './header-map.js'
import { levelValue, requestIdOf, type LogSource, type PluginLogger } from './logger.js'
import type { PropertyTable } from './properties.js'
import { Callback, type WasmVm } from './vm.js'
import type { WasiSetup } from './wasi-provider.js'
import type { SnapshotPlan } from './vm-snapshot.js'

/** Plugin phases (Istio/Higress `WasmPlugin.phase`), run in this order. */
export type PluginPhase = 'AUTHN' | 'AUTHZ' | 'STATS' | 'UNSPECIFIED'
/** What to do when the plugin traps. */
export type FailStrategy = 'FAIL_CLOSE' | 'FAIL_OPEN' | 'FAIL_RELOAD'

/** A host function the plugin can call by name with `proxy_call_foreign_function`. */
export type ForeignFunction = (args: Buffer, source: { plugin: string; contextId: number }) => Uint8Array | number | void

/** The outside-world services of a host (see `services.ts`); absent ones answer as unconfigured. @internal */
export interface HostServices {
  http?: HttpCallDispatcher
  redis?: RedisBridge
  upstreams?: UpstreamHostsSource
  sharedData?: SharedDataStore
  sharedQueues?: SharedQueueStore
  metrics?: PluginMetrics
  /** Caps of shared data, queues and metrics (`limits.maxSharedData*` …). */
  limits?: StateLimits
}

/** Everything a {@link Plugin} needs from its host. @internal */
export interface PluginRuntime {
  module: WebAssembly.Module
  abi: AbiVersion
  logger: PluginLogger
  clock: Clock
  services: HostServices
  wasi: WasiSetup
  foreignFunctions: Record<string, ForeignFunction>
  bufferLimit: number
  /** Largest HTTP callout response body (`limits.maxCalloutResponseBytes`). */
  maxCalloutResponseBytes: number
  onFailure: (err: PluginFailureError) => void
  /** CPU limit of one guest call in ms (0: none), and how the module enforces it. */
  cpuLimitMs: number
  cpuLimitMode: CpuLimitMode
  /** The module's imports with their signatures (stand-ins for unknown ones), when decoded. */
  imports: ImportEntry[] | undefined
  /** Start-up snapshots of the module for this plugin's WASI settings and clock (`vm-snapshot.ts`); absent when off. */
  snapshot?: { plan: SnapshotPlan; key: string } | undefined
}

/** Fixed settings of a plugin. @internal */
export interface PluginSettings {
  name: string
  phase: PluginPhase
  priority: number
  failStrategy: FailStrategy
  rootId: string
  vmId: string
  config: Buffer
  vmConfig: Buffer
  properties: PropertyTable
  logLevel: LogLevelName | undefined
  source: string
  /** Higress `rebuildAfterRequests`: a new VM after this many requests (0: never). */
  rebuildAfterRequests?: number
  /** Higress `rebuildMaxMemoryBytes`: a new VM once linear memory is larger (0: never). */
  rebuildMaxMemoryBytes?: number
}

const builtinForeign: Record<string, (p: Plugin) => ForeignFunction> = {
  // Higress wasm-go reads its log level this way (u32 LE) instead of proxy_get_log_level.
  get_log_level: (p) => () => {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(p.logLevel)
    return b
  },
  set_global_max_requests_per_io_cycle: () => () => undefined,
}

/**
 * A plugin loaded by {@link WasmPluginHost.load}: one VM, one root context, and a stream context
 * per request. Pass it to a {@link PluginPipeline} to run it.
 */
export class Plugin {
  /** Plugin name (property `plugin_name`). */
  readonly name: string
  /** Ordering phase. */
  readonly phase: PluginPhase
  /** Priority inside the phase (larger first). */
  readonly priority: number
  /** Trap policy. */
  readonly failStrategy: FailStrategy
  /** ABI version, from the module's marker export. */
  readonly abi: AbiVersion
  /** Root id (property `plugin_root_id`). */
  readonly rootId: string
  /** VM id (property `plugin_vm_id`). */
  readonly vmId: string
  /** Where the binary came from (path or URL), for messages. */
  readonly source: string
  /** @internal plugin configuration bytes (buffer 7). */
  readonly pluginConfigBytes: Buffer
  /** @internal VM configuration bytes (buffer 6). */
  readonly vmConfigBytes: Buffer
  /** @internal embedder properties. */
  readonly properties: PropertyTable
  /** @internal whether any embedder property was given. */
  readonly hasProperties: boolean
  /** @internal numeric log level. */
  readonly logLevel: LogLevel
  readonly #rt: PluginRuntime
  #vm: WasmVm | undefined
  #root: RootContext | undefined
  #failures = 0
  #reloadAt = 0
  #rebuild = false
  #active = 0
  /** Streams started on the current VM. */
  #served = 0
  readonly #rebuildAfter: number
  readonly #rebuildMemory: number
  /** VMs replaced by a rebuild that still run requests: their roots and live stream counts. */
  readonly #retired = new Map<WasmVm, { root: RootContext; active: number }>()
  /** `module.name` of imports already reported as unimplemented (one warn line each). */
  readonly #warned = new Set<string>()
  #closed = false

  /** @internal use {@link WasmPluginHost.load}. */
  constructor(settings: PluginSettings, runtime: PluginRuntime) {
    this.name = settings.name
    this.phase = settings.phase
    this.priority = settings.priority
    this.failStrategy = settings.failStrategy
    this.rootId = settings.rootId
    this.vmId = settings.vmId
    this.source = settings.source
    this.pluginConfigBytes = settings.config
    this.vmConfigBytes = settings.vmConfig
    this.properties = settings.properties
    this.hasProperties = settings.properties.size > 0
    this.abi = runtime.abi
    this.#rt = runtime
    this.logLevel = levelValue(settings.logLevel ?? runtime.logger.level)
    this.#rebuildAfter = settings.rebuildAfterRequests ?? 0
    this.#rebuildMemory = settings.rebuildMaxMemoryBytes ?? 0
  }

  /** The failure that stopped the current VM, if any. */
  get failure(): PluginFailureError | undefined {
    return this.#vm?.failure
  }

  /** Whether the current VM serves requests. */
  get healthy(): boolean {
    return this.#vm !== undefined && this.#vm.failure === undefined && !this.#closed
  }

  /** Whether {@link Plugin.close} ran. */
  get closed(): boolean {
    return this.#closed
  }

  /** The plugin configuration as text. */
  get configuration(): string {
    return this.pluginConfigBytes.toString('utf8')
  }

  /** @internal the host's clock. */
  get clock(): Clock {
    return this.#rt.clock
  }

  /** @internal the host's outside-world services. */
  get services(): HostServices {
    return this.#rt.services
  }

  /** @internal current VM. */
  get vm(): WasmVm | undefined {
    return this.#vm
  }

  /** The tick period the plugin set with `proxy_set_tick_period_milliseconds`, in ms (0: no tick). */
  get tickPeriodMs(): number {
    const root = this.#root
    return root && !root.deleted ? root.tickPeriod : 0
  }

  /**
   * @internal Instantiates a fresh VM and runs start-up (§6.1–6.2): `_initialize` (+`main`) or
   * `_start`, then the root context's create, `proxy_on_vm_start` and `proxy_on_configure`. The new
   * VM replaces the current one only once all of that succeeded.
   * @throws `PWH_ERR_PLUGIN_START_FAILED`, `PWH_ERR_PLUGIN_CONFIGURE_FAILED`
   */
  start(): void {
    this.#install(startVm(this, this.#rt, this.#warned))
  }

  /** Makes a started VM the one new streams get; the previous one finishes its streams first. */
  #install({ vm, root }: StartedVm): void {
    const old = this.#vm
    const oldRoot = this.#root
    const oldActive = this.#active
    this.#vm = vm
    this.#root = root
    this.#active = 0
    this.#served = 0
    this.#failures = 0
    this.#reloadAt = 0
    this.#rebuild = false
    if (!old || !oldRoot) return
    this.#stopTimer(oldRoot)
    oldRoot.tickPeriod = 0
    if (old.failure) return
    // Rebuild: in-flight requests finish on the old VM, whose root shuts down after the last one.
    if (oldActive === 0) this.#shutdownRoot(oldRoot)
    else this.#retired.set(old, { root: oldRoot, active: oldActive })
  }

  /**
   * @internal The VM for a new stream: the current one, or a new one when the plugin asked for a
   * rebuild, or when it failed and the fail strategy is FAIL_RELOAD (with backoff: 200 ms doubling
   * to 30 s while starting fails). Never throws: a failed restart means "no VM" (fail strategy) or,
   * for a rebuild, that the old VM serves on.
   */
  ready(): boolean {
    if (this.#closed) return false
    try {
      const vm = this.#vm
      if (vm && !vm.failure) {
        if (this.#rebuild && this.#rt.clock.now() >= this.#reloadAt) this.#restart('rebuild')
        return true
      }
      if (this.failStrategy !== 'FAIL_RELOAD' || this.#rt.clock.now() < this.#reloadAt) return false
      return this.#restart('reload')
    } catch (err) {
      this.emitLog('error', `restart failed: ${(err as Error)?.message ?? String(err)}`, 0, 'host')
      return false
    }
  }

  #restart(why: 'rebuild' | 'reload'): boolean {
    try {
      this.#install(startVm(this, this.#rt, this.#warned))
      this.emitLog('info', why === 'rebuild' ? 'rebuilt the VM' : 'reloaded the VM after a failure', 0, 'host')
      return true
    } catch (err) {
      this.#failures++
      const wait = Math.min(30_000, 100 * 2 ** this.#failures)
      this.#reloadAt = this.#rt.clock.now() + wait
      const then = why === 'rebuild' ? 'the current VM serves on' : 'requests get the fail strategy'
      this.emitLog('error', `${why} failed, ${then}; next attempt in ${wait} ms: ${(err as Error)?.message ?? String(err)}`, 0, 'host')
      return false
    }
  }

  /** @internal a stream context for one request (created in the guest lazily). */
  newStream(http: HttpState): StreamContext {
    const vm = this.#vm!
    const ctx = new StreamContext(vm.nextContextId(), this, vm, this.#root!, http)
    vm.contexts.set(ctx.id, ctx)
    this.#active++
    // Higress rebuildAfterRequests: this VM serves N requests, the next one gets a new VM.
    if (++this.#served === this.#rebuildAfter) this.#rebuild = true
    return ctx
  }

  /**
   * @internal Calls a stream callback (an export name, or a {@link Callback} index), creating the
   * context in the guest first (§6.3).
   * @throws a {@link PluginFailureError} when the guest traps
   */
  callStream(ctx: StreamContext, callback: string | number, fallback: number, a?: number, b?: number): number {
    const vm = ctx.vm
    if (typeof callback === 'number') {
      try {
        return vm.stream(ctx, callback, fallback, a, b)
      } catch (err) {
        throw this.#failed(err as PluginFailureError, vm)
      }
    }
    try {
      if (!ctx.created) {
        ctx.created = true
        vm.callback(ctx, Callback.ContextCreate, 0, ctx.id, ctx.rootContext.id)
      }
      return vm.call(ctx, callback, fallback, ctx.id, a, b)
    } catch (err) {
      throw this.#failed(err as PluginFailureError, vm)
    } finally {
      vm.afterCall?.()
    }
  }

  /** @internal `on_log`, `on_done`, `on_delete` for a stream (Envoy order, §6.3); never throws. */
  finishStream(ctx: StreamContext): PluginFailureError | undefined {
    if (ctx.deleted) return undefined
    ctx.deleted = true
    const vm = ctx.vm
    const current = vm === this.#vm
    // A stream of a replaced VM: a rebuilt one (retired, counted there) or a failed one (not counted).
    const retired = current ? undefined : this.#retired.get(vm)
    if (current) this.#active--
    let failure: PluginFailureError | undefined
    if (!vm.failure) {
      try {
        if (!ctx.created) {
          ctx.created = true
          vm.callback(ctx, Callback.ContextCreate, 0, ctx.id, ctx.rootContext.id)
        }
        vm.callback(ctx, Callback.Log, 0, ctx.id)
        vm.callback(ctx, Callback.Done, 1, ctx.id)
        vm.callback(ctx, Callback.Delete, 0, ctx.id)
      } catch (err) {
        failure = this.#failed(err as PluginFailureError, vm)
      } finally {
        vm.afterCall?.()
      }
    }
    vm.contexts.delete(ctx.id)
    if (retired && --retired.active === 0) {
      // The last request of a replaced VM finished: its root shuts down now.
      this.#retired.delete(vm)
      this.#shutdownRoot(retired.root)
    } else if (current && this.#rebuildMemory > 0 && !vm.failure && vm.memory.byteLength > this.#rebuildMemory) {
      // Higress rebuildMaxMemoryBytes: linear memory never shrinks, a new VM does.
      this.#rebuild = true
    }
    return failure
  }

  #failed(err: PluginFailureError, vm?: WasmVm): PluginFailureError {
    if (err.code !== 'PWH_ERR_PLUGIN_FAILED') {
      const current = vm === undefined || vm === this.#vm
      const root = current ? this.#root : this.#retired.get(vm)?.root
      if (current) this.#reloadAt = 0
      this.emitLog('error', err.message, 0, 'host')
      this.#stopTimer(root)
      this.#cancelPending(root)
      this.#rt.onFailure(err)
      // Requests paused on this VM (waiting for a callout or a tick) get their answer now.
      vm?.notifyStreams()
    }
    return err
  }

  /**
   * @internal Runs root callback `name(root.id, ...args)` for an async completion (HTTP/Redis
   * callout, queue, tick): deferred while the VM runs (calls never nest, ABI §6.3); dropped when the
   * root was deleted, the plugin closed or the VM failed. `during` sets up what is visible only
   * inside the callback (buffer 4, maps 6/7 …) and returns its cleanup.
   * @returns false when the completion was dropped
   */
  deliver(root: RootContext, name: string, args: readonly number[], during?: () => () => void): boolean {
    const vm = root.vm
    if (root.deleted || vm.failure || (vm !== this.#vm && !this.#retired.has(vm))) return false
    if (vm.running) {
      vm.deferred.push(() => void this.deliver(root, name, args, during))
      return true
    }
    const cleanup = during?.()
    try {
      vm.call(root, name, 0, root.id, args[0], args[1], args[2], args[3])
    } catch (err) {
      this.#failed(err as PluginFailureError, vm)
    } finally {
      cleanup?.()
      vm.afterCall?.()
    }
    return true
  }

  #cancelPending(root: RootContext | undefined): void {
    // The root's Redis clients go with it (its pending calls end below without a callback).
    if (root) this.#rt.services.redis?.release(root)
    if (root) cancelPending(root)
  }

  /** @internal `proxy_set_tick_period_milliseconds`: re-armed after each `proxy_on_tick` returns (§2.4). */
  setTickPeriod(root: RootContext, period: number): void {
    root.tickPeriod = period
    this.#stopTimer(root)
    if (period > 0) this.#armTimer(root)
  }

  #armTimer(root: RootContext): void {
    // Timers never keep the process alive on their own (the clock's contract).
    root.tickTimer = this.#rt.clock.setTimer(() => {
      root.tickTimer = undefined
      const vm = root.vm
      if (vm.failure || root.deleted) return
      if (vm.running) {
        // Never nest calls: try again once the running call returned.
        vm.deferred.push(() => root.tickTimer === undefined && root.tickPeriod > 0 && this.#armTimer(root))
        return
      }
      try {
        vm.call(root, 'proxy_on_tick', 0, root.id)
      } catch (err) {
        this.#failed(err as PluginFailureError, vm)
        return
      } finally {
        vm.afterCall?.()
      }
      // Re-armed after the callback returned: period + callback time, as Envoy does (§2.4).
      if (root.tickPeriod > 0 && !root.tickTimer) this.#armTimer(root)
    }, root.tickPeriod)
  }

  #stopTimer(root: RootContext | undefined): void {
    if (root) stopTick(root)
  }

  /** @internal the value of foreign function `name`. */
  foreignFunction(name: string): ForeignFunction | undefined {
    return this.#rt.foreignFunctions[name] ?? builtinForeign[name]?.(this)
  }

  /** @internal callout maps: HTTP call response headers (6) and trailers (7), only inside `proxy_on_http_call_response`. */
  calloutMap(ctx: ContextBase | undefined, type: number): HeaderMap | undefined {
    const r = ctx?.root.httpCallResponse
    if (!r) return undefined
    if (type === MapType.HttpCallResponseHeaders) return r.headers
    if (type === MapType.HttpCallResponseTrailers) return r.trailers
    return undefined
  }

  /** @internal largest HTTP callout response body accepted. */
  get maxCalloutResponseBytes(): number {
    return this.#rt.maxCalloutResponseBytes
  }

  /** @internal Higress `wasm_need_rebuild`: new streams get a new VM; running ones finish on this one. */
  requestRebuild(): void {
    this.#rebuild = true
  }

  /** @internal bytes of the VM's memory (property `plugin_vm_memory`). */
  vmMemoryBytes(): number | undefined {
    return this.#vm?.memory.byteLength
  }

  /** @internal sends a line to the logger. */
  emitLog(level: LogLevelName, message: string, contextId: number, origin: LogSource['origin']): void {
    if (levelValue(level) < this.logLevel) return
    const source: LogSource = { plugin: this.name, contextId, origin }
    // Lines of a stream context carry the request's id.
    const ctx = contextId ? this.#vm?.contexts.get(contextId) : undefined
    if (ctx && !ctx.isRoot) source.requestId = requestIdOf((ctx as StreamContext).http)
    this.#rt.logger.log(level, message, source)
  }

  /** @internal the CPU limit of one guest call in ms (0: none). */
  get cpuLimitMs(): number {
    return this.#rt.cpuLimitMs
  }

  /** @internal per-stream body buffer limit. */
  get bufferLimit(): number {
    return this.#rt.bufferLimit
  }

  /** @internal a new request state for `info`. */
  static httpState(info: StreamInfo, headers: HeaderMap, bufferLimit: number, clock: Clock): HttpState {
    return new HttpState(info, headers, bufferLimit, clock)
  }

  /** @internal after `proxy_done`: delete the root (the current one by default). */
  deleteRoot(root: RootContext | undefined = this.#root): void {
    if (!root || root.deleted) return
    root.deleted = true
    try {
      root.vm.call(root, 'proxy_on_delete', 0, root.id)
    } catch {
      // the VM is marked failed; nothing else to do at shutdown
    }
  }

  #shutdownRoot(root: RootContext | undefined = this.#root): void {
    if (!root || root.deleted) return
    this.#stopTimer(root)
    root.tickPeriod = 0
    this.#cancelPending(root)
    if (root.vm.failure) return
    try {
      // §6.5: on_done true → delete now; false → wait for proxy_done.
      if (root.vm.call(root, 'proxy_on_done', 1, root.id) === 1) this.deleteRoot(root)
      else root.pendingDone = true
    } catch {
      // a trap at shutdown only ends the VM
    }
  }

  /**
   * Shuts the plugin down: stops its timer and runs `proxy_on_done` / `proxy_on_delete` on the root.
   * Streams still running finish with their callbacks.
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#shutdownRoot()
  }

  /** A short description, e.g. `auth (0.2.100, AUTHN/100)`. */
  toString(): string {
    return `${this.name} (${this.abi}, ${this.phase}/${this.priority})`
  }
}

export { LOG_LEVEL_NAMES }
