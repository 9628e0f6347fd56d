/**
 * Resolvers described as data, for the `resolvers:` section of a pipeline file:
 * `{ type: static | dns | kubernetes | nacos, ...that resolver's options }`.
 * @module
 */
import { isAbsolute, resolve } from 'node:path'
import { ProxyWasmHostError } from '../errors.js'
import { dnsResolver, type DnsResolverOptions } from './dns.js'
import { kubernetesResolver, type KubernetesResolverOptions } from './kubernetes.js'
import { nacosResolver, type NacosResolverOptions } from './nacos.js'
import { staticResolver, type StaticResolverOptions } from './static.js'
import type { UpstreamResolver } from './types.js'

/**
 * A resolver as data: its `type` and its factory's options.
 * @example
 * ```ts
 * const specs: ResolverSpec[] = [{ type: 'dns', servers: ['10.0.0.2'] }, { type: 'nacos', serverAddr: 'http://nacos:8848' }]
 * ```
 */
export type ResolverSpec =
  | ({ type: 'static' } & StaticResolverOptions)
  | ({ type: 'dns' } & DnsResolverOptions)
  | ({ type: 'kubernetes' } & KubernetesResolverOptions)
  | ({ type: 'nacos' } & NacosResolverOptions)

const KEYS: Record<ResolverSpec['type'], readonly string[]> = {
  static: ['services', 'ipLiterals'],
  dns: ['servers', 'services', 'record', 'fqdn', 'minTtlMs', 'maxTtlMs', 'refreshMs', 'timeoutMs', 'tries'],
  kubernetes: ['apiServer', 'token', 'tokenFile', 'ca', 'insecureSkipTlsVerify', 'kubeconfig', 'context', 'inCluster', 'requestTimeoutMs', 'reconnectMs'],
  nacos: ['serverAddr', 'apiVersion', 'username', 'password', 'accessToken', 'contextPath', 'refreshMs', 'requestTimeoutMs'],
}

/**
 * Builds a resolver from its description.
 * @param spec - `{ type, ...options }`
 * @param where - where the spec was written, for messages (`gateway.yaml: resolvers[1]`)
 * @param baseDir - directory that relative `tokenFile` / `kubeconfig` paths start from
 * @returns the resolver
 * @throws `PWH_ERR_CONFIG_INVALID` for an unknown type or field, or what the factory throws
 * @example
 * ```ts
 * const r = resolverFromSpec({ type: 'static', services: { auth: '10.0.0.5:8080' } }, 'resolvers[0]')
 * ```
 */
export function resolverFromSpec(spec: unknown, where: string, baseDir = '.'): UpstreamResolver {
  const fail = (msg: string): never => {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${where}: ${msg}`)
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) return fail(`must be an object such as { type: dns, servers: [...] }, got ${JSON.stringify(spec)}`)
  const { type, ...rest } = spec as Record<string, unknown>
  const t = type === 'k8s' ? 'kubernetes' : type
  if (typeof t !== 'string' || !(t in KEYS)) return fail(`type must be one of ${Object.keys(KEYS).join(', ')}, got ${JSON.stringify(type)}`)
  const known = KEYS[t as ResolverSpec['type']]
  const unknown = Object.keys(rest).find((k) => !known.includes(k))
  if (unknown !== undefined) fail(`${JSON.stringify(unknown)} is not an option of the ${t} resolver; it takes ${known.join(', ')}`)
  const path = (p: unknown) => (typeof p === 'string' && !isAbsolute(p) ? resolve(baseDir, p) : p)
  try {
    switch (t) {
      case 'static':
        return staticResolver(rest as StaticResolverOptions)
      case 'dns':
        return dnsResolver(rest as DnsResolverOptions)
      case 'kubernetes': {
        const o = { ...rest } as Record<string, unknown>
        if (o.tokenFile !== undefined) o.tokenFile = path(o.tokenFile)
        if (o.kubeconfig !== undefined) o.kubeconfig = path(o.kubeconfig)
        return kubernetesResolver(o as KubernetesResolverOptions)
      }
      default:
        return nacosResolver(rest as unknown as NacosResolverOptions)
    }
  } catch (err) {
    const e = err as ProxyWasmHostError
    if (e?.code === 'PWH_ERR_CONFIG_INVALID') throw new ProxyWasmHostError(e.code, `${where}: ${e.message}`, { cause: err })
    throw err
  }
}
