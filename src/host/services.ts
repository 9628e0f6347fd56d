/**
 * The transports a host is given for what plugins reach beyond their own request: HTTP callouts
 * and Redis. Hostcalls talk to these interfaces only; `upstream/` and `redis/` implement them for
 * production, and the test kit implements them with recorders the test answers.
 * @module
 */
import type { HeaderPair } from '../abi/pairs.js'
import type { WasmResult } from '../abi/enums.js'

/** One HTTP callout (`proxy_http_call` / `proxy_dispatch_http_call`), as the host hands it on. */
export interface HttpCallout {
  /** The upstream name exactly as the plugin gave it: an Envoy cluster, a Higress service, a Kong `host:port`. */
  readonly upstream: string
  /** Request headers in the plugin's order, names lower-case, `:method`, `:path`, `:authority` included. */
  readonly headers: readonly HeaderPair[]
  /** Request body (may be empty). */
  readonly body: Buffer
  /** Request trailers (usually empty). */
  readonly trailers: readonly HeaderPair[]
  /** The plugin's timeout in milliseconds, 0 for none. The host enforces it: a timeout reaches the plugin as a 504. */
  readonly timeoutMs: number
  /** Largest response body accepted; a larger one must end as `{ kind: 'reset' }`. */
  readonly maxResponseBytes: number
  /** Name of the calling plugin (for logs). */
  readonly plugin: string
  /** The callout token the plugin received. */
  readonly token: number
  /** Aborted when the host gives up on the call (timeout, root context shut down). */
  readonly signal: AbortSignal
}

/**
 * How a callout ended. Envoy turns transport failures into ordinary responses: the host answers
 * `connect-failure` and `no-healthy-upstream` with a 503 and a short text body, as Envoy does; only
 * `reset` reaches the plugin as a failed call (no headers, `proxy_get_status` 11 `reset`).
 */
export type HttpCalloutResult =
  | {
      kind: 'response'
      /** Response headers, `:status` first, names lower-case. */
      headers: HeaderPair[]
      /** Response body. */
      body: Buffer
      /** Response trailers. */
      trailers: HeaderPair[]
    }
  /** No connection could be made; `reason` may carry the Node error code (`ECONNREFUSED` …), which picks Envoy's wording. */
  | { kind: 'connect-failure'; reason?: string }
  | { kind: 'no-healthy-upstream'; reason?: string }
  | { kind: 'reset'; reason?: string }

/** Sends HTTP callouts. */
export interface HttpCallDispatcher {
  /**
   * Starts a callout.
   * @param call - what the plugin asked for
   * @returns the outcome, or `undefined` at once when `call.upstream` names nothing known (the
   * hostcall then answers `BadArgument`, Envoy's answer for an unknown cluster)
   */
  dispatch(call: HttpCallout): Promise<HttpCalloutResult> | undefined
}

/**
 * Endpoints of upstream clusters as resolved, read synchronously by Higress
 * `proxy_get_upstream_hosts` (`upstream/`'s `Upstreams` implements it).
 */
export interface UpstreamHostsSource {
  /**
   * `ip:port` of each endpoint of `cluster` as last resolved (may start a resolution and answer `[]`).
   * @returns the addresses, or `undefined` when nothing knows the name
   */
  hosts(cluster: string): readonly string[] | undefined
}

/** Settings of one `proxy_redis_init` (ABI §8.4). */
export interface RedisInitOptions {
  /** ACL user name (may be empty). */
  username: string
  /** Password (may be empty). */
  password: string
  /** Per-operation timeout in milliseconds as the plugin gave it. */
  timeoutMs: number
  /** The query string after `?` in the cluster name (`db`, `buffer_flush_timeout`, `max_buffer_size_before_flush` …). */
  params: Readonly<Record<string, string>>
}

/** The result of one Redis call: the raw RESP bytes of exactly one reply, or a failure. */
export type RedisCallResult = { ok: true; reply: Buffer } | { ok: false; reason: string }

/** What the host tells a {@link RedisBridge} about one call. */
export interface RedisCallInfo {
  /** Name of the calling plugin (for logs). */
  plugin: string
  /** The token the plugin received. */
  token: number
  /** Aborted when the host gives up on the call: its timeout passed, or the root context shut down. */
  signal: AbortSignal
  /**
   * The per-operation timeout of the plugin's `proxy_redis_init` for this cluster, in ms (0: none
   * given). The host enforces it on its own clock: once it passes, the plugin gets the failed call
   * (status 1) and `signal` is aborted.
   */
  timeoutMs: number
}

/**
 * Sends raw RESP commands to Redis clusters for plugins (Higress `proxy_redis_*`). `owner` is an
 * opaque object standing for one plugin root context: clients and credentials are kept per owner and
 * dropped by {@link RedisBridge.release}.
 */
export interface RedisBridge {
  /**
   * (Re)configures the client of `cluster` for `owner`; must not connect.
   * @returns `Ok`, or `BadArgument` when `cluster` names nothing known
   */
  init(owner: object, cluster: string, options: RedisInitOptions): WasmResult
  /**
   * Sends `query` (a RESP command, unchanged) to `cluster`.
   * @returns the reply, or `undefined` at once when `cluster` names nothing known (`BadArgument`)
   */
  call(owner: object, cluster: string, query: Buffer, info: RedisCallInfo): Promise<RedisCallResult> | undefined
  /** Forgets `owner`'s clients (its root context shut down). */
  release(owner: object): void
}

/** A shared-data value and its CAS (ABI §2.10). */
export interface SharedDataEntry {
  /** The bytes stored. */
  value: Buffer
  /** Compare-and-swap token: changes with every write; never 0. */
  cas: number
}

/**
 * Caps on what plugins of one `vm_id` keep in shared data; the host passes its `limits` with every
 * write (0: no cap). Only writes that would grow past a cap are refused: an overwrite that does not
 * grow the total always succeeds.
 */
export interface SharedDataLimits {
  /** Bytes of keys and values (`limits.maxSharedDataBytes`). */
  maxBytes: number
  /** Number of keys (`limits.maxSharedDataKeys`). */
  maxKeys: number
}

/**
 * Caps on what plugins of one `vm_id` keep in shared queues (0: no cap), passed with every
 * register and enqueue.
 */
export interface SharedQueueLimits {
  /** Queues registered (`limits.maxSharedQueues`). */
  maxQueues: number
  /** Items waiting to be dequeued, over all queues of the `vm_id` (`limits.maxSharedQueueItems`). */
  maxItems: number
  /** Bytes of the waiting items and of the queue names (`limits.maxSharedQueueBytes`). */
  maxBytes: number
}

/** The cap a shared-state write ran into: the `max…` field of {@link SharedDataLimits} / {@link SharedQueueLimits}. */
export type SharedStateLimit = 'bytes' | 'keys' | 'queues' | 'items'

/**
 * Shared data (`proxy_get_shared_data` / `proxy_set_shared_data`, ABI §2.10): a key-value store per
 * `vm_id` with compare-and-swap. Calls are synchronous (hostcalls are); a store that cannot answer
 * throws, and the plugin gets `InternalFailure`.
 */
export interface SharedDataStore {
  /**
   * Reads a key.
   * @returns the value and its CAS, or `undefined` when the key does not exist
   */
  get(vmId: string, key: string): SharedDataEntry | undefined
  /**
   * Writes a key: `cas` 0 writes unconditionally; otherwise the write happens only when the key is
   * new or its CAS is still `cas`. Every write gets a new CAS from one counter (from 1, never 0).
   * @param limits - the caps of `vmId` (a store that ignores them has none)
   * @returns `true` when written, `false` on a CAS mismatch, or the cap that refused the write
   * (nothing written)
   */
  set(vmId: string, key: string, value: Buffer, cas: number, limits?: SharedDataLimits): boolean | 'bytes' | 'keys'
  /** Releases connections or threads (called by the host that created the store). */
  close?(): void
}

/**
 * Shared queues (ABI §2.11): FIFO queues named `(vm_id, name)`, with ids from one counter (from 1).
 * The last root context that registered a queue is its receiver and is told of every enqueue.
 */
export interface SharedQueueStore {
  /**
   * Creates or reopens queue `(vmId, name)` and makes `onReady` its receiver (replacing the last one).
   * @param onReady - called asynchronously once per item enqueued (from any process for shared stores)
   * @param limits - the caps of `vmId`; reopening a queue is never refused
   * @returns the queue id, or the cap that refused a new queue (its name counts as bytes)
   */
  register(vmId: string, name: string, onReady: (queueId: number) => void, limits?: SharedQueueLimits): number | 'queues' | 'bytes'
  /**
   * Finds an existing queue.
   * @returns its id, or `undefined` when no one registered it
   */
  resolve(vmId: string, name: string): number | undefined
  /**
   * Appends an item and schedules the receiver's `onReady`.
   * @param limits - the caps of the queue's `vm_id`
   * @returns `false` when the id is unknown, or the cap that refused the item (nothing enqueued)
   */
  enqueue(queueId: number, value: Buffer, limits?: SharedQueueLimits): boolean | 'items' | 'bytes'
  /**
   * Takes the oldest item.
   * @returns the item, `null` when the queue is empty, `undefined` when the id is unknown
   */
  dequeue(queueId: number): Buffer | null | undefined
  /** Releases connections or threads (called by the host that created the store). */
  close?(): void
}
