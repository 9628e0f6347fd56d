/**
 * Caps on the host memory plugins fill outside their VMs: shared data, shared queues and metrics
 * (`limits.maxSharedData*`, `limits.maxSharedQueue*`, `limits.maxMetrics`), resolved once per host,
 * and the one warn line per plugin and cap that says a plugin ran into one.
 * @module
 */
import {
  DEFAULT_MAX_METRICS,
  DEFAULT_MAX_SHARED_DATA_BYTES,
  DEFAULT_MAX_SHARED_DATA_KEYS,
  DEFAULT_MAX_SHARED_QUEUES,
  DEFAULT_MAX_SHARED_QUEUE_BYTES,
  DEFAULT_MAX_SHARED_QUEUE_ITEMS,
} from '../abi/limits.js'
import type { SharedDataLimits, SharedQueueLimits } from './services.js'
import type { Plugin } from './plugin.js'

/** The state caps of `HostOptions.limits`, in bytes and counts (0: no cap). */
export interface StateLimitOptions {
  /** Bytes of keys and values one `vm_id` keeps in shared data (default 64 MiB). */
  maxSharedDataBytes?: number
  /** Keys one `vm_id` keeps in shared data (default 100 000). */
  maxSharedDataKeys?: number
  /** Shared queues one `vm_id` registers (default 1024). */
  maxSharedQueues?: number
  /** Items waiting in the shared queues of one `vm_id` (default 100 000). */
  maxSharedQueueItems?: number
  /** Bytes waiting in the shared queues of one `vm_id`, queue names included (default 64 MiB). */
  maxSharedQueueBytes?: number
  /** Distinct metrics of the host, or of the hosts sharing a `metricsRegistry` (default 10 000). */
  maxMetrics?: number
}

/** The resolved caps a host hands its hostcalls, also as the objects the stores take. @internal */
export interface StateLimits extends Required<StateLimitOptions> {
  sharedData: SharedDataLimits
  sharedQueues: SharedQueueLimits
}

/** Names and defaults of the state caps, in the order docs list them. @internal */
export const STATE_LIMIT_DEFAULTS: Readonly<Record<keyof StateLimitOptions, number>> = {
  maxSharedDataBytes: DEFAULT_MAX_SHARED_DATA_BYTES,
  maxSharedDataKeys: DEFAULT_MAX_SHARED_DATA_KEYS,
  maxSharedQueues: DEFAULT_MAX_SHARED_QUEUES,
  maxSharedQueueItems: DEFAULT_MAX_SHARED_QUEUE_ITEMS,
  maxSharedQueueBytes: DEFAULT_MAX_SHARED_QUEUE_BYTES,
  maxMetrics: DEFAULT_MAX_METRICS,
}

/**
 * The caps of `options` with their defaults.
 * @param check - validates one value (`limits.<name>`), returning it or the fallback
 * @internal
 */
export function resolveStateLimits(options: StateLimitOptions | undefined, check: (v: number | undefined, fallback: number, what: string) => number): StateLimits {
  const v = Object.fromEntries(Object.entries(STATE_LIMIT_DEFAULTS).map(([k, d]) => [k, check(options?.[k as keyof StateLimitOptions], d, `limits.${k}`)])) as Required<StateLimitOptions>
  return {
    ...v,
    sharedData: { maxBytes: v.maxSharedDataBytes, maxKeys: v.maxSharedDataKeys },
    sharedQueues: { maxQueues: v.maxSharedQueues, maxItems: v.maxSharedQueueItems, maxBytes: v.maxSharedQueueBytes },
  }
}

/** The option behind each cap a store reports. @internal */
export const DATA_LIMIT_OPTION = { bytes: 'maxSharedDataBytes', keys: 'maxSharedDataKeys' } as const
/** @internal */
export const QUEUE_LIMIT_OPTION = { queues: 'maxSharedQueues', items: 'maxSharedQueueItems', bytes: 'maxSharedQueueBytes' } as const

const warned = new WeakMap<Plugin, Set<string>>()

/**
 * Logs `message` for `plugin` once per `key`, so that a plugin writing in a loop costs one line,
 * not one per call.
 * @internal
 */
export function warnOnce(plugin: Plugin, key: string, message: string, contextId: number): void {
  let seen = warned.get(plugin)
  if (!seen) warned.set(plugin, (seen = new Set()))
  if (seen.has(key)) return
  seen.add(key)
  plugin.emitLog('warn', message, contextId, 'host')
}

/**
 * Logs that `plugin` ran into cap `option`, once per plugin and cap.
 * @param what - whose cap, what was refused and what the plugin got, e.g.
 * `for vm_id "a": proxy_set_shared_data answers InternalFailure for new keys`
 * @internal
 */
export function warnStateLimit(plugin: Plugin, limits: StateLimits, option: keyof StateLimitOptions, what: string, contextId: number): void {
  warnOnce(plugin, option, `limits.${option} (${limits[option]}) reached ${what}; raise limits.${option} if the plugin needs more (docs/isolation.md)`, contextId)
}
