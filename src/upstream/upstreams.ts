/**
 * `Upstreams`: what an upstream name means. An explicit map (exact names to URLs) first, then the
 * resolvers in order; each claimed name gets one balanced endpoint list. Not HTTP-specific: the
 * HTTP dispatcher, the gateway and the Redis bridge all resolve names here.
 * @module
 */
import { ProxyWasmHostError } from '../errors.js'
import { Balancer, endpointAddress } from './balancer.js'
import { parseClusterName } from './cluster-name.js'
import type { Endpoint, EndpointSource, UpstreamResolver, UpstreamTarget } from './types.js'

/**
 * Explicit upstreams: the exact name a plugin uses (an Envoy cluster `outbound|80||auth.static`, a
 * Higress service `auth.static`, a Kong `host:port`) to one URL or several (balanced round-robin).
 * @example
 * ```ts
 * const upstreams: UpstreamMap = { 'outbound|80||auth.static': 'http://127.0.0.1:8081', 'billing:80': ['http://10.0.0.1', 'http://10.0.0.2'] }
 * ```
 */
export type UpstreamMap = Readonly<Record<string, string | readonly string[]>>

/** Options of {@link Upstreams}. */
export interface UpstreamsOptions {
  /** Explicit names → URLs, tried before any resolver. */
  upstreams?: UpstreamMap
  /** Resolvers, tried in order after the explicit map. */
  resolvers?: readonly UpstreamResolver[]
  /** How long an endpoint that refused a connection is skipped, in ms (default 10 000). */
  ejectMs?: number
  /** Time source for ejections (default `Date.now`; the host passes its clock). */
  now?: () => number
  /** Where resolution failures are reported (rate-limited per name). */
  log?: (level: 'debug' | 'warn' | 'error', message: string) => void
}

/** What {@link UpstreamService.pickNow} answers when the registry must be asked. @internal */
export const NOT_FRESH: unique symbol = Symbol('not fresh')

/** Default time an endpoint that refused a connection is skipped. */
export const DEFAULT_EJECT_MS = 10_000
const MAX_CACHED_NAMES = 10_000

/**
 * One resolved upstream name: its endpoint list, balanced round-robin.
 * @example
 * ```ts
 * const svc = upstreams.lookup('outbound|6379||redis.dns')
 * const endpoint = await svc?.pick() // { host: '10.0.0.9', port: 6379 }
 * ```
 */
export class UpstreamService {
  readonly #source: EndpointSource
  readonly #balancer: Balancer
  readonly #log: UpstreamsOptions['log']
  #lastError = ''
  #lastErrorAt = -Infinity

  /** @internal use {@link Upstreams.lookup}. */
  constructor(
    /** Resolver kind that claimed the name (`explicit`, `static`, `dns`, `k8s`, `nacos` …). */
    readonly kind: string,
    /** The endpoint source key. */
    readonly key: string,
    source: EndpointSource,
    balancer: Balancer,
    log: UpstreamsOptions['log'],
  ) {
    this.#source = source
    this.#balancer = balancer
    this.#log = log
  }

  /**
   * The current endpoints (resolved or from the resolver's cache).
   * @param signal - aborted when the caller gives up
   * @returns every endpoint; empty when the registry lists none
   * @throws what the resolver threw (registry unreachable, access denied …)
   */
  async endpoints(signal?: AbortSignal): Promise<readonly Endpoint[]> {
    try {
      const list = await this.#source.endpoints(signal)
      this.#balancer.update(list)
      return list
    } catch (err) {
      const msg = (err as Error)?.message ?? String(err)
      const now = this.#balancer.now()
      if (msg !== this.#lastError || now - this.#lastErrorAt > 30_000) {
        this.#lastError = msg
        this.#lastErrorAt = now
        this.#log?.('warn', `upstream ${this.key}: ${msg}`)
      }
      throw err
    }
  }

  /** The endpoints last resolved, without asking the registry (`undefined` before the first answer). */
  current(): readonly Endpoint[] | undefined {
    return this.#source.current?.()
  }

  /**
   * The next endpoint, round-robin by weight, skipping endpoints that refused connections lately.
   * @param signal - aborted when the caller gives up
   * @returns an endpoint, or `undefined` when none takes traffic (Envoy's "no healthy upstream")
   * @throws when the registry could not be asked
   */
  async pick(signal?: AbortSignal): Promise<Endpoint | undefined> {
    await this.endpoints(signal)
    return this.#balancer.pick()
  }

  /**
   * {@link UpstreamService.pick} without a promise, when the source's list can be used now
   * ({@link EndpointSource.fresh}); {@link NOT_FRESH} when the registry must be asked first.
   * @internal
   */
  pickNow(): Endpoint | undefined | typeof NOT_FRESH {
    const list = this.#source.fresh?.()
    if (list === undefined) return NOT_FRESH
    this.#balancer.update(list)
    return this.#balancer.pick()
  }

  /** Skips `endpoint` for a while (it refused a connection); it comes back after `ejectMs`. */
  eject(endpoint: Endpoint): void {
    this.#balancer.eject(endpoint)
  }
}

/**
 * Resolves upstream names to endpoints: the explicit map first (exact name, then for an Envoy
 * cluster name its `fqdn:port` and `fqdn`), then each resolver in order. The first that claims a name
 * owns it. An unknown name is `undefined` at once, so the hostcall can answer `BadArgument`.
 *
 * @example
 * ```ts
 * const upstreams = new Upstreams({ upstreams: { 'auth.static': 'http://127.0.0.1:8081' }, resolvers: [dnsResolver()] })
 * const list = await upstreams.resolve('outbound|6379||redis.dns') // [{ host, port }] or undefined
 * ```
 */
export class Upstreams {
  #resolvers: UpstreamResolver[]
  readonly #services = new Map<string, UpstreamService>()
  readonly #byName = new Map<string, UpstreamService>()
  #last: { name: string; authority: string | undefined; svc: UpstreamService } | undefined
  readonly #ejectMs: number
  readonly #now: () => number
  readonly #log: UpstreamsOptions['log']

  /**
   * @param options - explicit map, resolvers, ejection time, clock, log
   * @throws `PWH_ERR_CONFIG_INVALID` when an explicit upstream is not an http(s) URL, or a resolver
   * has no `claim` function
   */
  constructor(options: UpstreamsOptions = {}) {
    this.#resolvers = []
    this.add(options)
    this.#ejectMs = options.ejectMs ?? DEFAULT_EJECT_MS
    this.#now = options.now ?? Date.now
    this.#log = options.log
  }

  /**
   * Adds names and resolvers (a pipeline file's `upstreams:` and `resolvers:` sections): the
   * explicit names go before every resolver, the resolvers after those already known.
   * @param options - `upstreams` and `resolvers` (other fields are ignored)
   * @throws `PWH_ERR_CONFIG_INVALID` as the constructor
   */
  add(options: Pick<UpstreamsOptions, 'upstreams' | 'resolvers'>): void {
    const added: UpstreamResolver[] = []
    for (const [i, r] of (options.resolvers ?? []).entries()) {
      if (!r || typeof r.claim !== 'function') {
        throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `resolvers[${i}] is not a resolver (an object with kind and claim(target)); use staticResolver(), dnsResolver(), kubernetesResolver() or nacosResolver()`)
      }
      added.push(r)
    }
    const explicit = options.upstreams && Object.keys(options.upstreams).length > 0 ? [explicitResolver(options.upstreams)] : []
    this.#resolvers = [...explicit, ...this.#resolvers, ...added]
    this.#byName.clear()
    this.#last = undefined
  }

  /**
   * The service a name stands for, decided synchronously.
   * @param name - the upstream name as the plugin gave it
   * @param hint - the callout's `:authority` (the DNS resolver may read a domain from it)
   * @returns the service, or `undefined` when nothing claims the name
   */
  lookup(name: string, hint: { authority?: string } = {}): UpstreamService | undefined {
    return this.lookupFor(name, hint.authority)
  }

  /** {@link Upstreams.lookup} with the authority as an argument; the last answer is kept. @internal */
  lookupFor(name: string, authority: string | undefined): UpstreamService | undefined {
    const last = this.#last
    if (last !== undefined && last.name === name && last.authority === authority) return last.svc
    const svc = this.#lookup(name, authority)
    if (svc) this.#last = { name, authority, svc }
    return svc
  }

  #lookup(name: string, authority: string | undefined): UpstreamService | undefined {
    const hint = { authority }
    const cacheKey = hint.authority === undefined ? name : `${name}\0${hint.authority}`
    const hit = this.#byName.get(cacheKey)
    if (hit) return hit
    const target: UpstreamTarget = { name, cluster: parseClusterName(name) }
    if (hint.authority !== undefined) target.authority = hint.authority
    for (const r of this.#resolvers) {
      const source = r.claim(target)
      if (!source) continue
      const key = `${r.kind}:${source.key}`
      let svc = this.#services.get(key)
      if (!svc) {
        svc = new UpstreamService(r.kind, key, source, new Balancer(this.#ejectMs, this.#now), this.#log)
        this.#services.set(key, svc)
      }
      if (this.#byName.size >= MAX_CACHED_NAMES) this.#byName.clear()
      this.#byName.set(cacheKey, svc)
      return svc
    }
    return undefined
  }

  /**
   * Resolves a name to its endpoints, for any protocol (the Redis bridge resolves
   * `outbound|6379||redis.dns` this way).
   * @param name - the upstream name
   * @param signal - aborted when the caller gives up
   * @returns the endpoints, or `undefined` at once when nothing claims the name
   */
  resolve(name: string, signal?: AbortSignal): Promise<readonly Endpoint[]> | undefined {
    return this.lookup(name)?.endpoints(signal)
  }

  /**
   * `ip:port` of every endpoint of `cluster` as last resolved, synchronously (Higress
   * `proxy_get_upstream_hosts`); starts a resolution in the background when there is none yet.
   * @returns the addresses, or `undefined` when nothing claims the name
   */
  hosts(cluster: string): readonly string[] | undefined {
    const svc = this.lookup(cluster)
    if (!svc) return undefined
    const list = svc.current()
    if (list === undefined) {
      svc.endpoints().catch(() => undefined)
      return []
    }
    return list.map(endpointAddress)
  }

  /** Stops every resolver (watches, timers). */
  async close(): Promise<void> {
    await Promise.all(this.#resolvers.map(async (r) => r.close?.()))
  }
}

/** The explicit map as a resolver: exact name, then `fqdn:port` and `fqdn` of an Envoy cluster name. */
function explicitResolver(map: UpstreamMap): UpstreamResolver {
  const byName = new Map<string, readonly Endpoint[]>()
  for (const [name, value] of Object.entries(map)) byName.set(name, urlEndpoints(value, `upstreams[${JSON.stringify(name)}]`))
  return {
    kind: 'explicit',
    claim(t) {
      const c = t.cluster
      const keys = [t.name]
      if ('fqdn' in c) keys.push(`${c.fqdn}:${c.port}`, c.fqdn)
      for (const k of keys) {
        const list = byName.get(k)
        if (list) return { key: k, endpoints: async () => list, current: () => list, fresh: () => list }
      }
      return undefined
    },
  }
}

/**
 * Endpoints of one URL or several (`http://10.0.0.5:8080`, `https://auth.example.com/base`).
 * @throws `PWH_ERR_CONFIG_INVALID` naming `where`
 * @internal
 */
export function urlEndpoints(value: string | readonly string[], where: string): Endpoint[] {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0) {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${where} must be a URL such as http://127.0.0.1:8080, or a non-empty list of URLs, got ${JSON.stringify(value)}`)
  }
  return list.map((s, i) => {
    let u: URL
    try {
      u = new URL(String(s))
    } catch {
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${where}${list.length > 1 ? `[${i}]` : ''} must be an http(s) URL such as http://127.0.0.1:8080, got ${JSON.stringify(s)}`)
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${where}: ${JSON.stringify(s)} must use http: or https:, got ${u.protocol}`)
    }
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
    const e: Endpoint = { host, port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80, protocol: u.protocol }
    const base = u.pathname.replace(/\/+$/, '')
    if (base) e.basePath = base
    return e
  })
}
