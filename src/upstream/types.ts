/**
 * The resolver interface: how an upstream name becomes endpoints. Small on purpose, so that a
 * custom registry is a few lines: claim a name synchronously (so that an unknown name is refused at
 * once, as Envoy refuses an unknown cluster), then list its endpoints asynchronously.
 * @module
 */
import type { ClusterName } from './cluster-name.js'

/** One address an upstream can be reached at. */
export interface Endpoint {
  /** IP address or host name. */
  host: string
  /** TCP port. */
  port: number
  /** `http:` (default) or `https:`. */
  protocol?: 'http:' | 'https:'
  /** Relative weight for round-robin (default 1); 0 takes no traffic (Nacos semantics). */
  weight?: number
  /** A path prefix put before every callout path (explicit URLs such as `http://10.0.0.5/base`). */
  basePath?: string
}

/** A name to resolve, as a resolver sees it. */
export interface UpstreamTarget {
  /** The name exactly as the plugin gave it. */
  name: string
  /** The name parsed ({@link parseClusterName}). */
  cluster: ClusterName
  /**
   * The `:authority` of the callout, when there is one: wasm-go puts the domain of a `DnsCluster`
   * there, which the DNS resolver reads when it has no domain configured for the service.
   */
  authority?: string
}

/**
 * The endpoint list of one claimed name. Sources with the same `key` share round-robin state and
 * the list of endpoints skipped after refusing connections.
 */
export interface EndpointSource {
  /** Identity of the list, e.g. `k8s:prod/auth:8080`. */
  readonly key: string
  /**
   * The current endpoints (cached by the resolver as it sees fit). An empty list means "no healthy
   * upstream" (Envoy's 503); a rejection means the registry could not be asked (also a 503, logged).
   * @param signal - aborted when the caller gives up
   */
  endpoints(signal?: AbortSignal): Promise<readonly Endpoint[]>
  /** The endpoints last resolved, without asking again (`undefined` before the first answer). */
  current?(): readonly Endpoint[] | undefined
  /**
   * The endpoints when they can be used now without asking the registry (a fixed list, or a cached
   * one still fresh); `undefined` when {@link EndpointSource.endpoints} must be asked. Optional: it
   * lets a callout pick its endpoint synchronously, without a promise.
   */
  fresh?(): readonly Endpoint[] | undefined
}

/**
 * A registry of upstream names: static addresses, DNS, Kubernetes, Nacos, or your own.
 * @example
 * ```ts
 * const consul: UpstreamResolver = {
 *   kind: 'consul',
 *   claim: (t) => t.cluster.kind === 'consul'
 *     ? { key: `consul:${t.cluster.service}`, endpoints: async () => [{ host: '10.0.0.7', port: 8500 }] }
 *     : undefined,
 * }
 * const host = new WasmPluginHost({ resolvers: [consul] })
 * ```
 */
export interface UpstreamResolver {
  /** A short name for logs (`static`, `dns`, `k8s`, `nacos` …). */
  readonly kind: string
  /**
   * Whether this resolver answers for `target`, decided synchronously (no I/O): its endpoint source,
   * or `undefined` to let the next resolver try.
   */
  claim(target: UpstreamTarget): EndpointSource | undefined
  /** Stops watches and timers; called when the host closes. */
  close?(): void | Promise<void>
}
