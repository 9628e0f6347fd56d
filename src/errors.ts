/**
 * Every error the host throws carries a stable `code` (`PWH_ERR_<AREA>_<WHAT>`); match on `err.code`,
 * not on `instanceof`, since two copies of the library may be loaded. Codes are public API and are
 * listed in `docs/errors.md`.
 * @module
 */

/** All error codes, with the one-line meaning documented in `docs/errors.md`. */
export const ErrorCodes = {
  PWH_ERR_PLUGIN_READ: 'The plugin binary could not be read (missing file, unreadable URL).',
  PWH_ERR_PLUGIN_TOO_LARGE: 'The plugin binary is larger than `limits.maxWasmBytes`.',
  PWH_ERR_PLUGIN_INVALID_WASM: 'The plugin binary is not a valid WebAssembly module.',
  PWH_ERR_PLUGIN_NO_ABI_MARKER: 'The module exports no known `proxy_abi_version_*` marker.',
  PWH_ERR_PLUGIN_MISSING_EXPORT: 'The module lacks an export the ABI requires (`memory`, an allocator).',
  PWH_ERR_PLUGIN_CHECKSUM: 'The binary does not match the SHA-256 digest the configuration gives (`sha256`).',
  PWH_ERR_PLUGIN_START_FAILED: 'Start-up failed: `_initialize`/`_start` trapped or `proxy_on_vm_start` returned false.',
  PWH_ERR_PLUGIN_CONFIGURE_FAILED: '`proxy_on_configure` rejected the plugin configuration.',
  PWH_ERR_PLUGIN_TRAP: 'The plugin trapped (or panicked) inside a callback; its VM is marked failed.',
  PWH_ERR_PLUGIN_EXIT: 'The plugin called WASI `proc_exit`; its VM is marked failed.',
  PWH_ERR_PLUGIN_FAILED: 'A callback was requested from a VM that already failed.',
  PWH_ERR_PLUGIN_BUSY: 'A call into the plugin was made while the same VM was already running (re-entry).',
  PWH_ERR_CONFIG_INVALID: 'An option or a plugin configuration value has the wrong shape.',
  PWH_ERR_CONFIG_SCHEMA: 'A plugin configuration does not satisfy the plugin\'s JSON Schema.',
  PWH_ERR_CONFIG_FILE: 'A declarative pipeline file could not be read or parsed.',
  PWH_ERR_WASI_PROVIDER: 'The selected WASI provider could not be set up.',
  PWH_ERR_EXCHANGE_STATE: 'An exchange method was called out of order (e.g. body after end of stream).',
  PWH_ERR_EXCHANGE_ABORTED: 'The exchange was aborted before it completed.',
  PWH_ERR_BUFFER_LIMIT: 'A body buffered for a plugin exceeded the buffer limit (413 for requests, 500 for responses).',
  // Isolation: CPU and memory limits, plugins refused for what they import.
  PWH_ERR_PLUGIN_CPU_LIMIT: 'A guest call ran longer than `limits.callbackTimeoutMs`; its VM is marked failed.',
  PWH_ERR_PLUGIN_MEMORY_LIMIT: 'The module\'s initial memory is larger than `limits.maxMemoryBytes`.',
  PWH_ERR_PLUGIN_UNIMPLEMENTED: 'With `strictHostcalls`, the plugin imports hostcalls this host answers `Unimplemented`.',
  PWH_ERR_PLUGIN_UNSUPPORTED: 'The module does something the host refuses to run (a blocking wait on shared memory).',
  // Upstreams (callouts, resolvers)
  PWH_ERR_UPSTREAM_RESOLVE: 'A resolver could not list the endpoints of an upstream name (registry unreachable, access denied, DNS server silent).',
  // Redis, shared state, metrics, workers
  PWH_ERR_STATE_REDIS: 'The Redis-backed shared state cannot start (ioredis missing).',
  PWH_ERR_REDIS_TARGET: 'A `redis.clusters` target (or `redis.fallback`) is not a usable redis:// URL or node list.',
  // testing (proxy-wasm-host/testing)
  PWH_ERR_TESTING_CALL_SETTLED: 'A recorded callout or Redis call was answered twice, or after the host gave up on it.',
  PWH_ERR_TESTING_CALL_NO_TIMEOUT: '`fail(\'timeout\')` on a recorded callout or Redis call that has no timeout (`timeout_ms` 0).',
  PWH_ERR_TESTING_STREAM_DONE: 'A stream tester was used after its `done()`.',
  PWH_ERR_TESTING_CLOSED: 'A tester was used after its `close()`.',
} as const

/** A stable error code. */
export type ErrorCode = keyof typeof ErrorCodes

/** Base class of every error thrown by proxy-wasm-host. */
export class ProxyWasmHostError extends Error {
  /** Stable code, e.g. `PWH_ERR_PLUGIN_TRAP`. */
  readonly code: ErrorCode

  /**
   * @param code - a code from {@link ErrorCodes}
   * @param message - what happened and what to change
   * @param options - `cause`: the underlying error
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ProxyWasmHostError'
    this.code = code
  }
}

/** Thrown when a plugin traps or exits; `plugin` names the plugin, `callback` the export that failed. */
export class PluginFailureError extends ProxyWasmHostError {
  /** Name of the plugin whose VM failed. */
  readonly plugin: string
  /** The export that was running (e.g. `proxy_on_request_headers`). */
  readonly callback: string
  /** For `PWH_ERR_PLUGIN_EXIT`: the code the plugin gave `proc_exit`. */
  exitCode?: number

  /**
   * @param code - `PWH_ERR_PLUGIN_TRAP`, `PWH_ERR_PLUGIN_EXIT`, `PWH_ERR_PLUGIN_CPU_LIMIT` or `PWH_ERR_PLUGIN_FAILED`
   * @param plugin - plugin name
   * @param callback - export name
   * @param message - description
   * @param options - `cause`
   */
  constructor(code: ErrorCode, plugin: string, callback: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'PluginFailureError'
    this.plugin = plugin
    this.callback = callback
  }
}

/** Whether `err` is an error of this library with the given code. */
export function isProxyWasmHostError(err: unknown, code?: ErrorCode): err is ProxyWasmHostError {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' &&
    (err as { code: string }).code.startsWith('PWH_ERR_') && (code === undefined || (err as { code: string }).code === code)
}
