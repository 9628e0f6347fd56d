/**
 * `proxy-wasm-host/upstream`: what the upstream name of an HTTP callout (or a Redis cluster, or the
 * gateway's upstream) means. An explicit map of names to URLs, resolvers tried in order (fixed
 * addresses, DNS, Kubernetes EndpointSlices, Nacos, your own), cluster-name parsing for the Envoy,
 * Higress and Kong dialects, round-robin over endpoints, and the undici transport. See
 * `docs/upstreams.md`.
 *
 * @example
 * ```ts
 * import { WasmPluginHost } from 'proxy-wasm-host'
 * import { staticResolver } from 'proxy-wasm-host/upstream'
 *
 * const host = new WasmPluginHost({
 *   upstreams: { 'outbound|80||auth.static': 'http://127.0.0.1:8081' },
 *   resolvers: [staticResolver({ services: { billing: '10.0.0.5:8080' } })],
 * })
 * ```
 * @module
 */
export { parseClusterName } from './cluster-name.js'
export type { ClusterName, ClusterNameBase, EnvoyClusterFields } from './cluster-name.js'
export type { Endpoint, EndpointSource, UpstreamResolver, UpstreamTarget } from './types.js'
export { Upstreams, UpstreamService, DEFAULT_EJECT_MS } from './upstreams.js'
export type { UpstreamMap, UpstreamsOptions } from './upstreams.js'
export { createHttpDispatcher } from './dispatcher.js'
export type { HttpDispatcherOptions, ClosableHttpDispatcher } from './dispatcher.js'
export { staticResolver } from './static.js'
export type { StaticResolverOptions } from './static.js'
export { dnsResolver } from './dns.js'
export type { DnsResolverOptions } from './dns.js'
export { kubernetesResolver } from './kubernetes.js'
export type { KubernetesResolverOptions } from './kubernetes.js'
export { nacosResolver } from './nacos.js'
export type { NacosResolverOptions } from './nacos.js'
export { resolverFromSpec } from './spec.js'
export type { ResolverSpec } from './spec.js'
