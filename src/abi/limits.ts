/**
 * Named caps, after proxy-wasm-cpp-host `limits.h`.
 * @module
 */

/** Largest serialized header map accepted from a guest (cpp-host `PROXY_WASM_HOST_PAIRS_MAX_BYTES`). */
export const PAIRS_MAX_BYTES = 1024 * 1024
/** Most pairs accepted in one serialized map (cpp-host `PROXY_WASM_HOST_PAIRS_MAX_COUNT`). */
export const PAIRS_MAX_COUNT = 1024
/** Largest `random_get` request (cpp-host `PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES`). */
export const WASI_RANDOM_GET_MAX_BYTES = 64 * 1024
/** Default largest plugin binary (MSE's upload limit). */
export const DEFAULT_MAX_WASM_BYTES = 50 * 1024 * 1024
/** Default per-stream body buffer limit (Envoy's default connection buffer limit is 1 MiB; Higress raises it). */
export const DEFAULT_BUFFER_LIMIT_BYTES = 32 * 1024 * 1024
/** Largest `proxy_log` message accepted, longer messages are truncated (not rejected). */
export const LOG_MESSAGE_MAX_BYTES = 1024 * 1024
/** Default largest linear memory of one VM (Envoy's 1 GiB); `memory.grow` past it fails. */
export const DEFAULT_MAX_MEMORY_BYTES = 1024 * 1024 * 1024
/** Longest stdout/stderr line of a plugin passed to the logger; the rest of the line is counted, not kept. */
export const WASI_LINE_MAX_BYTES = 64 * 1024
/**
 * Default largest HTTP callout response body (`limits.maxCalloutResponseBytes`); a larger one ends
 * the call as a reset, as Envoy's `ExceedResponseBufferLimit` does.
 */
export const DEFAULT_MAX_CALLOUT_RESPONSE_BYTES = 16 * 1024 * 1024
/**
 * Default cap of the bytes of keys and values one `vm_id` keeps in shared data
 * (`limits.maxSharedDataBytes`). Envoy has none; a plugin writing new keys forever would otherwise
 * grow the host without end.
 */
export const DEFAULT_MAX_SHARED_DATA_BYTES = 64 * 1024 * 1024
/** Default cap of the keys one `vm_id` keeps in shared data (`limits.maxSharedDataKeys`). */
export const DEFAULT_MAX_SHARED_DATA_KEYS = 100_000
/** Default cap of the shared queues one `vm_id` registers (`limits.maxSharedQueues`). */
export const DEFAULT_MAX_SHARED_QUEUES = 1024
/** Default cap of the items waiting in the shared queues of one `vm_id` (`limits.maxSharedQueueItems`). */
export const DEFAULT_MAX_SHARED_QUEUE_ITEMS = 100_000
/** Default cap of the bytes waiting in the shared queues of one `vm_id`, names included (`limits.maxSharedQueueBytes`). */
export const DEFAULT_MAX_SHARED_QUEUE_BYTES = 64 * 1024 * 1024
/**
 * Default cap of the distinct metrics of one host, or of the hosts sharing a registry
 * (`limits.maxMetrics`); Envoy bounds its stats with `stats_matcher`, past which plugins get null
 * stats, as here.
 */
export const DEFAULT_MAX_METRICS = 10_000
/** Longest metric name kept, in bytes; a longer name gets a null stat, as one past `limits.maxMetrics`. */
export const METRIC_NAME_MAX_BYTES = 1024
