/**
 * What an upstream name says: the three naming dialects a plugin may use (proxy-wasm-abi.md §8.3).
 * Envoy/Istio/Higress cluster names `outbound|<port>|<subset>|<fqdn>` (the FQDN tells the registry:
 * `.svc.cluster.local` Kubernetes, `.nacos` Nacos, `.static` fixed addresses, `.dns` a DNS service,
 * `.consul` Consul, anything else a plain FQDN), and Kong's `host[:port]`.
 * @module
 */
import { isIP } from 'node:net'

/** Fields every parsed name has. */
export interface ClusterNameBase {
  /** The name exactly as given. */
  raw: string
}

/** Fields of an Envoy/Istio cluster name `<direction>|<port>|<subset>|<fqdn>`. */
export interface EnvoyClusterFields extends ClusterNameBase {
  /** `outbound` (or `inbound`). */
  direction: string
  /** Service port. */
  port: number
  /** Subset (Istio) or version (Higress); `''` when empty. */
  subset: string
  /** The last segment. */
  fqdn: string
}

/**
 * A parsed upstream name. `kind` says which registry it belongs to; `host` is a name seen by no
 * registry (Kong `host:port`, an IP literal).
 * @example
 * ```ts
 * const c: ClusterName = parseClusterName('outbound|8080||auth.prod.svc.cluster.local')
 * if (c.kind === 'k8s') console.log(c.service, c.namespace, c.port) // auth prod 8080
 * ```
 */
export type ClusterName =
  | (EnvoyClusterFields & { kind: 'k8s'; service: string; namespace: string })
  | (EnvoyClusterFields & { kind: 'nacos'; service: string; group: string; namespace: string; external: boolean })
  | (EnvoyClusterFields & { kind: 'static'; service: string })
  | (EnvoyClusterFields & { kind: 'dns'; service: string })
  | (EnvoyClusterFields & { kind: 'consul'; service: string; datacenter: string })
  | (EnvoyClusterFields & { kind: 'fqdn' })
  | (ClusterNameBase & { kind: 'host'; host: string; port: number | undefined })
  | (ClusterNameBase & { kind: 'name' })

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i

/** Whether `s` is an IPv4 or IPv6 literal (without brackets). @internal */
export function isIpLiteral(s: string): boolean {
  return isIP(s) !== 0
}

/**
 * Parses an upstream name in any of the dialects of proxy-wasm-abi.md §8.3, as the Higress wasm-go
 * `Cluster` types print them:
 *
 * | name | kind |
 * |---|---|
 * | `outbound\|8080\|v1\|auth.prod.svc.cluster.local` (also `<svc>.<ns>.svc`) | `k8s` |
 * | `outbound\|80\|\|auth.DEFAULT-GROUP.public.nacos` (`.nacos-ext` for external registries) | `nacos` (group `-` read back as `_`) |
 * | `outbound\|80\|\|auth.static` | `static` |
 * | `outbound\|80\|\|auth.dns` | `dns` |
 * | `outbound\|80\|\|auth.dc1.consul` | `consul` |
 * | `outbound\|443\|\|api.example.com` | `fqdn` |
 * | `auth.example.com:8080`, `10.0.0.5:80`, `[::1]:80`, `10.0.0.5` (Kong) | `host` |
 * | anything else (a plain Envoy cluster such as `ext_authz`) | `name` |
 *
 * @param name - the upstream as the plugin gave it
 * @returns the parsed name (never throws; unknown shapes are `kind: 'name'`)
 * @example
 * ```ts
 * parseClusterName('outbound|80||auth.DEFAULT-GROUP.public.nacos')
 * // { kind: 'nacos', service: 'auth', group: 'DEFAULT_GROUP', namespace: 'public', port: 80, ... }
 * parseClusterName('10.0.0.5:8080') // { kind: 'host', host: '10.0.0.5', port: 8080, ... }
 * ```
 */
export function parseClusterName(name: string): ClusterName {
  const parts = name.split('|')
  if (parts.length === 4 && /^\d{1,5}$/.test(parts[1]!) && parts[3] !== '') {
    const [direction, p, subset, fqdn] = parts as [string, string, string, string]
    const base: EnvoyClusterFields = { raw: name, direction, port: Number(p), subset, fqdn }
    const labels = fqdn.split('.')
    const last = labels[labels.length - 1]!.toLowerCase()
    if (fqdn.endsWith('.svc.cluster.local') && labels.length >= 5) {
      return { ...base, kind: 'k8s', service: labels.slice(0, -4).join('.'), namespace: labels[labels.length - 4]! }
    }
    if (labels.length === 3 && labels[2] === 'svc') return { ...base, kind: 'k8s', service: labels[0]!, namespace: labels[1]! }
    if ((last === 'nacos' || last === 'nacos-ext') && labels.length >= 4) {
      // <service>.<group with _ written as ->.<namespace id>.nacos; service names may hold dots.
      return {
        ...base, kind: 'nacos', service: labels.slice(0, -3).join('.'), group: labels[labels.length - 3]!.replace(/-/g, '_'),
        namespace: labels[labels.length - 2]!, external: last === 'nacos-ext',
      }
    }
    if (last === 'static' && labels.length >= 2) return { ...base, kind: 'static', service: labels.slice(0, -1).join('.') }
    if (last === 'dns' && labels.length >= 2) return { ...base, kind: 'dns', service: labels.slice(0, -1).join('.') }
    if (last === 'consul' && labels.length >= 3) {
      return { ...base, kind: 'consul', service: labels.slice(0, -2).join('.'), datacenter: labels[labels.length - 2]! }
    }
    return { ...base, kind: 'fqdn' }
  }
  const hp = splitHostPort(name)
  if (hp) return { raw: name, kind: 'host', host: hp.host, port: hp.port }
  return { raw: name, kind: 'name' }
}

/** `host[:port]` / `[v6]:port` / a bare IP, or `undefined` when it is not one. @internal */
export function splitHostPort(s: string): { host: string; port: number | undefined } | undefined {
  let host = s
  let port: number | undefined
  const v6 = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s)
  if (v6) {
    host = v6[1]!
    port = v6[2] === undefined ? undefined : Number(v6[2])
    if (!isIpLiteral(host)) return undefined
  } else if (isIpLiteral(s)) {
    return { host: s, port: undefined }
  } else {
    const m = /^([^:]+):(\d{1,5})$/.exec(s)
    if (m) {
      host = m[1]!
      port = Number(m[2])
    }
    // A bare name with no dot and no port is more likely an Envoy cluster (`ext_authz`) than a host.
    if (!HOSTNAME.test(host) || (port === undefined && !host.includes('.'))) return undefined
  }
  if (port !== undefined && (port < 1 || port > 65535)) return undefined
  return { host, port }
}
