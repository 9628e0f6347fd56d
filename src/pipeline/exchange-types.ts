/**
 * What an {@link Exchange} gives and takes: phase results, final responses, sinks.
 * @module
 */
import type { HeaderMap } from '../host/header-map.js'
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
