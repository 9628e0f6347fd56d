/**
 * `WasmPluginHost`: validates and compiles plugin binaries once, and starts plugins from them.
 * @module
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { ABI_MARKERS, type AbiVersion, type LogLevelName } from '../abi/enums.js'
import { DEFAULT_BUFFER_LIMIT_BYTES, DEFAULT_MAX_CALLOUT_RESPONSE_BYTES, DEFAULT_MAX_MEMORY_BYTES, DEFAULT_MAX_WASM_BYTES } from '../abi/limits.js'
import { ProxyWasmHostError, type PluginFailureError } from '../errors.js'
import { systemClock, type Clock } from './clock.js'
import { DEFAULT_CALLBACK_TIMEOUT_MS, type CpuLimitMode } from './cpu-limit.js'
import { consequenceOf, unimplementedImports } from './import-stubs.js'
import { instrument } from './instrument.js'
import { resolveStateLimits, STATE_LIMIT_DEFAULTS, type StateLimitOptions } from './state-limits.js'
import { RewriteError, type ImportEntry } from './wasm-rewrite/index.js'
import type { HttpCallDispatcher, RedisBridge, SharedDataStore, SharedQueueStore } from './services.js'
import { toPluginLogger, type LoggerLike, type PluginLogger } from './logger.js'
import { Plugin, type FailStrategy, type HostServices, type ForeignFunction, type PluginPhase } from './plugin.js'
import { propertyTable, type PropertiesInit } from './properties.js'
import { coalesceDataSegments } from './wasm-rewrite/data-segments.js'
import { snapshotKey, snapshotPlan, type SnapshotPlan } from './vm-snapshot.js'
import { rememberModule, setupWasi, type WasiOption, type WasiSetup } from './wasi-provider.js'
import { createHttpDispatcher, type ClosableHttpDispatcher } from '../upstream/dispatcher.js'
import type { UpstreamResolver } from '../upstream/types.js'
import { Upstreams, type UpstreamMap } from '../upstream/upstreams.js'
import { createRedisBridge, type RedisOptions } from '../redis/bridge.js'
import { createMemorySharedData, createMemorySharedQueues } from '../state/memory.js'
import { PluginMetrics } from '../state/metrics.js'
import type { Registry } from 'prom-client'

/** Options of {@link WasmPluginHost}. */
export interface HostOptions {
  /**
   * Receives plugin logs: a pino logger (a child per plugin), `console`, or `{ level, log }`
   * (default: console, level `info`).
   */
  logger?: LoggerLike
  /** WASI provider for every plugin (default `'sandbox'`). */
  wasi?: WasiOption
  /** Caps (the state caps: see {@link StateLimitOptions} and `docs/isolation.md`). */
  limits?: StateLimitOptions & {
    /** Largest accepted binary in bytes (default 50 MB, MSE's limit). */
    maxWasmBytes?: number
    /**
     * Per-stream body buffer limit in bytes (default 32 MiB); over it a request gets 413, a
     * response 500. Bodies plugins grow with `proxy_set_buffer_bytes` are held to it too.
     */
    bufferLimitBytes?: number
    /**
     * CPU limit of one guest call in ms (default 1000; 0 turns it off): a callback, tick or
     * start-up step running longer is stopped, its VM marked failed (`PWH_ERR_PLUGIN_CPU_LIMIT`)
     * and the plugin's fail strategy applies; the rest of the process keeps serving. Enforced by
     * fuel the host adds to the module at load (see `docs/isolation.md`).
     */
    callbackTimeoutMs?: number
    /**
     * Largest linear memory of one VM in bytes (default 1 GiB, Envoy's; 0 turns the cap off):
     * `memory.grow` past it fails, as the guest's allocator expects.
     */
    maxMemoryBytes?: number
    /**
     * Largest HTTP callout response body in bytes (default 16 MiB); a larger one ends the call as a
     * reset (the plugin sees a failed call, `proxy_get_status` 11 `reset`), as Envoy's response
     * buffer limit does.
     */
    maxCalloutResponseBytes?: number
  }
  /**
   * Refuse plugins that import hostcalls this host answers `Unimplemented`
   * (`PWH_ERR_PLUGIN_UNIMPLEMENTED`) instead of warning (default false).
   */
  strictHostcalls?: boolean
  /**
   * What the upstream names of HTTP callouts mean, exactly as plugins write them: an Envoy cluster
   * (`outbound|80||auth.static`), a Higress service, a Kong `host:port` → one URL or several
   * (round-robin). Tried before `resolvers`. See `docs/upstreams.md`.
   */
  upstreams?: UpstreamMap
  /**
   * Resolvers for the names `upstreams` does not list, tried in order (`staticResolver`,
   * `dnsResolver`, `kubernetesResolver`, `nacosResolver` from `proxy-wasm-host/upstream`, or your
   * own). A name nothing claims gets `BadArgument`, Envoy's answer for an unknown cluster. The host
   * closes them when it closes.
   */
  resolvers?: readonly UpstreamResolver[]
  /** Host functions plugins can call with `proxy_call_foreign_function`, by name. */
  foreignFunctions?: Record<string, ForeignFunction>
  /** Called when a plugin traps or exits (the VM is marked failed; the pipeline applies the fail strategy). */
  onPluginFailure?: (err: PluginFailureError) => void
  /**
   * Time source and timers for plugins: WASI clocks, `proxy_get_current_time_nanoseconds`, ticks,
   * request timestamps (default {@link systemClock}; the test kit passes a fake one).
   */
  clock?: Clock
  /**
   * Advanced: the transport of HTTP callouts, replacing the one built from `upstreams` and
   * `resolvers` (the test kit passes a recorder the test answers).
   */
  httpDispatcher?: HttpCallDispatcher
  /** Advanced: the transport of Redis calls, replacing the one built from `redis` (the test kit passes a recorder). */
  redisBridge?: RedisBridge
  /**
   * Compiled modules by SHA-256 (and the limits that shape the rewritten binary), shared by the
   * hosts given the same map (the test kit shares one per process, so that each tester does not
   * compile the same binary again). Default: per host.
   * @internal
   */
  compileCache?: Map<string, Promise<CompiledPlugin>>
  /**
   * What the Redis cluster names of `proxy_redis_init` / `proxy_redis_call` lead to, e.g.
   * `{ clusters: { 'outbound|6379||redis.dns': 'redis://127.0.0.1:6379' } }` (see `docs/redis.md`).
   * Nothing connects until a plugin sends a command.
   */
  redis?: RedisOptions
  /**
   * Shared data (`proxy_get/set_shared_data`): `'memory'` (default, this host only), or a store —
   * the same in-memory store for several hosts, or {@link createRedisSharedState}'s to share it
   * between processes.
   */
  sharedData?: 'memory' | SharedDataStore
  /** Shared queues (`proxy_*_shared_queue`): `'memory'` (default) or a store, as {@link HostOptions.sharedData}. */
  sharedQueues?: 'memory' | SharedQueueStore
  /**
   * The prom-client registry plugin metrics are exported into (default: a new one, see
   * {@link WasmPluginHost.metricsRegistry}); pass prom-client's `register` to join an app's own.
   * Hosts given the same registry share their stats (a counter keeps counting across reloads).
   */
  metricsRegistry?: Registry
  /**
   * Start later VMs of a module from a snapshot of the first one's memory and globals, taken right
   * after its start-up code (`_initialize`), instead of running start-up again (default true). A
   * FAIL_RELOAD restart, a rebuild or a second load of the same binary then skips Go's runtime
   * initialization; the root context (`proxy_on_vm_start`, `proxy_on_configure`) still runs per VM.
   * Only with the sandbox WASI and for modules whose start-up stays inside the module (see
   * `docs/adr/0023-vm-start.md`). Restored VMs share the random seeds the first one drew at
   * start-up (Go's map hash seeds), as requests served by one VM do; `false` gives every VM its own.
   * @example
   * ```ts
   * const host = new WasmPluginHost({ vmSnapshot: false }) // every VM runs its own start-up
   * ```
   */
  vmSnapshot?: boolean
}

/** Every limit of {@link HostOptions.limits}, as a host runs with them (see {@link WasmPluginHost.limits}). */
export type HostLimits = Readonly<Required<NonNullable<HostOptions['limits']>>>

/** Where a plugin binary comes from: a file path, a `file:`/`http(s):` URL, or the bytes. */
export type WasmSource = string | URL | Uint8Array

/** Options of {@link WasmPluginHost.load}. */
export interface PluginOptions {
  /** The plugin binary. */
  wasm: WasmSource
  /** Plugin name (property `plugin_name`); defaults to the file name without `.wasm`. */
  name?: string
  /**
   * Plugin configuration (buffer 7): a string or bytes as given, an object serialized to JSON
   * (as Higress serializes `defaultConfig`). Default: empty.
   */
  config?: string | Uint8Array | Record<string, unknown> | unknown[]
  /** VM configuration (buffer 6). */
  vmConfig?: string | Uint8Array | Record<string, unknown>
  /** Ordering phase (default `UNSPECIFIED`): Istio/Higress names or the MSE console's (`authentication` …). */
  phase?: PluginPhaseName
  /** Priority in the phase, larger first (default 0). */
  priority?: number
  /** Trap policy (default `FAIL_CLOSE`). */
  failStrategy?: FailStrategy
  /** Root id (property `plugin_root_id`, default `''`). */
  rootId?: string
  /** VM id (property `plugin_vm_id`, default `''`). */
  vmId?: string
  /** Environment variables the plugin sees through WASI (never the process environment). */
  env?: Record<string, string>
  /** WASI arguments (default none). */
  args?: string[]
  /**
   * Properties by dotted path (`{ 'node.id': 'gw-1' }`), or a `Map` / entry list whose keys may be
   * segment arrays, for keys with dots: `new Map([[['metadata', 'filter_metadata', 'envoy.lb', 'canary'], 'true']])`.
   */
  properties?: PropertiesInit
  /** Lowest log level passed on for this plugin (default: the logger's). */
  logLevel?: LogLevelName
  /** WASI provider for this plugin (default: the host's). */
  wasi?: WasiOption
  /**
   * Expected SHA-256 of the binary (hex, as Istio/Higress `WasmPlugin` `spec.sha256`): a different
   * binary is refused with `PWH_ERR_PLUGIN_CHECKSUM` before anything runs.
   */
  sha256?: string
  /** Refuse the plugin when it imports hostcalls this host answers `Unimplemented` (default: the host's `strictHostcalls`). */
  strictHostcalls?: boolean
  /** Higress `rebuildAfterRequests`: start a new VM after this many requests; running ones finish on the old VM (default 0: never). */
  rebuildAfterRequests?: number
  /** Higress `rebuildMaxMemoryBytes`: start a new VM once the VM's memory is larger (default 0: never). */
  rebuildMaxMemoryBytes?: number
}

/** A validated, compiled binary. */
export interface CompiledPlugin {
  /** The compiled module. */
  module: WebAssembly.Module
  /** ABI version from the marker export. */
  abi: AbiVersion
  /** Where it came from. */
  source: string
  /** Size in bytes. */
  size: number
  /** SHA-256 of the bytes, lower-case hex. */
  sha256: string
  /** How the CPU limit is enforced: fuel added at load, the watchdog fallback, or off. */
  cpuLimit: CpuLimitMode
  /** @internal the module's imports with their signatures, when decoded. */
  imports?: ImportEntry[] | undefined
  /** @internal start-up snapshots of the module, or why it cannot have any. */
  snapshot?: SnapshotPlan | string
}

/**
 * Loads proxy-wasm plugins: the same `.wasm` a user uploads to Envoy, Higress/MSE or Kong.
 *
 * @example
 * ```ts
 * const host = new WasmPluginHost({ logger: createConsoleLogger('debug') })
 * const plugin = await host.load({ wasm: './main.wasm', config: { mockEnable: true } })
 * const pipeline = new PluginPipeline(host, { plugins: [plugin] })
 * ```
 */
export class WasmPluginHost {
  /** The logger plugins write to. */
  readonly logger: PluginLogger
  /** The clock plugins read and set timers on. */
  readonly clock: Clock
  readonly #options: HostOptions
  readonly #compiled: Map<string, Promise<CompiledPlugin>>
  readonly #wasi = new Map<string, Promise<WasiSetup>>()
  readonly #plugins = new Set<Plugin>()
  readonly #services: HostServices
  readonly #upstreams: Upstreams
  #ownDispatcher: ClosableHttpDispatcher | undefined
  readonly #cpuLimitMs: number
  readonly #maxMemoryBytes: number

  /**
   * @param options - logger, WASI provider, limits, upstreams and resolvers, Redis targets, shared
   * state stores, foreign functions, failure callback
   * @throws `PWH_ERR_CONFIG_INVALID` when an upstream is not an http(s) URL, a resolver is not one, a
   * limit is not a number of 0 or more, `sharedData` / `sharedQueues` is neither `'memory'` nor a
   * store, or `logger` is neither pino-, console- nor `{ log }`-shaped; `PWH_ERR_REDIS_TARGET` when a
   * `redis` target cannot be read
   */
  constructor(options: HostOptions = {}) {
    this.#options = options
    this.#cpuLimitMs = limit(options.limits?.callbackTimeoutMs, DEFAULT_CALLBACK_TIMEOUT_MS, 'limits.callbackTimeoutMs')
    this.#maxMemoryBytes = limit(options.limits?.maxMemoryBytes, DEFAULT_MAX_MEMORY_BYTES, 'limits.maxMemoryBytes')
    this.#compiled = options.compileCache ?? new Map()
    this.logger = toPluginLogger(options.logger)
    this.clock = options.clock ?? systemClock
    const clock = this.clock
    this.#upstreams = new Upstreams({
      ...(options.upstreams ? { upstreams: options.upstreams } : {}),
      ...(options.resolvers ? { resolvers: options.resolvers } : {}),
      now: () => clock.now(),
      log: (level, message) => this.logger.log(level, message, { plugin: 'upstream', contextId: 0, origin: 'host' }),
    })
    for (const k of ['sharedData', 'sharedQueues'] as const) {
      const v = options[k]
      if (v !== undefined && v !== 'memory' && (typeof v !== 'object' || v === null)) {
        throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${k} must be 'memory' or a store (createRedisSharedState(...).${k}), got ${JSON.stringify(v)}`)
      }
    }
    const warn = (message: string) => this.logger.log('warn', message, { plugin: 'metrics', contextId: 0, origin: 'host' })
    this.#services = {
      upstreams: this.#upstreams,
      sharedData: typeof options.sharedData === 'object' ? options.sharedData : createMemorySharedData(),
      sharedQueues: typeof options.sharedQueues === 'object' ? options.sharedQueues : createMemorySharedQueues(),
      metrics: options.metricsRegistry ? PluginMetrics.of(options.metricsRegistry, { warn }) : new PluginMetrics({ warn }),
      limits: resolveStateLimits(options.limits, limit),
    }
    if (options.httpDispatcher) this.#services.http = options.httpDispatcher
    else this.#services.http = this.#ownDispatcher = createHttpDispatcher(this.#upstreams)
    if (options.redisBridge) this.#services.redis = options.redisBridge
    else {
      // Cluster names resolve through `redis.clusters`, then the upstream resolvers, then `redis.fallback`.
      const upstreams = this.#upstreams
      this.#services.redis = createRedisBridge(options.redis ?? {}, { logger: this.logger, resolve: (name) => upstreams.lookup(name) })
    }
  }

  /**
   * The prom-client registry with every metric the plugins define, under the names Envoy's
   * Prometheus endpoint shows (`wasmcustom.<name>` → `<name>`, see `docs/state-and-metrics.md`).
   * prom-client is loaded on first use.
   * @example
   * ```ts
   * app.get('/metrics', async (_req, res) => {
   *   res.type(host.metricsRegistry.contentType).send(await host.metricsRegistry.metrics())
   * })
   * ```
   */
  get metricsRegistry(): Registry {
    return this.#services.metrics!.registry
  }

  /**
   * The limits this host runs with, defaults filled in (0: a limit turned off).
   * @example
   * ```ts
   * new WasmPluginHost({ limits: { maxMetrics: 500 } }).limits.callbackTimeoutMs // 1000
   * ```
   */
  get limits(): HostLimits {
    const l = this.#options.limits ?? {}
    const state = this.#services.limits!
    return {
      maxWasmBytes: l.maxWasmBytes ?? DEFAULT_MAX_WASM_BYTES,
      bufferLimitBytes: l.bufferLimitBytes ?? DEFAULT_BUFFER_LIMIT_BYTES,
      callbackTimeoutMs: this.#cpuLimitMs,
      maxMemoryBytes: this.#maxMemoryBytes,
      maxCalloutResponseBytes: l.maxCalloutResponseBytes ?? DEFAULT_MAX_CALLOUT_RESPONSE_BYTES,
      ...(Object.fromEntries(Object.keys(STATE_LIMIT_DEFAULTS).map((k) => [k, state[k as keyof StateLimitOptions]])) as Required<StateLimitOptions>),
    }
  }

  /** @internal the plugins' stats by the names they defined, exported or not (the test kit reads them). */
  get pluginMetrics(): PluginMetrics {
    return this.#services.metrics!
  }

  /**
   * The names this host resolves (`upstreams` and `resolvers`): the gateway and the Redis bridge
   * resolve cluster names here too.
   */
  get upstreams(): Upstreams {
    return this.#upstreams
  }

  /** Plugins loaded and not closed. */
  get plugins(): Plugin[] {
    return [...this.#plugins].filter((p) => !p.closed)
  }

  /**
   * Reads, validates and compiles a binary; the same bytes compile once per host.
   * @param source - path, URL or bytes
   * @returns the compiled module and its ABI version
   * @throws `PWH_ERR_PLUGIN_READ`, `PWH_ERR_PLUGIN_TOO_LARGE`, `PWH_ERR_PLUGIN_INVALID_WASM`,
   * `PWH_ERR_PLUGIN_NO_ABI_MARKER`, `PWH_ERR_PLUGIN_MISSING_EXPORT`, `PWH_ERR_PLUGIN_MEMORY_LIMIT`
   */
  async compile(source: WasmSource): Promise<CompiledPlugin> {
    const { bytes, name } = await readSource(source)
    const max = this.#options.limits?.maxWasmBytes ?? DEFAULT_MAX_WASM_BYTES
    if (bytes.byteLength > max) {
      throw new ProxyWasmHostError('PWH_ERR_PLUGIN_TOO_LARGE', `${name}: ${bytes.byteLength} bytes is over the limit of ${max} bytes (limits.maxWasmBytes)`)
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex')
    // The limits decide what the binary is rewritten into: hosts sharing a cache may differ.
    const key = `${sha256}|cpu:${this.#cpuLimitMs > 0}|memory:${this.#maxMemoryBytes}`
    let p = this.#compiled.get(key)
    if (!p) {
      const warn = (message: string) => this.logger.log('warn', message, { plugin: defaultName(name), contextId: 0, origin: 'host' })
      p = compileChecked(bytes, name, sha256, { cpuLimitMs: this.#cpuLimitMs, maxMemoryBytes: this.#maxMemoryBytes }, warn)
      this.#compiled.set(key, p)
      p.catch(() => this.#compiled.delete(key))
    }
    const c = await p
    return c.source === name ? c : { ...c, source: name }
  }

  /**
   * Loads and starts a plugin: compile (once), instantiate, run start-up, create the root context,
   * `proxy_on_vm_start` with the VM configuration and `proxy_on_configure` with the plugin configuration.
   * @param options - binary, name, configuration, ordering, fail strategy
   * @returns the started {@link Plugin}
   * @throws every code of {@link WasmPluginHost.compile}, plus `PWH_ERR_PLUGIN_CHECKSUM`,
   * `PWH_ERR_PLUGIN_START_FAILED` (also when start-up runs past the CPU limit: the cause has
   * `PWH_ERR_PLUGIN_CPU_LIMIT`), `PWH_ERR_PLUGIN_CONFIGURE_FAILED`, `PWH_ERR_PLUGIN_UNIMPLEMENTED`
   * (with `strictHostcalls`), `PWH_ERR_CONFIG_INVALID`
   * @example
   * ```ts
   * const auth = await host.load({ name: 'auth', wasm: './auth.wasm', config: { key: 'x' }, phase: 'AUTHN', priority: 100 })
   * ```
   */
  async load(options: PluginOptions): Promise<Plugin> {
    if (!options || options.wasm === undefined) {
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', 'load() needs { wasm: path | URL | Uint8Array }')
    }
    const compiled = await this.compile(options.wasm)
    if (options.sha256 !== undefined) {
      const want = String(options.sha256).trim().toLowerCase()
      if (want !== compiled.sha256) {
        throw new ProxyWasmHostError('PWH_ERR_PLUGIN_CHECKSUM', `${compiled.source}: SHA-256 is ${compiled.sha256}, the configuration expects ${want}`)
      }
    }
    const phase = normalizePhase(options.phase, compiled.source)
    const failStrategy = options.failStrategy ?? 'FAIL_CLOSE'
    if (!['FAIL_CLOSE', 'FAIL_OPEN', 'FAIL_RELOAD'].includes(failStrategy)) {
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${compiled.source}: failStrategy must be FAIL_CLOSE, FAIL_OPEN or FAIL_RELOAD, got ${JSON.stringify(failStrategy)}`)
    }
    if (options.priority !== undefined && !Number.isFinite(options.priority)) {
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${compiled.source}: priority must be a number, got ${JSON.stringify(options.priority)}`)
    }
    for (const k of ['rebuildAfterRequests', 'rebuildMaxMemoryBytes'] as const) {
      const v = options[k]
      if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
        throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${compiled.source}: ${k} must be a number of 0 or more, got ${JSON.stringify(v)}`)
      }
    }
    const unimplemented = unimplementedImports(WebAssembly.Module.imports(compiled.module))
    if (unimplemented.length && (options.strictHostcalls ?? this.#options.strictHostcalls)) {
      throw new ProxyWasmHostError('PWH_ERR_PLUGIN_UNIMPLEMENTED',
        `${compiled.source}: imports hostcalls this host answers Unimplemented: ${unimplemented.join(', ')} (strictHostcalls is on; turn it off to run the plugin without them)`)
    }
    const wasiOption = options.wasi ?? this.#options.wasi
    const env = options.env ?? {}
    const args = options.args ?? []
    const wasiKey = `${typeof wasiOption === 'object' ? 'custom' : (wasiOption ?? 'sandbox')}|${JSON.stringify(env)}|${JSON.stringify(args)}`
    let wasi = typeof wasiOption === 'object' ? undefined : this.#wasi.get(wasiKey)
    if (!wasi) {
      wasi = setupWasi(wasiOption, env, args)
      if (typeof wasiOption !== 'object') this.#wasi.set(wasiKey, wasi)
    }
    const setup = await wasi
    const snapshot = this.#options.vmSnapshot !== false && typeof compiled.snapshot === 'object' && setup.snapshotKey !== undefined
      ? { plan: compiled.snapshot, key: snapshotKey(this.clock, setup.snapshotKey) }
      : undefined
    const plugin = new Plugin(
      {
        name: options.name ?? defaultName(compiled.source),
        phase,
        priority: options.priority ?? 0,
        failStrategy,
        rootId: options.rootId ?? '',
        vmId: options.vmId ?? '',
        config: toBytes(options.config, 'config', compiled.source),
        vmConfig: toBytes(options.vmConfig, 'vmConfig', compiled.source),
        properties: propertyTable(options.properties, compiled.source),
        logLevel: options.logLevel,
        source: compiled.source,
        ...(options.rebuildAfterRequests ? { rebuildAfterRequests: options.rebuildAfterRequests } : {}),
        ...(options.rebuildMaxMemoryBytes ? { rebuildMaxMemoryBytes: options.rebuildMaxMemoryBytes } : {}),
      },
      {
        module: compiled.module,
        abi: compiled.abi,
        logger: this.logger,
        clock: this.clock,
        services: this.#services,
        wasi: setup,
        foreignFunctions: this.#options.foreignFunctions ?? {},
        bufferLimit: this.#options.limits?.bufferLimitBytes ?? DEFAULT_BUFFER_LIMIT_BYTES,
        maxCalloutResponseBytes: this.#options.limits?.maxCalloutResponseBytes ?? DEFAULT_MAX_CALLOUT_RESPONSE_BYTES,
        onFailure: (err) => this.#options.onPluginFailure?.(err),
        cpuLimitMs: compiled.cpuLimit === 'off' ? 0 : this.#cpuLimitMs,
        cpuLimitMode: compiled.cpuLimit,
        imports: compiled.imports,
        snapshot,
      },
    )
    if (unimplemented.length) {
      // A silent Unimplemented makes security plugins fail open: say so at load.
      plugin.emitLog('warn', `imports hostcalls this host answers Unimplemented: ${unimplemented.map((n) => `${n} (${consequenceOf(n)})`).join('; ')}; strictHostcalls: true refuses such plugins`, 0, 'host')
    }
    rememberModule(plugin, compiled.module)
    plugin.start()
    this.#plugins.add(plugin)
    return plugin
  }

  /**
   * Shuts every loaded plugin down (`proxy_on_done` / `proxy_on_delete` on each root, timers
   * stopped, pending callouts cancelled), then closes the callout connections and the resolvers.
   * @returns a promise that settles once connections and resolver watches are closed (plugins are shut down at once)
   */
  close(): Promise<void> {
    for (const p of this.#plugins) p.close()
    this.#plugins.clear()
    const own = this.#ownDispatcher
    this.#ownDispatcher = undefined
    return Promise.all([own?.close(), this.#upstreams.close()]).then(() => undefined, () => undefined)
  }
}

/**
 * Phase names {@link WasmPluginHost.load} accepts: Istio/Higress `WasmPlugin.phase`
 * (`AUTHN`, `AUTHZ`, `STATS`, `UNSPECIFIED_PHASE`) and the stage names of the MSE console
 * (`authentication`, `authorization`, `statistics`, `default`), in upper or lower case.
 * @example
 * ```ts
 * const phase: PluginPhaseName = 'authentication' // runs as AUTHN
 * ```
 */
export type PluginPhaseName =
  | PluginPhase
  | Lowercase<PluginPhase>
  | 'UNSPECIFIED_PHASE'
  | 'unspecified_phase'
  | 'authentication'
  | 'authorization'
  | 'statistics'
  | 'default'
  | 'AUTHENTICATION'
  | 'AUTHORIZATION'
  | 'STATISTICS'
  | 'DEFAULT'

const PHASES: Record<string, PluginPhase> = {
  AUTHN: 'AUTHN',
  AUTHZ: 'AUTHZ',
  STATS: 'STATS',
  UNSPECIFIED: 'UNSPECIFIED',
  UNSPECIFIED_PHASE: 'UNSPECIFIED',
  // MSE console stage names.
  AUTHENTICATION: 'AUTHN',
  AUTHORIZATION: 'AUTHZ',
  STATISTICS: 'STATS',
  DEFAULT: 'UNSPECIFIED',
}

/**
 * Normalizes a phase name: Istio/Higress names and the MSE stage names (`authentication`,
 * `authorization`, `statistics`, `default`), any case.
 * @internal
 */
export function normalizePhase(phase: string | undefined, where: string): PluginPhase {
  if (phase === undefined) return 'UNSPECIFIED'
  const p = PHASES[String(phase).toUpperCase()]
  if (!p) {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${where}: unknown phase ${JSON.stringify(phase)}; use AUTHN, AUTHZ, STATS or UNSPECIFIED (or authentication, authorization, statistics, default)`)
  }
  return p
}

function toBytes(v: PluginOptions['config'], what: string, where: string): Buffer {
  if (v === undefined || v === null) return Buffer.alloc(0)
  if (typeof v === 'string') return Buffer.from(v, 'utf8')
  if (v instanceof Uint8Array) return Buffer.from(v)
  if (typeof v === 'object') return Buffer.from(JSON.stringify(v), 'utf8')
  throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${where}: ${what} must be a string, bytes or a JSON object, got ${typeof v}`)
}

function defaultName(source: string): string {
  const base = source.split(/[\\/]/).pop() ?? source
  return base.replace(/\.wasm$/, '') || 'plugin'
}

async function readSource(source: WasmSource): Promise<{ bytes: Uint8Array; name: string }> {
  if (source instanceof Uint8Array) return { bytes: source, name: '<bytes>' }
  const url = source instanceof URL ? source : /^(file|https?|data):/.test(source) ? new URL(source) : undefined
  const name = url ? url.href : String(source)
  try {
    if (!url || url.protocol === 'file:') {
      return { bytes: new Uint8Array(await readFile(url ? fileURLToPath(url) : source as string)), name: url ? fileURLToPath(url) : name }
    }
    const res = await fetch(url)
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    return { bytes: new Uint8Array(await res.arrayBuffer()), name }
  } catch (err) {
    throw new ProxyWasmHostError('PWH_ERR_PLUGIN_READ', `${name}: cannot read the plugin binary (${(err as Error).message})`, { cause: err })
  }
}

function limit(v: number | undefined, fallback: number, what: string): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${what} must be a number of 0 or more (0 turns it off), got ${JSON.stringify(v)}`)
  }
  return v
}

async function compileChecked(
  input: Uint8Array,
  name: string,
  sha256: string,
  limits: { cpuLimitMs: number; maxMemoryBytes: number },
  warn: (message: string) => void,
): Promise<CompiledPlugin> {
  const bytes = input as Uint8Array<ArrayBuffer>
  if (!WebAssembly.validate(bytes)) {
    let reason = 'not a WebAssembly binary'
    try {
      await WebAssembly.compile(bytes)
    } catch (err) {
      reason = (err as Error).message.replace(/^WebAssembly\.compile\(\): /, '')
    }
    throw new ProxyWasmHostError('PWH_ERR_PLUGIN_INVALID_WASM', `${name}: invalid WebAssembly module (${reason})`)
  }
  let instrumented
  try {
    instrumented = instrument(bytes, sha256, limits.cpuLimitMs, limits.maxMemoryBytes)
  } catch (err) {
    if (err instanceof RewriteError && err.refusal) {
      throw new ProxyWasmHostError(err.refusal === 'memory-limit' ? 'PWH_ERR_PLUGIN_MEMORY_LIMIT' : 'PWH_ERR_PLUGIN_UNSUPPORTED', `${name}: ${err.message}`)
    }
    throw err
  }
  if (instrumented.note) warn(`${name}: ${instrumented.note}`)
  // Same module, fewer data segments: a second VM starts faster (wasm-rewrite/data-segments.ts).
  const module = await WebAssembly.compile(coalesceDataSegments(instrumented.bytes) as Uint8Array<ArrayBuffer>)
  const exports = WebAssembly.Module.exports(module)
  // First marker wins (Envoy scans the export section in order).
  const marker = exports.find((e) => e.kind === 'function' && e.name in ABI_MARKERS)
  if (!marker) {
    throw new ProxyWasmHostError('PWH_ERR_PLUGIN_NO_ABI_MARKER',
      `${name}: no proxy-wasm ABI marker export (one of ${Object.keys(ABI_MARKERS).join(', ')}); is this a proxy-wasm plugin built with a proxy-wasm SDK?`)
  }
  const has = (n: string, kind = 'function') => exports.some((e) => e.name === n && e.kind === kind)
  if (!has('memory', 'memory')) {
    throw new ProxyWasmHostError('PWH_ERR_PLUGIN_MISSING_EXPORT', `${name}: the module does not export its memory ("memory")`)
  }
  if (!has('proxy_on_memory_allocate') && !has('malloc')) {
    throw new ProxyWasmHostError('PWH_ERR_PLUGIN_MISSING_EXPORT', `${name}: the module exports neither proxy_on_memory_allocate nor malloc, so the host cannot hand it data`)
  }
  return {
    module,
    abi: ABI_MARKERS[marker.name as keyof typeof ABI_MARKERS],
    source: name,
    size: bytes.byteLength,
    sha256,
    cpuLimit: instrumented.cpu,
    imports: instrumented.imports,
    snapshot: typeof instrumented.snapshot === 'string' ? instrumented.snapshot : snapshotPlan(instrumented.snapshot),
  }
}
