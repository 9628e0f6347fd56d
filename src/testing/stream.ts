/**
 * One stream context of a plugin, driven one callback at a time with exactly the inputs the test
 * gives (no pseudo-header is added, no name lower-cased, no chain semantics), and the action each
 * callback returned.
 * @module
 */
import { DataAction, HeaderAction } from '../abi/enums.js'
import type { HeaderPair } from '../abi/pairs.js'
import { ProxyWasmHostError, type PluginFailureError } from '../errors.js'
import type { Clock } from '../host/clock.js'
import type { LocalResponse, StreamContext, StreamInfo } from '../host/context.js'
import { HeaderMap } from '../host/header-map.js'
import { Plugin } from '../host/plugin.js'
import { flush } from './flush.js'

/** Name of an action a header callback returns (Envoy `FilterHeadersStatus`), or the number for an unknown one. */
export type HeaderActionName = keyof typeof HeaderAction | `${number}`
/** Name of an action a body callback returns (Envoy `FilterDataStatus`), or the number for an unknown one. */
export type DataActionName = keyof typeof DataAction | `${number}`
/** Name of an action a trailers callback returns. */
export type TrailersActionName = 'Continue' | 'StopIteration' | `${number}`
/** Any action name. */
export type ActionName = HeaderActionName | DataActionName | TrailersActionName

/** Headers as a stream callback gets them: pairs in order, names exactly as given. */
export type ExactHeaders = ReadonlyArray<readonly [string, string]> | Record<string, string>

/** Options of a header or body callback. */
export interface CallbackOptions {
  /** The `end_of_stream` argument (default false for headers with a body to come, true otherwise; see each method). */
  endOfStream?: boolean
}

/** Request facts a stream reads as properties. */
export type StreamOptions = Pick<StreamInfo, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort' | 'protocol' | 'route' | 'cluster' | 'properties'>

/** One side (request or response) of a {@link StreamTester}. */
export interface StreamSide {
  /** The headers map as the plugin left it (undefined until the headers callback ran). */
  readonly headers: HeaderMap | undefined
  /** Body bytes the plugin let through so far (Continue), after its edits. */
  readonly body: Buffer
  /** The trailers map as the plugin left it. */
  readonly trailers: HeaderMap | undefined
}

const EMPTY: Buffer = Buffer.alloc(0)
const HEADER_NAMES = invert(HeaderAction)
const DATA_NAMES = invert(DataAction)

/**
 * Drives one stream context of a plugin callback by callback. Create it with
 * {@link PluginTester.stream}.
 *
 * @example
 * ```ts
 * const s = t.stream()
 * await s.requestHeaders([[':path', '/x'], ['Hello', 'World']], { endOfStream: false })
 * s.lastAction // 'Continue'
 * s.request.headers?.get('hello') // undefined: names are exact
 * ```
 */
export class StreamTester {
  /** The stream's context id (log lines of its callbacks carry it). */
  readonly contextId: number
  /** Every action returned so far, oldest first, with the callback's name. */
  readonly actions: Array<{ callback: string; action: ActionName }> = []
  /** `proxy_continue_stream` calls, in order: `request` (ResumeHttpRequest) or `response`. */
  readonly resumes: Array<'request' | 'response'> = []
  /** The local reply the plugin sent, if any. */
  localResponse: LocalResponse | undefined
  /** Whether the plugin called `proxy_close_stream`. */
  closed = false
  /** The failure (trap) that ended the plugin's VM during this stream, if any. */
  failure: PluginFailureError | undefined
  readonly #plugin: Plugin
  readonly #ctx: StreamContext
  readonly #req = { body: [] as Buffer[], buffered: undefined as Buffer | undefined }
  readonly #res = { body: [] as Buffer[], buffered: undefined as Buffer | undefined }
  #done = false

  /** @internal use {@link PluginTester.stream}. */
  constructor(plugin: Plugin, clock: Clock, info: StreamOptions) {
    if (!plugin.ready()) {
      throw new ProxyWasmHostError('PWH_ERR_PLUGIN_FAILED', `plugin "${plugin.name}" cannot serve a stream: ${plugin.failure?.message ?? 'it is closed'}`)
    }
    this.#plugin = plugin
    const http = Plugin.httpState({ ...info }, new HeaderMap(), plugin.bufferLimit, clock)
    // Exact inputs: the request headers map starts empty until requestHeaders() gives it.
    http.requestHeaders = new HeaderMap()
    this.#ctx = plugin.newStream(http)
    this.contextId = this.#ctx.id
    this.#ctx.listener = (ctx) => this.#observe(ctx)
  }

  /** The last action a callback returned. */
  get lastAction(): ActionName | undefined {
    return this.actions[this.actions.length - 1]?.action
  }

  /** The request side as the plugin left it. */
  get request(): StreamSide {
    const h = this.#ctx.http
    return { headers: this.#calledReqHeaders ? h.requestHeaders : undefined, body: Buffer.concat(this.#req.body), trailers: h.requestTrailers }
  }

  /** The response side as the plugin left it. */
  get response(): StreamSide {
    const h = this.#ctx.http
    return { headers: h.responseHeaders, body: Buffer.concat(this.#res.body), trailers: h.responseTrailers }
  }

  /** Properties the plugin set with `proxy_set_property` (filter state). */
  get filterState(): ReadonlyMap<string, Buffer> {
    return this.#ctx.http.filterState
  }

  #calledReqHeaders = false

  /**
   * Calls `proxy_on_request_headers` with exactly `headers`.
   * @param headers - pairs (or a record) in order; names are not lower-cased, nothing is added
   * @param options - `endOfStream` (default true: a request without body)
   * @returns the action the plugin returned
   * @throws `PWH_ERR_TESTING_STREAM_DONE` after {@link StreamTester.done}
   */
  async requestHeaders(headers: ExactHeaders, options: CallbackOptions = {}): Promise<HeaderActionName> {
    this.#check()
    const h = this.#ctx.http
    h.requestHeaders = exactMap(headers)
    this.#calledReqHeaders = true
    const eos = options.endOfStream ?? true
    if (eos) h.requestComplete = true
    const r = this.#call('proxy_on_request_headers', h.requestHeaders.size, eos)
    if (r === HeaderAction.Continue || r === HeaderAction.ContinueAndEndStream) h.requestHeadersSent = true
    return this.#headerAction('proxy_on_request_headers', r)
  }

  /**
   * Calls `proxy_on_request_body` with `chunk` as the body buffer. When the plugin's previous body
   * callback buffered (StopIterationAndBuffer/Watermark), the buffer holds that data followed by
   * `chunk` and its size is passed, as Envoy does.
   * @param chunk - body bytes
   * @param options - `endOfStream` (default true)
   * @returns the action the plugin returned
   * @throws `PWH_ERR_TESTING_STREAM_DONE`
   */
  async requestBody(chunk: string | Uint8Array, options: CallbackOptions = {}): Promise<DataActionName> {
    return this.#body(true, chunk, options.endOfStream ?? true)
  }

  /**
   * Calls `proxy_on_request_trailers` with exactly `trailers`.
   * @param trailers - pairs or a record
   * @returns the action the plugin returned
   * @throws `PWH_ERR_TESTING_STREAM_DONE`
   */
  async requestTrailers(trailers: ExactHeaders): Promise<TrailersActionName> {
    this.#check()
    const h = this.#ctx.http
    h.requestTrailers = exactMap(trailers)
    h.requestComplete = true
    const r = this.#call('proxy_on_request_trailers', h.requestTrailers.size, false)
    return this.#trailersAction('proxy_on_request_trailers', r)
  }

  /**
   * Calls `proxy_on_response_headers` with exactly `headers` (give `:status` yourself).
   * @param headers - pairs or a record
   * @param options - `endOfStream` (default true)
   * @returns the action the plugin returned
   * @throws `PWH_ERR_TESTING_STREAM_DONE`
   */
  async responseHeaders(headers: ExactHeaders, options: CallbackOptions = {}): Promise<HeaderActionName> {
    this.#check()
    const h = this.#ctx.http
    h.requestHeadersSent = true
    h.responseHeaders = exactMap(headers)
    const r = this.#call('proxy_on_response_headers', h.responseHeaders.size, options.endOfStream ?? true)
    if (r === HeaderAction.Continue || r === HeaderAction.ContinueAndEndStream) h.responseHeadersSent = true
    return this.#headerAction('proxy_on_response_headers', r)
  }

  /**
   * Calls `proxy_on_response_body` (buffering as {@link StreamTester.requestBody}).
   * @param chunk - body bytes
   * @param options - `endOfStream` (default true)
   * @returns the action the plugin returned
   * @throws `PWH_ERR_TESTING_STREAM_DONE`
   */
  async responseBody(chunk: string | Uint8Array, options: CallbackOptions = {}): Promise<DataActionName> {
    return this.#body(false, chunk, options.endOfStream ?? true)
  }

  /**
   * Calls `proxy_on_response_trailers` with exactly `trailers`.
   * @param trailers - pairs or a record
   * @returns the action the plugin returned
   * @throws `PWH_ERR_TESTING_STREAM_DONE`
   */
  async responseTrailers(trailers: ExactHeaders): Promise<TrailersActionName> {
    this.#check()
    const h = this.#ctx.http
    h.responseTrailers = exactMap(trailers)
    const r = this.#call('proxy_on_response_trailers', h.responseTrailers.size, false)
    return this.#trailersAction('proxy_on_response_trailers', r)
  }

  /** Ends the stream: `proxy_on_log`, `proxy_on_done`, `proxy_on_delete`. Idempotent. */
  done(): void {
    if (this.#done) return
    this.#done = true
    this.#ctx.http.endMs ??= this.#ctx.http.clock.now()
    const err = this.#plugin.finishStream(this.#ctx)
    if (err) this.failure ??= err
  }

  /** Whether {@link StreamTester.done} ran. */
  get finished(): boolean {
    return this.#done
  }

  async #body(req: boolean, input: string | Uint8Array, eos: boolean): Promise<DataActionName> {
    this.#check()
    const side = req ? this.#req : this.#res
    const chunk = typeof input === 'string' ? Buffer.from(input) : Buffer.from(input)
    const buffer = side.buffered ? Buffer.concat([side.buffered, chunk]) : chunk
    side.buffered = undefined
    const ctx = this.#ctx
    if (req) ctx.requestBody = buffer
    else ctx.responseBody = buffer
    if (req && eos) ctx.http.requestComplete = true
    const name = req ? 'proxy_on_request_body' : 'proxy_on_response_body'
    let after: Buffer = EMPTY
    let r: number
    try {
      r = this.#call(name, buffer.byteLength, eos)
      after = (req ? ctx.requestBody : ctx.responseBody) ?? EMPTY
    } finally {
      if (req) ctx.requestBody = undefined
      else ctx.responseBody = undefined
    }
    if (r === DataAction.Continue) {
      side.body.push(after)
      if (req) ctx.http.requestHeadersSent = true
      else ctx.http.responseHeadersSent = true
    } else if (r === DataAction.StopIterationAndBuffer || r === DataAction.StopIterationAndWatermark) side.buffered = after
    await flush()
    return this.#record(name, DATA_NAMES[r] ?? (String(r) as `${number}`)) as DataActionName
  }

  #call(name: string, a: number, eos: boolean): number {
    try {
      return this.#plugin.callStream(this.#ctx, name, 0, a, eos ? 1 : 0)
    } catch (err) {
      this.failure ??= err as PluginFailureError
      throw err
    } finally {
      this.#observe(this.#ctx)
    }
  }

  async #headerAction(name: string, r: number): Promise<HeaderActionName> {
    await flush()
    return this.#record(name, HEADER_NAMES[r] ?? (String(r) as `${number}`)) as HeaderActionName
  }

  async #trailersAction(name: string, r: number): Promise<TrailersActionName> {
    await flush()
    return this.#record(name, r === 0 ? 'Continue' : r === 1 ? 'StopIteration' : (String(r) as `${number}`)) as TrailersActionName
  }

  #record(callback: string, action: ActionName): ActionName {
    this.actions.push({ callback, action })
    return action
  }

  #observe(ctx: StreamContext): void {
    if (ctx.vm.failure) this.failure ??= ctx.vm.failure
    if (ctx.localResponse) {
      this.localResponse ??= ctx.localResponse
      ctx.localResponse = undefined
    }
    if (ctx.continueRequest) {
      ctx.continueRequest = false
      this.resumes.push('request')
    }
    if (ctx.continueResponse) {
      ctx.continueResponse = false
      this.resumes.push('response')
    }
    if (ctx.closeRequested) {
      ctx.closeRequested = false
      this.closed = true
    }
  }

  #check(): void {
    if (this.#done) throw new ProxyWasmHostError('PWH_ERR_TESTING_STREAM_DONE', `stream ${this.contextId} already ended (done() ran); start another with t.stream()`)
  }
}

function exactMap(headers: ExactHeaders): HeaderMap {
  const pairs: HeaderPair[] = Array.isArray(headers)
    ? (headers as ReadonlyArray<readonly [string, string]>).map(([k, v]) => [String(k), String(v)])
    : Object.entries(headers as Record<string, string>).map(([k, v]) => [k, String(v)])
  return HeaderMap.fromPairs(pairs)
}

function invert<T extends Record<string, number>>(o: T): Record<number, keyof T> {
  const out: Record<number, keyof T> = {}
  for (const k of Object.keys(o) as Array<keyof T>) out[o[k]!] = k
  return out
}
