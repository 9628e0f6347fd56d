/**
 * What an {@link Exchange} gives and takes: phase results, final responses, sinks, set-up.
 * @module
 */
import type { PluginFailureError } from '../errors.js'
import type { HttpState } from '../host/context.js'
import type { HeaderMap, HeadersInit } from '../host/header-map.js'
import type { Plugin } from '../host/plugin.js'
import type { Exchange } from './exchange.js'

/** What came out of the plugin chain during one exchange call. */
export interface PhaseResult {
  /**
   * - `continue`: the input went through every plugin (or is buffered by one that asked for more body)
   * - `held`: a plugin holds the headers until more body arrives (feed the body)
   * - `local`: a plugin answered; send `localResponse` to the client (the upstream is not called / is discarded)
   * - `closed`: a plugin reset the stream (`proxy_close_stream`, or a local reply after headers were sent)
   */
  action: 'continue' | 'held' | 'local' | 'closed'
  /** Headers released by this call (request side: toward the upstream; response side: toward the client). */
  headers?: HeaderMap
  /** Body bytes released by this call, in order. */
  body: Buffer[]
  /** Trailers released by this call. */
  trailers?: HeaderMap
  /** Whether the end of this direction was released. */
  endOfStream: boolean
  /** The local response, after the response phase of the plugins ran on it. */
  localResponse?: FinalResponse
}

/** A complete response produced by the plugins. */
export interface FinalResponse {
  /** HTTP status. */
  status: number
  /** Response headers, `:status` first. */
  headers: HeaderMap
  /** Body. */
  body: Buffer
  /** `response.code_details` (e.g. the details given to `proxy_send_local_response`). */
  details: string
  /** The gRPC status a plugin gave `proxy_send_local_response` (absent for none, -1). */
  grpcStatus?: number
}

/**
 * The phase methods of an {@link Exchange} as {@link Exchange.direct} offers them: the result when
 * the chain settled at once, else a promise of it; errors are thrown.
 * @internal
 */
export interface DirectPhases {
  requestHeaders(endOfStream?: boolean): PhaseResult | Promise<PhaseResult>
  requestBody(chunk: Uint8Array, endOfStream?: boolean): PhaseResult | Promise<PhaseResult>
  requestTrailers(trailers: HeadersInit): PhaseResult | Promise<PhaseResult>
  responseHeaders(status: number, headers?: HeadersInit, endOfStream?: boolean): PhaseResult | Promise<PhaseResult>
  /** `responseHeaders` with a map whose first entry is `:status`, handed over (not copied). */
  responseHeadersMap(map: HeaderMap, endOfStream?: boolean): PhaseResult | Promise<PhaseResult>
  responseBody(chunk: Uint8Array, endOfStream?: boolean): PhaseResult | Promise<PhaseResult>
  responseTrailers(trailers: HeadersInit): PhaseResult | Promise<PhaseResult>
}

/** Receives released data as it leaves the chain (optional; results also carry it). */
export interface ExchangeSink {
  /** Request headers left the chain. */
  requestHeaders?(headers: HeaderMap, endOfStream: boolean): void
  /** A request body chunk left the chain. */
  requestData?(chunk: Buffer, endOfStream: boolean): void
  /** Request trailers left the chain. */
  requestTrailers?(trailers: HeaderMap): void
  /** Response headers left the chain. */
  responseHeaders?(headers: HeaderMap, endOfStream: boolean): void
  /** A response body chunk left the chain. */
  responseData?(chunk: Buffer, endOfStream: boolean): void
  /** Response trailers left the chain. */
  responseTrailers?(trailers: HeaderMap): void
}

/** Options of an exchange, set by the pipeline. @internal */
export interface ExchangeSetup {
  plugins: Plugin[]
  responseOrder: 'reverse' | 'forward'
  http: HttpState
  pauseTimeoutMs: number
  allowHeaderStopIteration: boolean
  sink?: ExchangeSink | undefined
  onFailure?: (err: PluginFailureError) => void
}
