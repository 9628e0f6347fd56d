/**
 * `PluginPipeline`: the ordered plugins of a gateway, and the exchanges that run requests through them.
 * @module
 */
import { ProxyWasmHostError } from '../errors.js'
import type { HttpState, StreamInfo } from '../host/context.js'
import { HeaderMap, type HeadersInit } from '../host/header-map.js'
import type { WasmPluginHost } from '../host/host.js'
import { Plugin, type PluginPhase } from '../host/plugin.js'
import { propertyTable, type PropertiesInit, type TlsInfo } from '../host/properties.js'
import { loadPipelineConfig, type ConfigLoadOptions } from './config.js'
import { Exchange, type ExchangeSetup, type ExchangeSink } from './exchange.js'

/** Phase order of Istio/Higress/MSE: authentication, authorization, statistics, then the rest. */
export const PHASE_ORDER: readonly PluginPhase[] = ['AUTHN', 'AUTHZ', 'STATS', 'UNSPECIFIED']

/** A Kong filter chain: filters in order, each enabled or not. */
export interface FilterChain {
  /** Chain name (for messages and `plan()`). */
  name?: string
  /** Whether the chain runs (default true). */
  enabled?: boolean
  /** Filters in order; the same plugin may appear several times, each entry a plugin of its own. */
  filters: Array<{ plugin: Plugin; enabled?: boolean }>
}

/** Kong mode: a chain per service and per route; the service chain runs first. */
export interface KongChains {
  /** Chains by service name. */
  services?: Record<string, FilterChain>
  /** Chains by route name. */
  routes?: Record<string, FilterChain>
}

/** Options of {@link PluginPipeline}. */
export interface PipelineOptions {
  /** Plugins, ordered by phase and priority (Higress/Istio/MSE rules). */
  plugins?: Plugin[]
  /** Kong filter chains (declaration order, no phase sorting); used instead of `plugins` for matching requests. */
  chains?: KongChains
  /** `reverse` (Envoy, Higress, MSE; default) or `forward` (Kong) order for response callbacks. */
  responseOrder?: 'reverse' | 'forward'
  /** How long a paused stream may wait for `proxy_continue_stream` before a 504 (default 60 s). */
  pauseTimeoutMs?: number
  /** Treat header StopIteration as Envoy's `allow_on_headers_stop_iteration` for every ABI (default: only 0.2.100). */
  allowHeaderStopIteration?: boolean
}

/** What a request looks like to {@link PluginPipeline.exchange} and {@link PluginPipeline.plan}. */
export interface ExchangeRequest {
  /** `:method` (default `GET`). */
  method?: string
  /** `:path` with query (default `/`). */
  path?: string
  /** `:authority` (HTTP/1 `Host`); also taken from a `host` header. */
  authority?: string
  /** `:scheme` (default `http`). */
  scheme?: string
  /** Request headers (a `host` header becomes `:authority`). */
  headers?: HeadersInit
  /** Client address (`ip` or `ip:port`). */
  remoteAddress?: string
  /** Client port. */
  remotePort?: number
  /** Local address. */
  localAddress?: string
  /** Local port. */
  localPort?: number
  /** `HTTP/1.1` by default. */
  protocol?: string
  /** Route name: property `route_name`, Higress `_match_route_`, Kong route chain. */
  route?: string
  /** Service name: Kong service chain; and, when `cluster` is absent, property `cluster_name` as `outbound|<port>||<service>`. */
  service?: string
  /** Upstream cluster name (property `cluster_name`). */
  cluster?: string
  /** Properties for this request by dotted path, or a `Map` / entry list keyed by segment arrays. */
  properties?: PropertiesInit
  /** TLS facts of the connection (the adapters fill it from an https socket). */
  tls?: TlsInfo
}

/** Input of {@link PluginPipeline.plan}. */
export interface PlanQuery {
  /** Route name. */
  route?: string
  /** Service name. */
  service?: string
  /** Host (`:authority`). */
  host?: string
}

/**
 * Runs loaded plugins in gateway order, per request.
 *
 * @example
 * ```ts
 * const pipeline = new PluginPipeline(host, { plugins: [auth, stamp] })
 * pipeline.plan({ route: 'api' }).map((p) => p.name) // ['auth', 'stamp']
 * const ex = pipeline.exchange({ method: 'GET', path: '/', authority: 'example.com' })
 * ```
 */
export class PluginPipeline {
  readonly #host: WasmPluginHost
  readonly #plugins: Plugin[]
  readonly #options: PipelineOptions

  /**
   * @param host - the host the plugins were loaded by
   * @param options - plugins or Kong chains, response order, pause timeout
   * @throws `PWH_ERR_CONFIG_INVALID` when a plugin entry is not a loaded plugin
   */
  constructor(host: WasmPluginHost, options: PipelineOptions = {}) {
    this.#host = host
    this.#options = options
    const plugins = options.plugins ?? []
    for (const p of plugins) {
      if (!(p instanceof Plugin)) throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', 'PluginPipeline: plugins must be Plugin objects from host.load()')
    }
    this.#plugins = orderPlugins(plugins)
    if (!warmedUp) warmUp(host)
  }

  /**
   * Builds a pipeline from a declarative configuration: a pipeline file, Higress/Istio `WasmPlugin`
   * resources or a Kong `filter_chains` file (YAML or JSON), or the parsed object. Everything is
   * validated (JSON Schemas included) before the first plugin is loaded; see `docs/pipeline.md`.
   * @param host - the host that loads the plugins
   * @param source - a file path (relative paths inside it start from its directory), or an object
   * @param options - base directory for objects, Kong filters directory, schemas by plugin name,
   * response order and pause timeout overrides
   * @returns the pipeline, its plugins loaded and started
   * @throws `PWH_ERR_CONFIG_FILE`, `PWH_ERR_CONFIG_INVALID`, `PWH_ERR_CONFIG_SCHEMA`, and every code
   * of {@link WasmPluginHost.load} (e.g. `PWH_ERR_PLUGIN_READ`)
   * @example
   * ```ts
   * const pipeline = await PluginPipeline.fromConfig(host, 'gateway.yaml')
   * pipeline.plan({ route: 'api', host: 'example.com' }).map((p) => p.name)
   * ```
   */
  static async fromConfig(host: WasmPluginHost, source: string | object, options?: ConfigLoadOptions): Promise<PluginPipeline> {
    return new PluginPipeline(host, await loadPipelineConfig(host, source, options))
  }

  /** The host. */
  get host(): WasmPluginHost {
    return this.#host
  }

  /** Response order. */
  get responseOrder(): 'reverse' | 'forward' {
    return this.#options.responseOrder ?? 'reverse'
  }

  /**
   * The ordered, enabled plugins for a request (Kong's execution-plan endpoint, as an API):
   * Higress/Istio order by phase then priority, or the Kong service chain then route chain.
   * @param query - route, service and host of the request
   * @returns plugins in request order
   */
  plan(query: PlanQuery = {}): Plugin[] {
    const chains = this.#options.chains
    if (!chains) return [...this.#plugins]
    const out: Plugin[] = [...this.#plugins]
    const add = (chain: FilterChain | undefined) => {
      if (!chain || chain.enabled === false) return
      for (const f of chain.filters) if (f.enabled !== false) out.push(f.plugin)
    }
    if (query.service !== undefined) add(chains.services?.[query.service])
    if (query.route !== undefined) add(chains.routes?.[query.route])
    return out
  }

  /**
   * @internal Whether a request on `route` / `service` runs no plugin at all (the adapters then
   * hand the request on untouched).
   */
  runsNoPlugin(route?: string, service?: string): boolean {
    if (!this.#options.chains) return this.#plugins.length === 0
    return this.plan({ route, service }).length === 0
  }

  /**
   * Starts one request through the plugins planned for it.
   * @param request - method, path, authority, headers, client address, route/service
   * @param options - `sink` receives released data as it leaves the chain
   * @returns the {@link Exchange}
   * @throws `PWH_ERR_CONFIG_INVALID` when a property path in `request.properties` is malformed
   */
  exchange(request: ExchangeRequest = {}, options: { sink?: ExchangeSink } = {}): Exchange {
    return this.exchangeWith(requestHeaderMap(request), request, options.sink)
  }

  /**
   * @internal {@link PluginPipeline.exchange} with the request header map already built
   * (pseudo-headers first, as {@link requestHeaderMap} builds it); `request.headers` is ignored.
   */
  exchangeWith(headers: HeaderMap, request: ExchangeRequest, sink?: ExchangeSink, connectionId?: number): Exchange {
    const info: StreamInfo = {
      protocol: request.protocol ?? 'HTTP/1.1',
    }
    if (connectionId !== undefined) info.connectionId = connectionId
    if (request.remoteAddress !== undefined) info.remoteAddress = request.remoteAddress
    if (request.remotePort !== undefined) info.remotePort = request.remotePort
    if (request.localAddress !== undefined) info.localAddress = request.localAddress
    if (request.localPort !== undefined) info.localPort = request.localPort
    if (request.route !== undefined) info.route = request.route
    const cluster = request.cluster ?? (request.service !== undefined ? serviceCluster(request.service) : undefined)
    if (cluster !== undefined) info.cluster = cluster
    if (request.properties) {
      propertyTable(request.properties, 'exchange() properties') // checked here, never inside a hostcall
      info.properties = request.properties
    }
    if (request.tls) info.tls = request.tls
    // Without Kong chains every request runs the same plugins: no copy per request.
    const plugins = this.#options.chains ? this.plan({ route: request.route, service: request.service, host: headers.get(':authority') }) : this.#plugins
    const bufferLimit = plugins[0]?.bufferLimit ?? 32 * 1024 * 1024
    const http = Plugin.httpState(info, headers, bufferLimit, this.#host.clock)
    return new Exchange(new Setup(plugins, this.responseOrder, http, this.#options.pauseTimeoutMs ?? 60_000, this.#options.allowHeaderStopIteration ?? false, sink))
  }

  /** Closes every plugin of the pipeline. */
  close(): void {
    const all = new Set(this.#plugins)
    for (const kind of ['services', 'routes'] as const) {
      for (const c of Object.values(this.#options.chains?.[kind] ?? {})) for (const f of c.filters) all.add(f.plugin)
    }
    for (const p of all) p.close()
  }
}

let warmedUp = false

/**
 * Runs the host's own request path twice with no plugin, once per process, when the first
 * pipeline is made: the first real request then finds that code compiled instead of paying for
 * it (docs/adr/0023-vm-start.md). No plugin runs and nothing is observable.
 */
function warmUp(host: WasmPluginHost): void {
  warmedUp = true
  const headers = [['user-agent', 'warm-up'], ['accept', '*/*']] as Array<[string, string]>
  const empty = new PluginPipeline(host, { plugins: [] })
  for (let i = 0; i < 2; i++) {
    const r: ExchangeRequest = { method: 'GET', path: '/', authority: 'localhost', headers }
    // Connection id 0: the ids real requests get stay as they were.
    const ex = empty.exchangeWith(requestHeaderMap(r), r, undefined, 0)
    ex.direct.requestHeaders(true)
    ex.direct.responseHeaders(200, [['content-length', '0']], true)
    ex.done()
  }
}

/** The {@link ExchangeSetup} of one exchange (a class: per-request objects are never literals, see exchange.ts). */
class Setup implements ExchangeSetup {
  constructor(
    readonly plugins: Plugin[],
    readonly responseOrder: 'reverse' | 'forward',
    readonly http: HttpState,
    readonly pauseTimeoutMs: number,
    readonly allowHeaderStopIteration: boolean,
    readonly sink: ExchangeSink | undefined,
  ) {}
}

/**
 * Sorts plugins by phase (AUTHN → AUTHZ → STATS → UNSPECIFIED), then larger priority first; ties
 * keep declaration order.
 * @param plugins - plugins in declaration order
 * @returns a new, sorted array
 */
export function orderPlugins(plugins: readonly Plugin[]): Plugin[] {
  return plugins
    .map((p, i) => ({ p, i }))
    .sort((a, b) => PHASE_ORDER.indexOf(a.p.phase) - PHASE_ORDER.indexOf(b.p.phase) || b.p.priority - a.p.priority || a.i - b.i)
    .map((x) => x.p)
}

/** `outbound|<port>||<service>` for a bare service name (`name` or `name:port`). */
function serviceCluster(service: string): string {
  if (service.includes('|')) return service
  const m = /^(.*):(\d+)$/.exec(service)
  return m ? `outbound|${m[2]}||${m[1]}` : `outbound|80||${service}`
}

/** Builds the request header map: pseudo-headers first (§6.3), then regular headers, `host` → `:authority`. */
export function requestHeaderMap(r: ExchangeRequest): HeaderMap {
  const given = r.headers === undefined ? undefined : r.headers instanceof HeaderMap ? r.headers : new HeaderMap(r.headers)
  const authority = r.authority ?? given?.get(':authority') ?? given?.get('host') ?? ''
  const kv = [':method', r.method ?? given?.get(':method') ?? 'GET', ':scheme', r.scheme ?? given?.get(':scheme') ?? 'http', ':authority', authority, ':path', r.path ?? given?.get(':path') ?? '/']
  if (given) {
    const g = given.kv
    for (let i = 0; i < g.length; i += 2) {
      const k = g[i]!
      if (k === 'host' || k.charCodeAt(0) === 58) continue
      kv.push(k, g[i + 1]!)
    }
  }
  return HeaderMap.fromFlat(kv)
}
