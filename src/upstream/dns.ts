/**
 * `dnsResolver`: names resolved with DNS (`node:dns` `Resolver`, servers configurable), answers
 * cached for their TTL — Higress DNS services (`outbound|<port>||<name>.dns`), plain FQDN clusters
 * (`outbound|443||api.example.com`, Istio `ServiceEntry` with DNS resolution) and Kong `host:port`.
 * @module
 */
import { Resolver } from 'node:dns/promises'
import { ProxyWasmHostError } from '../errors.js'
import { isIpLiteral, splitHostPort } from './cluster-name.js'
import { cachedSource } from './cached-source.js'
import type { Endpoint, EndpointSource, UpstreamResolver, UpstreamTarget } from './types.js'

/** Options of {@link dnsResolver}. */
export interface DnsResolverOptions {
  /** DNS servers (`'10.0.0.2'`, `'127.0.0.1:5353'`, `'[::1]:53'`); default: the system's. */
  servers?: readonly string[]
  /**
   * Domains of Higress DNS services by service name: `auth` → `auth.example.com` answers
   * `outbound|<port>||auth.dns`. Without an entry the callout's `:authority` is used (wasm-go's
   * `DnsCluster` puts its `Domain` there).
   */
  services?: Readonly<Record<string, string>>
  /**
   * Records to ask for: `A`, `AAAA`, `A+AAAA` (default: A, and AAAA when there is no A record), or
   * `SRV` (the domain is an SRV name such as `_http._tcp.auth.example.com`; targets are resolved
   * with A/AAAA, ports and weights come from the SRV records, the lowest priority wins).
   */
  record?: 'A' | 'AAAA' | 'A+AAAA' | 'SRV'
  /** Also claim plain FQDN cluster names and Kong `host:port` names (default `true`). */
  fqdn?: boolean
  /** Shortest time an answer is cached, in ms (default 1 000): TTLs below it are raised. */
  minTtlMs?: number
  /** Longest time an answer is cached, in ms (default 300 000). */
  maxTtlMs?: number
  /** How long NXDOMAIN / no-data answers are cached, and SRV answers (which `node:dns` gives without TTL), in ms (default 5 000, Envoy's `dns_refresh_rate`). */
  refreshMs?: number
  /** Per-query timeout in ms (default 2 000), with `tries` attempts (default 2). */
  timeoutMs?: number
  /** Attempts per query (default 2). */
  tries?: number
}

const NO_DATA = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'ENONAME'])

/**
 * Resolves names with DNS. An NXDOMAIN (or no record) is an empty endpoint list: the plugin sees
 * Envoy's 503 `no healthy upstream`. When a server does not answer, the last good answer is kept.
 *
 * @param options - servers, service domains, record type, TTL bounds
 * @returns a resolver for `new WasmPluginHost({ resolvers: [...] })`
 * @throws `PWH_ERR_CONFIG_INVALID` for a malformed server address
 * @example
 * ```ts
 * const host = new WasmPluginHost({ resolvers: [dnsResolver({ servers: ['10.0.0.2'], services: { auth: 'auth.example.com' } })] })
 * // wasm-go DnsCluster{ServiceName: "auth", Domain: "auth.example.com", Port: 8080} → A records of auth.example.com, port 8080
 * ```
 */
export function dnsResolver(options: DnsResolverOptions = {}): UpstreamResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: options.tries ?? 2 })
  if (options.servers?.length) {
    try {
      resolver.setServers([...options.servers])
    } catch (err) {
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `dnsResolver: servers ${JSON.stringify(options.servers)} are not valid addresses (${(err as Error).message})`, { cause: err })
    }
  }
  const record = options.record ?? 'A+AAAA'
  const minTtl = options.minTtlMs ?? 1000
  const maxTtl = options.maxTtlMs ?? 300_000
  const refresh = options.refreshMs ?? 5000
  const sources = new Map<string, EndpointSource>()

  const ttl = (seconds: number) => Math.min(maxTtl, Math.max(minTtl, seconds * 1000))

  async function addresses(domain: string): Promise<{ ips: string[]; ttlMs: number }> {
    const ask = async (kind: 'A' | 'AAAA') => {
      try {
        const r = kind === 'A' ? await resolver.resolve4(domain, { ttl: true }) : await resolver.resolve6(domain, { ttl: true })
        return { ips: r.map((x) => x.address), ttlMs: r.length ? ttl(Math.min(...r.map((x) => x.ttl))) : refresh }
      } catch (err) {
        if (NO_DATA.has((err as { code?: string }).code ?? '')) return { ips: [], ttlMs: refresh }
        throw err
      }
    }
    if (record === 'AAAA') return ask('AAAA')
    const a = await ask('A')
    if (record === 'A' || a.ips.length) return a
    return ask('AAAA')
  }

  async function lookup(domain: string, port: number): Promise<{ list: Endpoint[]; ttlMs: number }> {
    if (record !== 'SRV') {
      const { ips, ttlMs } = await addresses(domain)
      return { list: ips.map((host) => ({ host, port })), ttlMs }
    }
    let srv
    try {
      srv = await resolver.resolveSrv(domain)
    } catch (err) {
      if (NO_DATA.has((err as { code?: string }).code ?? '')) return { list: [], ttlMs: refresh }
      throw err
    }
    if (srv.length === 0) return { list: [], ttlMs: refresh }
    const best = Math.min(...srv.map((s) => s.priority))
    const list: Endpoint[] = []
    for (const s of srv.filter((x) => x.priority === best)) {
      const ips = isIpLiteral(s.name) ? [s.name] : (await addresses(s.name)).ips
      for (const host of ips) list.push({ host, port: s.port, weight: s.weight })
    }
    return { list, ttlMs: refresh }
  }

  function source(domain: string, port: number): EndpointSource {
    const key = `${record}:${domain}:${port}`
    let src = sources.get(key)
    if (!src) {
      const load = () => lookup(domain, port).then(
        ({ list, ttlMs }) => ({ list, freshMs: ttlMs }),
        (err: unknown) => {
          throw new ProxyWasmHostError('PWH_ERR_UPSTREAM_RESOLVE', `DNS lookup of ${domain} failed: ${(err as { code?: string }).code ?? ''} ${(err as Error).message}`.replace('  ', ' '), { cause: err })
        },
      )
      // A server that does not answer: the last good answer is kept (Envoy keeps its hosts).
      src = cachedSource(key, load, refresh)
      sources.set(key, src)
    }
    return src
  }

  return {
    kind: 'dns',
    claim(t: UpstreamTarget) {
      const c = t.cluster
      if (c.kind === 'dns') {
        const domain = options.services?.[c.service] ?? authorityHost(t.authority)
        return domain ? source(domain, c.port) : undefined
      }
      if (options.fqdn === false) return undefined
      if (c.kind === 'fqdn' && !isIpLiteral(c.fqdn)) return source(c.fqdn, c.port)
      if (c.kind === 'host' && c.port !== undefined && !isIpLiteral(c.host)) return source(c.host, c.port)
      return undefined
    },
    close() {
      resolver.cancel()
    },
  }
}

/** The host part of an `:authority`, when it is a DNS name. */
function authorityHost(authority: string | undefined): string | undefined {
  if (!authority) return undefined
  const hp = splitHostPort(authority) ?? (authority.includes('.') ? undefined : { host: authority, port: undefined })
  return hp && !isIpLiteral(hp.host) && hp.host.includes('.') ? hp.host : undefined
}
