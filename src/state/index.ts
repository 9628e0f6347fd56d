/**
 * Plugin state beyond one request: shared data and shared queues (in memory, or in Redis to share
 * them between processes) and plugin metrics (exported through prom-client).
 * @module
 */
export { createMemorySharedData, createMemorySharedQueues } from './memory.js'
export { createRedisSharedState } from './redis-store.js'
export type { RedisSharedState, RedisSharedStateOptions } from './redis-store.js'
export { prometheusName, ENVOY_HISTOGRAM_BUCKETS } from './metrics.js'
