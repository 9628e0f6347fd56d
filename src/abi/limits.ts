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
