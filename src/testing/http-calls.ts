/**
 * A recording {@link HttpCallDispatcher}: every callout a plugin makes waits, recorded, until the
 * test answers it with `respond()` or `fail()`. The host's own callout code runs unchanged.
 * @module
 */
import type { HeaderPair } from '../abi/pairs.js'
import { ProxyWasmHostError } from '../errors.js'
import { HeaderMap, type HeadersInit } from '../host/header-map.js'
import type { Clock } from '../host/clock.js'
import type { HttpCallDispatcher, HttpCallout, HttpCalloutResult } from '../host/services.js'
import { CallList, Settle, timeOut, type CallState, type RecordedCall } from './call-list.js'
import { flush } from './flush.js'

/** The answer given to {@link RecordedHttpCall.respond}. */
export interface HttpCallReply {
  /** `:status` (default 200). */
  status?: number
  /** Response headers (names are lower-cased, as they reach the plugin). */
  headers?: HeadersInit
  /** Response body. */
  body?: string | Uint8Array
  /** Response trailers. */
  trailers?: HeadersInit
}

/**
 * How a callout fails:
 * - `timeout`: the call's timeout passes. With a fake clock the clock moves to the call's deadline
 *   and the host answers the plugin as Envoy does (504); with a real clock the test waits for it.
 * - `reset`: the upstream reset the stream; the plugin gets an empty response and `proxy_get_status` 11 `reset`.
 * - `connect-failure`: nothing listens there; the host answers 503 as Envoy does.
 */
export type HttpCallFailure = 'timeout' | 'reset' | 'connect-failure'

/**
 * One callout a plugin made (`proxy_http_call` / `proxy_dispatch_http_call`).
 *
 * @example
 * ```ts
 * const pending = t.request({ path: '/' })
 * t.httpCalls[0].upstream // 'outbound|80||auth.static'
 * await t.httpCalls[0].respond({ status: 200, headers: { 'x-token': 'abc' } })
 * ```
 */
export interface RecordedHttpCall extends RecordedCall {
  /** The upstream (cluster) name exactly as the plugin gave it. */
  readonly upstream: string
  /** Request headers as the plugin sent them (`:method`, `:path`, `:authority` included). */
  readonly headers: HeaderMap
  /** `:method`. */
  readonly method: string | undefined
  /** `:path`. */
  readonly path: string | undefined
  /** `:authority`. */
  readonly authority: string | undefined
  /** Request body. */
  readonly body: Buffer
  /** Request trailers. */
  readonly trailers: HeaderMap
  /** The plugin's timeout in ms (0 for none). */
  readonly timeoutMs: number
  /** Name of the calling plugin. */
  readonly plugin: string
  /** The token the plugin got. */
  readonly token: number
  /**
   * Answers the call; the plugin's `proxy_on_http_call_response` runs.
   * @param reply - status (default 200), headers, body, trailers
   * @returns a promise that resolves once the plugin handled the reply
   * @throws `PWH_ERR_TESTING_CALL_SETTLED` when the call was answered or cancelled already
   */
  respond(reply?: HttpCallReply): Promise<void>
  /**
   * Fails the call (see {@link HttpCallFailure}).
   * @param kind - `timeout`, `reset` or `connect-failure`
   * @returns a promise that resolves once the plugin handled the outcome
   * @throws `PWH_ERR_TESTING_CALL_SETTLED`; `PWH_ERR_TESTING_CALL_NO_TIMEOUT` for a `timeout` of a
   * call that has none (`timeoutMs` 0, which Envoy never times out)
   */
  fail(kind: HttpCallFailure): Promise<void>
}

/** Options of {@link HttpCallRecorder}. */
export interface HttpCallRecorderOptions {
  /** Upstream names that exist; others get `BadArgument` at once, as Envoy answers an unknown cluster (default: every name exists). */
  upstreams?: readonly string[]
}

/** @internal the recorder the testers give the host as `httpDispatcher`. */
export class HttpCallRecorder implements HttpCallDispatcher {
  readonly calls = new CallList<RecordedHttpCall>()
  readonly #known: Set<string> | undefined
  readonly #clock: Clock

  constructor(clock: Clock, options: HttpCallRecorderOptions = {}) {
    this.#clock = clock
    this.#known = options.upstreams ? new Set(options.upstreams) : undefined
  }

  dispatch(call: HttpCallout): Promise<HttpCalloutResult> | undefined {
    if (this.#known && !this.#known.has(call.upstream)) return undefined
    const settle = new Settle<HttpCalloutResult>(`HTTP call ${call.token} to ${call.upstream}`, call.signal)
    const headers = new HeaderMap(call.headers)
    const clock = this.#clock
    const startedAt = clock.now()
    const recorded: RecordedHttpCall = {
      get state(): CallState {
        return settle.state
      },
      upstream: call.upstream,
      headers,
      method: headers.get(':method'),
      path: headers.get(':path'),
      authority: headers.get(':authority'),
      body: call.body,
      trailers: new HeaderMap(call.trailers),
      timeoutMs: call.timeoutMs,
      plugin: call.plugin,
      token: call.token,
      async respond(reply = {}) {
        settle.settle(toResult(reply))
        await flush()
      },
      async fail(kind) {
        if (kind === 'reset') settle.settle({ kind: 'reset', reason: 'reset by the test' })
        else if (kind === 'connect-failure') settle.settle({ kind: 'connect-failure', reason: 'connection refused (test)' })
        else if (kind === 'timeout') {
          await timeOut(settle as Settle<unknown>, call, clock, startedAt,
            `HTTP call ${call.token} to ${call.upstream} has no timeout (timeout_ms 0), and Envoy never times such a call out; answer it with respond() or fail('reset')`)
        }
        else throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `fail() takes 'timeout', 'reset' or 'connect-failure', got ${JSON.stringify(kind)}`)
        await flush()
      },
    }
    this.calls.record(recorded)
    return settle.promise
  }
}

function toResult(reply: HttpCallReply): HttpCalloutResult {
  const headers: HeaderPair[] = [[':status', String(reply.status ?? 200)]]
  for (const [k, v] of new HeaderMap(reply.headers ?? {})) if (k !== ':status') headers.push([k, v])
  const body = reply.body === undefined ? Buffer.alloc(0) : typeof reply.body === 'string' ? Buffer.from(reply.body) : Buffer.from(reply.body)
  const trailers: HeaderPair[] = [...new HeaderMap(reply.trailers ?? {})].map(([k, v]) => [k, v])
  return { kind: 'response', headers, body, trailers }
}
