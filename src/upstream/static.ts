/**
 * `staticResolver`: fixed addresses, as Higress "static" (fixed IP) service sources: a service name
 * to a list of `ip:port`, reached by `outbound|<port>||<name>.static`; and Kong-style literal
 * `ip:port` names, which name their own endpoint.
 * @module
 */
import { ProxyWasmHostError } from '../errors.js'
import { splitHostPort } from './cluster-name.js'
import type { Endpoint, UpstreamResolver } from './types.js'
import { urlEndpoints } from './upstreams.js'

/** Options of {@link staticResolver}. */
export interface StaticResolverOptions {
  /**
   * Services by name: `auth` answers `outbound|<port>||auth.static` (and a cluster or Kong name
   * given verbatim). Each value is `ip:port`, a comma-separated list of them (the Higress console's
   * form), a URL, or a list of those.
   */
  services?: Readonly<Record<string, string | readonly string[]>>
  /** Claim Kong-style IP literals (`10.0.0.5:8080`, `[::1]:80`) as their own endpoint (default `true`). */
  ipLiterals?: boolean
}

/**
 * Fixed addresses: Higress static services (`<name>.static`) and Kong `ip:port` names.
 *
 * @param options - services by name, whether IP literals are claimed
 * @returns a resolver for `new WasmPluginHost({ resolvers: [...] })`
 * @throws `PWH_ERR_CONFIG_INVALID` when an address is neither `ip:port` nor an http(s) URL
 * @example
 * ```ts
 * const host = new WasmPluginHost({ resolvers: [staticResolver({ services: { auth: '10.0.0.5:8080,10.0.0.6:8080' } })] })
 * // a plugin's StaticIpCluster{ServiceName: "auth", Port: 80} now reaches 10.0.0.5 and 10.0.0.6 in turn
 * ```
 */
export function staticResolver(options: StaticResolverOptions = {}): UpstreamResolver {
  const services = new Map<string, readonly Endpoint[]>()
  for (const [name, value] of Object.entries(options.services ?? {})) services.set(name, addresses(value, `staticResolver services[${JSON.stringify(name)}]`))
  const literals = options.ipLiterals ?? true
  return {
    kind: 'static',
    claim(t) {
      const c = t.cluster
      const named = (c.kind === 'static' ? services.get(c.service) : undefined) ?? services.get(t.name)
      if (named) return { key: c.kind === 'static' ? c.service : t.name, endpoints: async () => named, current: () => named, fresh: () => named }
      if (literals && c.kind === 'host' && c.port !== undefined && /^[\d.]+$|:/.test(c.host)) {
        const list: readonly Endpoint[] = [{ host: c.host, port: c.port }]
        return { key: t.name, endpoints: async () => list, current: () => list, fresh: () => list }
      }
      return undefined
    },
  }
}

function addresses(value: string | readonly string[], where: string): Endpoint[] {
  const items = (typeof value === 'string' ? [value] : [...value]).flatMap((s) => String(s).split(',')).map((s) => s.trim()).filter(Boolean)
  if (items.length === 0) throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${where} lists no address; give ip:port, a comma-separated list, or URLs`)
  return items.flatMap((s) => {
    if (/^https?:\/\//i.test(s)) return urlEndpoints(s, where)
    const hp = splitHostPort(s)
    if (!hp) throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${where}: ${JSON.stringify(s)} is not ip:port or an http(s) URL`)
    return [{ host: hp.host, port: hp.port ?? 80 }]
  })
}
