/**
 * One request through an ordered list of plugins: request headers → body → trailers, then response
 * headers → body → trailers, with Envoy's filter-chain semantics (ABI §3.3, §6.3, §6.4): per-plugin
 * iteration state, body buffering only where a plugin asks for it, pause until
 * `proxy_continue_stream`, local responses, and `on_log`/`on_done`/`on_delete` for every stream.
 * @module
 */
import { DataAction, HeaderAction } from '../abi/enums.js'
import { ProxyWasmHostError, type PluginFailureError } from '../errors.js'
import type { ClockTimer } from '../host/clock.js'
import type { HttpState, LocalResponse, StreamContext } from '../host/context.js'
import { HeaderMap, type HeadersInit } from '../host/header-map.js'
import type { Plugin } from '../host/plugin.js'
import { actionChannel, actionOf, publishAction } from '../host/diagnostics.js'
import { LocalReply } from './final-response.js'
import { Callback, callbackName } from '../host/vm.js'
import { Dir, headersEvent, Out, Result, Slot, T, Waiter, type Ev } from './exchange-state.js'
import type { ExchangeSink, FinalResponse, PhaseResult } from './exchange-types.js'

export type { ExchangeSink, FinalResponse, PhaseResult } from './exchange-types.js'

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

const EMPTY = Buffer.alloc(0)

/** The phase implementations, reached from {@link Direct} (set in the static block of {@link Exchange}). */
let phases: {
  requestHeaders(ex: Exchange, endOfStream: boolean): PhaseResult | Promise<PhaseResult>
  requestBody(ex: Exchange, chunk: Uint8Array, endOfStream: boolean): PhaseResult | Promise<PhaseResult>
  requestTrailers(ex: Exchange, trailers: HeadersInit): PhaseResult | Promise<PhaseResult>
  responseHeaders(ex: Exchange, status: number, headers: HeadersInit, endOfStream: boolean): PhaseResult | Promise<PhaseResult>
  responseHeadersMap(ex: Exchange, map: HeaderMap, endOfStream: boolean): PhaseResult | Promise<PhaseResult>
  responseBody(ex: Exchange, chunk: Uint8Array, endOfStream: boolean): PhaseResult | Promise<PhaseResult>
  responseTrailers(ex: Exchange, trailers: HeadersInit): PhaseResult | Promise<PhaseResult>
}

/** {@link Exchange.direct}: one object per exchange, its methods on the prototype. */
class Direct implements DirectPhases {
  constructor(readonly ex: Exchange) {}
  requestHeaders(endOfStream = false) {
    return phases.requestHeaders(this.ex, endOfStream)
  }
  requestBody(chunk: Uint8Array, endOfStream = false) {
    return phases.requestBody(this.ex, chunk, endOfStream)
  }
  requestTrailers(trailers: HeadersInit) {
    return phases.requestTrailers(this.ex, trailers)
  }
  responseHeaders(status: number, headers: HeadersInit = {}, endOfStream = false) {
    return phases.responseHeaders(this.ex, status, headers, endOfStream)
  }
  responseHeadersMap(map: HeaderMap, endOfStream = false) {
    return phases.responseHeadersMap(this.ex, map, endOfStream)
  }
  responseBody(chunk: Uint8Array, endOfStream = false) {
    return phases.responseBody(this.ex, chunk, endOfStream)
  }
  responseTrailers(trailers: HeadersInit) {
    return phases.responseTrailers(this.ex, trailers)
  }
}

/**
 * One request/response through the plugins. Feed the request, then the response; every call
 * resolves once its input went as far as it can without outside help (a plugin paused for a timer
 * or callout makes it wait for the resume). Call {@link Exchange.done} at the end, or
 * {@link Exchange.abort} when the client goes away: `on_log`, `on_done` and `on_delete` run for every
 * plugin either way.
 *
 * @example
 * ```ts
 * const ex = pipeline.exchange({ method: 'GET', path: '/get', authority: 'example.com' })
 * const r = await ex.requestHeaders(true)
 * if (r.action === 'local') return send(r.localResponse)
 * // … call the upstream with ex.requestHeadersMap …
 * const resp = await ex.responseHeaders(200, { 'content-type': 'text/plain' }, false)
 * const body = await ex.responseBody(Buffer.from('hi'), true)
 * ex.done()
 * ```
 */
export class Exchange {
  readonly #s: ExchangeSetup
  readonly #req: Dir
  readonly #res: Dir
  #pumping = false
  #again = false
  /** Contexts that told the exchange about deferred work (continue, close, local reply); made when needed. */
  #notified: Set<StreamContext> | undefined
  #final: { action: 'local' | 'closed'; response?: FinalResponse } | undefined
  #localPending: { response: FinalResponse; viaChain: boolean } | undefined
  #localBody: Buffer[] | undefined
  #finished = false
  #timer: ClockTimer | undefined
  #hadRequestTrailers = false
  #hadResponseTrailers = false
  #failures: PluginFailureError[] | undefined
  #deadPlugin: Plugin | undefined
  /** @internal see {@link DirectPhases}. */
  readonly direct: DirectPhases

  /** @internal use {@link PluginPipeline.exchange}. */
  constructor(setup: ExchangeSetup) {
    this.#s = setup
    const plugins = setup.plugins
    const n = plugins.length
    const req = new Array<Slot>(n)
    const res = new Array<Slot>(n)
    let listener: ((c: StreamContext) => void) | undefined
    for (let i = 0; i < n; i++) {
      const plugin = plugins[i]!
      let ctx: StreamContext | undefined
      try {
        if (plugin.ready()) {
          ctx = plugin.newStream(setup.http)
          ctx.listener = listener ??= (c) => this.#notify(c)
        }
      } catch {
        // Never an exception out of exchange(): a plugin that cannot give a VM gets its fail strategy.
        ctx = undefined
      }
      // A plugin that failed earlier and is not FAIL_OPEN answers 500 (a failed VM never serves as if nothing happened).
      if (ctx === undefined && plugin.failStrategy !== 'FAIL_OPEN') this.#deadPlugin ??= plugin
      req[i] = new Slot(plugin, ctx)
      res[i] = new Slot(plugin, ctx)
    }
    this.#req = new Dir(true, req)
    this.#res = new Dir(false, setup.responseOrder === 'forward' ? res : res.reverse())
    this.direct = new Direct(this)
  }

  /** Failures seen in this exchange (a trapped plugin, whatever its fail strategy). */
  get failures(): PluginFailureError[] {
    return (this.#failures ??= [])
  }

  /** The request headers as the plugins left them (pseudo-headers included). */
  get requestHeadersMap(): HeaderMap {
    return this.#s.http.requestHeaders
  }

  /** The response headers as the plugins left them, once response headers were fed. */
  get responseHeadersMap(): HeaderMap | undefined {
    return this.#s.http.responseHeaders
  }

  /** Request trailers as the plugins left them (may be created by a plugin). */
  get requestTrailersMap(): HeaderMap | undefined {
    return this.#s.http.requestTrailers
  }

  /** Response trailers as the plugins left them. */
  get responseTrailersMap(): HeaderMap | undefined {
    return this.#s.http.responseTrailers
  }

  /** Properties set by plugins with `proxy_set_property` (filter state). */
  get filterState(): ReadonlyMap<string, Buffer> {
    return this.#s.http.filterState
  }

  /** The plugins planned for this request, in request order. */
  get plugins(): readonly Plugin[] {
    return this.#s.plugins
  }

  /** The endpoint (`ip:port`) a plugin pinned this request to with Higress `proxy_set_upstream_override_host`. */
  get upstreamOverrideHost(): string | undefined {
    return this.#s.http.upstreamOverrideHost
  }

  /** @internal shared request state. */
  get http(): HttpState {
    return this.#s.http
  }

  /**
   * Runs the request headers through the plugins.
   * @param endOfStream - true when the request has no body
   * @returns what was released; `local` when a plugin answered
   * @throws `PWH_ERR_EXCHANGE_STATE` when called twice
   */
  requestHeaders(endOfStream = false): Promise<PhaseResult> {
    return settled(() => this.direct.requestHeaders(endOfStream))
  }

  /**
   * Runs a request body chunk through the plugins (no re-chunking: one callback per chunk).
   * @param chunk - bytes
   * @param endOfStream - true for the last chunk (may be empty)
   */
  requestBody(chunk: Uint8Array, endOfStream = false): Promise<PhaseResult> {
    return settled(() => this.direct.requestBody(chunk, endOfStream))
  }

  /** Runs request trailers through the plugins (ends the request). */
  requestTrailers(trailers: HeadersInit): Promise<PhaseResult> {
    return settled(() => this.direct.requestTrailers(trailers))
  }

  /**
   * Runs the upstream's response headers through the plugins (in response order).
   * @param status - HTTP status
   * @param headers - response headers
   * @param endOfStream - true for a body-less response
   */
  responseHeaders(status: number, headers: HeadersInit = {}, endOfStream = false): Promise<PhaseResult> {
    return settled(() => this.direct.responseHeaders(status, headers, endOfStream))
  }

  /** Runs a response body chunk through the plugins. */
  responseBody(chunk: Uint8Array, endOfStream = false): Promise<PhaseResult> {
    return settled(() => this.direct.responseBody(chunk, endOfStream))
  }

  /** Runs response trailers through the plugins. */
  responseTrailers(trailers: HeadersInit): Promise<PhaseResult> {
    return settled(() => this.direct.responseTrailers(trailers))
  }

  static {
    phases = {
      requestHeaders: (ex, endOfStream) => ex.#requestHeaders(endOfStream),
      requestBody: (ex, chunk, endOfStream) => ex.#requestBody(chunk, endOfStream),
      requestTrailers: (ex, trailers) => ex.#requestTrailers(trailers),
      responseHeaders: (ex, status, headers, endOfStream) => ex.#responseHeaders(responseHeaderMap(status, headers), endOfStream),
      responseHeadersMap: (ex, map, endOfStream) => ex.#responseHeaders(map, endOfStream),
      responseBody: (ex, chunk, endOfStream) => ex.#responseBody(chunk, endOfStream),
      responseTrailers: (ex, trailers) => ex.#responseTrailers(trailers),
    }
  }

  #requestHeaders(endOfStream: boolean): PhaseResult | Promise<PhaseResult> {
    if (this.#req.started) throw stateError('requestHeaders() was already called')
    this.#req.started = true
    if (this.#deadPlugin) {
      const p = this.#deadPlugin
      const w = this.#enqueue(this.#req)
      this.#failClosed(p, undefined)
      return this.#result(w)
    }
    return this.#feed(this.#req, headersEvent(endOfStream), endOfStream)
  }

  #requestBody(chunk: Uint8Array, endOfStream: boolean): PhaseResult | Promise<PhaseResult> {
    const buf = toBuffer(chunk)
    this.#s.http.requestBodyBytes += buf.byteLength
    return this.#feed(this.#req, { t: 'd', chunk: buf, eos: endOfStream }, endOfStream)
  }

  #requestTrailers(trailers: HeadersInit): PhaseResult | Promise<PhaseResult> {
    this.#s.http.requestTrailers = new HeaderMap(trailers)
    this.#hadRequestTrailers = true
    return this.#feed(this.#req, T, true)
  }

  #responseHeaders(map: HeaderMap, endOfStream: boolean): PhaseResult | Promise<PhaseResult> {
    if (this.#final) return this.#finalResult(this.#res)
    if (this.#res.started) throw stateError('responseHeaders() was already called')
    this.#s.http.responseHeaders = map
    this.#s.http.responseCodeDetails ??= 'via_upstream'
    this.#res.started = true
    return this.#feed(this.#res, headersEvent(endOfStream), endOfStream)
  }

  #responseBody(chunk: Uint8Array, endOfStream: boolean): PhaseResult | Promise<PhaseResult> {
    if (this.#final) return this.#finalResult(this.#res)
    const buf = toBuffer(chunk)
    this.#s.http.responseBodyBytes += buf.byteLength
    return this.#feed(this.#res, { t: 'd', chunk: buf, eos: endOfStream }, endOfStream)
  }

  #responseTrailers(trailers: HeadersInit): PhaseResult | Promise<PhaseResult> {
    if (this.#final) return this.#finalResult(this.#res)
    this.#s.http.responseTrailers = new HeaderMap(trailers)
    this.#hadResponseTrailers = true
    return this.#feed(this.#res, T, true)
  }

  /** Whether {@link Exchange.done} or {@link Exchange.abort} ran. */
  get finished(): boolean {
    return this.#finished
  }

  /**
   * Ends the exchange: `proxy_on_log`, `proxy_on_done`, `proxy_on_delete` for every plugin (Envoy's
   * order), also for plugins whose callbacks never ran. Idempotent.
   */
  done(): void {
    if (this.#finished) return
    this.#finished = true
    this.#clearTimer()
    this.#s.http.endMs ??= this.#s.http.clock.now()
    for (const slot of this.#req.slots) {
      if (!slot.ctx) continue
      const err = slot.plugin.finishStream(slot.ctx)
      if (err) this.#recordFailure(err)
    }
    if (this.#req.waiters.length || this.#res.waiters.length) {
      const aborted = new Result('closed', [], true)
      for (const w of this.#req.waiters.splice(0)) w.deliver(aborted)
      for (const w of this.#res.waiters.splice(0)) w.deliver(aborted)
    }
  }

  /** The client went away: no further request/response callbacks; `on_log`/`on_done`/`on_delete` still run. */
  abort(): void {
    this.#final ??= { action: 'closed' }
    this.#req.stopped = true
    this.#res.stopped = true
    this.done()
  }

  // ---- engine ------------------------------------------------------------------------------

  #feed(d: Dir, ev: Ev, eos: boolean): PhaseResult | Promise<PhaseResult> {
    if (this.#finished) throw new ProxyWasmHostError('PWH_ERR_EXCHANGE_ABORTED', 'the exchange already ended')
    if (this.#final || d.stopped) return this.#finalResult(d)
    if (d.ended) throw stateError(`${d.req ? 'request' : 'response'} already ended`)
    if (ev.t !== 'h' && !d.started) throw stateError(`${d.req ? 'requestHeaders' : 'responseHeaders'}() must come first`)
    if (eos) d.ended = true
    if (eos && d.req) {
      this.#s.http.requestComplete = true
      this.#s.http.endMs = this.#s.http.clock.now()
    }
    if (ev.t !== 't' && this.#straight() && !(ev.t === 'd' && ev.eos && this.#trailersCreated(d))) return this.#walk(d, ev)
    const w = this.#enqueue(d)
    if (d.slots.length) d.slots[0]!.enqueue(ev)
    else this.#emit(d, -1, ev)
    this.#pump()
    return this.#result(w)
  }

  /**
   * Whether a phase may walk the plugins straight (ADR 0024): nothing waits, nothing is queued or
   * pending, no sink and no diagnostics subscriber; the walk hands over to the general machinery
   * at the first plugin that does anything but continue.
   */
  #straight(): boolean {
    return this.#s.sink === undefined && !this.#pumping && !this.#inLocal && this.#localPending === undefined &&
      this.#timer === undefined && this.#req.waiters.length === 0 && this.#res.waiters.length === 0 &&
      (this.#notified === undefined || this.#notified.size === 0) && !actionChannel.hasSubscribers
  }

  /** The straight walk of headers or a body chunk; the phase result. */
  #walk(d: Dir, ev: Ev): PhaseResult | Promise<PhaseResult> {
    let w: Waiter | undefined
    this.#pumping = true
    this.#again = false
    try {
      w = ev.t === 'h' ? this.#walkHeaders(d, ev) : this.#walkBody(d, ev as Ev & { t: 'd' })
    } finally {
      this.#pumping = false
    }
    if (w !== undefined) return this.#result(w)
    const out = d.out
    const result = new Result('continue', out.body, out.end)
    result.headers = out.headers
    result.trailers = out.trailers
    d.out = new Out()
    return result
  }

  /** Whether a plugin created trailers in direction `d` that have not been sent on yet (they follow the last data). */
  #trailersCreated(d: Dir): boolean {
    const http = this.#s.http
    return d.req ? http.requestTrailers !== undefined && !this.#hadRequestTrailers : http.responseTrailers !== undefined && !this.#hadResponseTrailers
  }

  /** Whether a plugin call left work for the general machinery (a notification, a pump request). */
  #stirred(): boolean {
    return this.#again || (this.#notified !== undefined && this.#notified.size !== 0)
  }

  /** Headers through every plugin that continues; at the first that does not, the waiter of the general path. */
  #walkHeaders(d: Dir, ev: Ev): Waiter | undefined {
    const slots = d.slots
    const http = this.#s.http
    const cb = d.req ? Callback.RequestHeaders : Callback.ResponseHeaders
    const eos = ev.t === 'h' && ev.eos
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!
      const ctx = slot.ctx
      if (slot.skip || ctx === undefined) continue
      if (slot.headers !== 'pending' || slot.queued !== 0) {
        slot.enqueue(ev)
        return this.#handOver(d)
      }
      slot.headersEos = eos
      slot.sawEos = eos
      let r = 0
      if (!ctx.created || ctx.vm.callbacks[cb] !== undefined) {
        try {
          r = slot.plugin.callStream(ctx, cb, 0, (d.req ? http.requestHeaders : http.responseHeaders!).size, eos ? 1 : 0)
        } catch (err) {
          const w = this.#enqueue(d)
          this.#callFailed(d, i, cb, err as PluginFailureError)
          return this.#handOver(d, w)
        }
        if (ctx.localResponse !== undefined || ctx.closeRequested || this.#stirred()) {
          const w = this.#enqueue(d)
          const o = this.#outcome(ctx, cb, r)
          if (o !== undefined) this.#headersAction(d, i, slot, ev, o)
          return this.#handOver(d, w)
        }
      }
      if (r !== HeaderAction.Continue && r !== HeaderAction.ContinueAndEndStream) {
        const w = this.#enqueue(d)
        this.#headersAction(d, i, slot, ev, r)
        return this.#handOver(d, w)
      }
      slot.headers = 'passed'
    }
    this.#emit(d, slots.length - 1, ev)
    return this.#stirred() ? this.#handOver(d) : undefined
  }

  /** A body chunk through every plugin that continues without buffering (as `#walkHeaders` does headers). */
  #walkBody(d: Dir, ev: Ev & { t: 'd' }): Waiter | undefined {
    const slots = d.slots
    const cb = d.req ? Callback.RequestBody : Callback.ResponseBody
    const eos = ev.eos
    let chunk = ev.chunk
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!
      const ctx = slot.ctx
      if (slot.skip || ctx === undefined) continue
      if (slot.headers !== 'passed' || slot.buffering || slot.trailersHeld || slot.queued !== 0) {
        slot.enqueue(chunk === ev.chunk ? ev : { t: 'd', chunk, eos })
        return this.#handOver(d)
      }
      if (eos) slot.sawEos = true
      if (!ctx.created || ctx.vm.callbacks[cb] !== undefined) {
        if (d.req) ctx.requestBody = chunk
        else ctx.responseBody = chunk
        let r: number
        try {
          r = slot.plugin.callStream(ctx, cb, 0, chunk.byteLength, eos ? 1 : 0)
        } catch (err) {
          if (d.req) ctx.requestBody = undefined
          else ctx.responseBody = undefined
          const w = this.#enqueue(d)
          this.#callFailed(d, i, cb, err as PluginFailureError)
          return this.#handOver(d, w)
        }
        const after = (d.req ? ctx.requestBody : ctx.responseBody) ?? EMPTY
        if (d.req) ctx.requestBody = undefined
        else ctx.responseBody = undefined
        if (r !== DataAction.Continue || (eos && this.#trailersCreated(d)) || ctx.localResponse !== undefined || ctx.closeRequested || this.#stirred()) {
          const w = this.#enqueue(d)
          const o = this.#outcome(ctx, cb, r)
          if (o !== undefined) this.#bodyAction(d, i, slot, eos, o, after)
          return this.#handOver(d, w)
        }
        chunk = after
      }
      if (slot.bufferedLen !== 0) {
        slot.buffered = []
        slot.bufferedLen = 0
      }
    }
    this.#emit(d, slots.length - 1, chunk === ev.chunk ? ev : { t: 'd', chunk, eos })
    return this.#stirred() ? this.#handOver(d) : undefined
  }

  /**
   * Hands a straight walk over to the general machinery: the rest of the pump's first round from
   * where the walk stopped (earlier plugins hold nothing), then its usual rounds. Runs while
   * `#pumping` is set.
   */
  #handOver(d: Dir, w: Waiter = this.#enqueue(d)): Waiter {
    this.#run(d)
    if (d.req) this.#run(this.#res)
    if (this.#localPending) this.#startLocal()
    while (this.#stirred()) this.#round()
    return w
  }

  /** Registers a phase call waiting on direction `d`. */
  #enqueue(d: Dir): Waiter {
    const w = new Waiter()
    d.waiters.push(w)
    return w
  }

  /** Settles, then returns the result of `w` when the chain settled at once, else a promise of it. */
  #result(w: Waiter): PhaseResult | Promise<PhaseResult> {
    this.#settle()
    if (w.result) return w.result
    return new Promise<PhaseResult>((resolve) => (w.resolve = resolve))
  }

  #notify(ctx: StreamContext): void {
    ;(this.#notified ??= new Set()).add(ctx)
    this.#pump()
    this.#settle()
  }

  #pump(): void {
    if (this.#pumping) {
      this.#again = true
      return
    }
    this.#pumping = true
    try {
      do {
        this.#round()
      } while (this.#stirred())
    } finally {
      this.#pumping = false
    }
  }

  /** One round of the pump: notifications, then every queued event of both directions. */
  #round(): void {
    this.#again = false
    this.#drainNotifications()
    this.#run(this.#req)
    this.#run(this.#res)
    if (this.#localPending) this.#startLocal()
  }

  /** Delivers the queued events of direction `d`, plugin by plugin. */
  #run(d: Dir): void {
    const slots = d.slots
    for (let i = 0; i < slots.length && !d.stopped; i++) {
      const slot = slots[i]!
      while (!d.stopped && !this.#final) {
        const ev = slot.dequeue()
        if (ev === undefined) break
        this.#deliver(d, i, ev)
      }
    }
  }

  #drainNotifications(): void {
    if (this.#notified === undefined || this.#notified.size === 0) return
    const list = [...this.#notified]
    this.#notified.clear()
    for (const ctx of list) {
      if (this.#finished) return
      const failure = ctx.vm.failure
      if (failure) {
        if (actionChannel.hasSubscribers) publishAction(ctx, 'async', 'failed', failure.code)
        // The VM failed outside this request's callbacks (a callout reply or a tick trapped): the
        // request it paused gets the plugin's fail strategy now, not after the pause timeout.
        for (const d of [this.#res.started ? this.#res : this.#req]) {
          const i = d.slots.findIndex((s) => s.ctx === ctx && !s.skip)
          if (i >= 0) this.#onFailure(d, i, failure)
        }
        continue
      }
      if (ctx.localResponse) {
        if (actionChannel.hasSubscribers) publishAction(ctx, 'async', 'local_response', ctx.localResponse.status)
        this.#onLocal(ctx)
        continue
      }
      if (ctx.closeRequested) {
        if (actionChannel.hasSubscribers) publishAction(ctx, 'async', 'close_stream')
        ctx.closeRequested = false
        this.#close()
        continue
      }
      if ((ctx.continueRequest || ctx.continueResponse) && actionChannel.hasSubscribers) publishAction(ctx, 'async', 'continue_stream')
      if (ctx.continueRequest) {
        ctx.continueRequest = false
        const i = this.#req.slots.findIndex((s) => s.ctx === ctx)
        if (i >= 0) this.#resume(this.#req, i)
      }
      if (ctx.continueResponse) {
        ctx.continueResponse = false
        const i = this.#res.slots.findIndex((s) => s.ctx === ctx)
        if (i >= 0) this.#resume(this.#res, i)
      }
    }
  }

  /** Delivers one event to plugin `i` of direction `d`. */
  #deliver(d: Dir, i: number, ev: Ev): void {
    const slot = d.slots[i]!
    const ctx = slot.ctx
    if (slot.skip || !ctx) return this.#emit(d, i, ev)
    const http = this.#s.http
    if (ev.t === 'h') {
      slot.headersEos = ev.eos
      slot.sawEos = ev.eos
      const n = (d.req ? http.requestHeaders : http.responseHeaders!).size
      const r = this.#call(d, i, d.req ? Callback.RequestHeaders : Callback.ResponseHeaders, n, ev.eos ? 1 : 0)
      if (r !== undefined) this.#headersAction(d, i, slot, ev, r)
      return
    }
    if (ev.t === 'd') {
      if (slot.headers === 'stopAll') return this.#hold(d, slot, ev.chunk, ev.eos)
      if (ev.eos) slot.sawEos = true
      const body = slot.buffering ? this.#append(slot, ev.chunk) : ev.chunk
      if (d.req) ctx.requestBody = body
      else ctx.responseBody = body
      const r = this.#call(d, i, d.req ? Callback.RequestBody : Callback.ResponseBody, body.byteLength, ev.eos ? 1 : 0)
      const after = (d.req ? ctx.requestBody : ctx.responseBody) ?? EMPTY
      if (d.req) ctx.requestBody = undefined
      else ctx.responseBody = undefined
      if (r !== undefined) this.#bodyAction(d, i, slot, ev.eos, r, after)
      return
    }
    // trailers
    if (slot.headers === 'stopAll') {
      slot.trailersHeld = true
      return
    }
    slot.sawEos = true
    const map = d.req ? http.requestTrailers : http.responseTrailers
    const r = this.#call(d, i, d.req ? Callback.RequestTrailers : Callback.ResponseTrailers, map?.size ?? 0, 0)
    if (r === undefined) return
    if (r === 0) this.#release(d, i, ev)
    else slot.trailersHeld = true
  }

  /** What headers callback result `r` of plugin `i` means for headers event `ev` (§3.3). */
  #headersAction(d: Dir, i: number, slot: Slot, ev: Ev, r: number): void {
    if (r === HeaderAction.Continue || r === HeaderAction.ContinueAndEndStream) {
      slot.headers = 'passed'
      this.#emit(d, i, ev)
    } else if (r === HeaderAction.StopIteration && (slot.plugin.abi === '0.2.100' || this.#s.allowHeaderStopIteration)) {
      // Higress 0.2.100: a real StopIteration; body chunks keep coming to this plugin.
      slot.headers = 'stopSingle'
    } else {
      // 1 (other ABIs), 3, 4 and anything larger: StopAllIteration (§3.3).
      slot.headers = 'stopAll'
    }
  }

  /** What body callback result `r` of plugin `i` means; `after` is the body as the plugin left it. */
  #bodyAction(d: Dir, i: number, slot: Slot, eos: boolean, r: number, after: Buffer): void {
    if (r === DataAction.Continue) {
      slot.buffering = false
      slot.buffered = []
      slot.bufferedLen = 0
      this.#release(d, i, { t: 'd', chunk: after, eos })
    } else if (r === DataAction.StopIterationAndBuffer || r === DataAction.StopIterationAndWatermark) {
      slot.buffering = true
      slot.buffered = [after]
      slot.bufferedLen = after.byteLength
      slot.bufferedEos = eos
      this.#checkLimit(d, slot)
    } else {
      // StopIterationNoBuffer: the chunk is dropped. At end of stream an empty last chunk still
      // goes on so that the stream can finish (the data may have been re-injected by then).
      slot.buffering = false
      slot.buffered = []
      slot.bufferedLen = 0
      if (eos) this.#release(d, i, { t: 'd', chunk: EMPTY, eos: true })
    }
  }

  /**
   * Calls stream callback `callback` (a {@link Callback} index); `undefined` when the stream took
   * another path (local reply, close, failure).
   */
  #call(d: Dir, i: number, callback: number, a: number, b: number): number | undefined {
    const slot = d.slots[i]!
    const ctx = slot.ctx!
    // A callback the plugin does not export, on a context the guest knows: Continue, nothing else to do.
    if (ctx.created && ctx.vm.callbacks[callback] === undefined && !actionChannel.hasSubscribers) return 0
    let r: number
    try {
      r = slot.plugin.callStream(ctx, callback, 0, a, b)
    } catch (err) {
      this.#callFailed(d, i, callback, err as PluginFailureError)
      return undefined
    }
    return this.#outcome(ctx, callback, r)
  }

  #callFailed(d: Dir, i: number, callback: number, err: PluginFailureError): void {
    if (actionChannel.hasSubscribers) publishAction(d.slots[i]!.ctx!, callbackName(callback), 'failed', err.code)
    this.#onFailure(d, i, err)
  }

  /** Acts on what a callback asked for (local reply, close); `r`, or `undefined` when the stream took another path. */
  #outcome(ctx: StreamContext, callback: number, r: number): number | undefined {
    if (ctx.localResponse) {
      if (actionChannel.hasSubscribers) publishAction(ctx, callbackName(callback), 'local_response', ctx.localResponse.status)
      this.#onLocal(ctx)
      return undefined
    }
    if (ctx.closeRequested) {
      if (actionChannel.hasSubscribers) publishAction(ctx, callbackName(callback), 'close_stream')
      ctx.closeRequested = false
      this.#close()
      return undefined
    }
    if (actionChannel.hasSubscribers) publishAction(ctx, callbackName(callback), actionOf(callbackName(callback), r))
    return r
  }
  /** Passes data on from plugin `i`, releasing held headers first (StopIteration → Continue from body). */
  #release(d: Dir, i: number, ev: Ev): void {
    const slot = d.slots[i]!
    if (slot.headers === 'stopSingle') {
      slot.headers = 'passed'
      this.#emit(d, i, { t: 'h', eos: false })
    }
    if (slot.trailersHeld && ev.t !== 't') {
      this.#emit(d, i, ev.t === 'd' ? { ...ev, eos: false } : ev)
      slot.trailersHeld = false
      this.#emit(d, i, { t: 't' })
      return
    }
    this.#emit(d, i, ev)
  }

  /**
   * StopIterationAndBuffer: the body so far plus `chunk`, in a buffer that grows by doubling, so
   * that buffering a body chunk by chunk costs time linear in its size (the plugin sees the whole
   * body in every callback, ABI §2.5). A body the plugin replaced starts a new buffer.
   */
  #append(slot: Slot, chunk: Buffer): Buffer {
    const prev = slot.buffered.length === 1 ? slot.buffered[0]! : Buffer.concat(slot.buffered)
    const need = prev.byteLength + chunk.byteLength
    let acc = slot.acc
    if (!acc || prev !== slot.accView || need > acc.byteLength) {
      const next = Buffer.allocUnsafe(Math.max(1024, need * 2))
      prev.copy(next, 0)
      acc = next
    }
    chunk.copy(acc, prev.byteLength)
    const view = acc.subarray(0, need)
    slot.acc = acc
    slot.accView = view
    slot.buffered = [view]
    return view
  }

  #hold(d: Dir, slot: Slot, chunk: Buffer, eos: boolean): void {
    slot.buffered.push(chunk)
    slot.bufferedLen += chunk.byteLength
    slot.bufferedEos ||= eos
    slot.sawEos ||= eos
    this.#checkLimit(d, slot)
  }

  #checkLimit(d: Dir, slot: Slot): void {
    const limit = d.req ? this.#s.http.decoderBufferLimit : this.#s.http.encoderBufferLimit
    if (slot.bufferedLen <= limit) return
    slot.buffered = []
    slot.bufferedLen = 0
    // Envoy answers 413 for an over-limit request body and 500 for a response body.
    this.#local({
      status: d.req ? 413 : 500,
      details: d.req ? 'request_payload_too_large' : 'response_payload_too_large',
      body: Buffer.from(d.req ? 'Payload Too Large' : 'Internal Server Error'),
      headers: [],
      grpcStatus: -1,
    }, d)
  }

  /** `proxy_continue_stream` on plugin `i` (§3.3). */
  #resume(d: Dir, i: number): void {
    const slot = d.slots[i]!
    if (d.stopped || this.#final) return
    if (slot.headers === 'stopAll') {
      slot.headers = 'passed'
      const data = slot.bufferedLen || slot.bufferedEos ? Buffer.concat(slot.buffered) : undefined
      const eos = slot.bufferedEos
      slot.buffered = []
      slot.bufferedLen = 0
      slot.bufferedEos = false
      this.#emit(d, i, { t: 'h', eos: slot.headersEos })
      // The plugin then gets everything buffered so far in one body callback, then the rest as usual.
      const queued: Ev[] = []
      if (data !== undefined) queued.push({ t: 'd', chunk: data, eos })
      if (slot.trailersHeld) {
        slot.trailersHeld = false
        queued.push({ t: 't' })
      }
      slot.inbox.unshift(...queued)
      return
    }
    if (slot.headers === 'stopSingle' || slot.buffering) {
      const data = Buffer.concat(slot.buffered)
      const eos = slot.bufferedEos
      slot.buffering = false
      slot.buffered = []
      slot.bufferedLen = 0
      slot.bufferedEos = false
      if (slot.headers === 'stopSingle') {
        slot.headers = 'passed'
        this.#emit(d, i, { t: 'h', eos: slot.headersEos })
      }
      if (data.byteLength || eos) this.#emit(d, i, { t: 'd', chunk: data, eos: eos && !slot.trailersHeld })
    }
    if (slot.trailersHeld) {
      slot.trailersHeld = false
      this.#emit(d, i, { t: 't' })
    }
  }

  /** Sends `ev` on from plugin `i` to the next plugin, or out of the chain. */
  #emit(d: Dir, i: number, ev: Ev): void {
    const http = this.#s.http
    if (ev.t === 'd' && ev.eos) {
      // A plugin may have created trailers in the last body callback: they follow the data.
      const created = d.req ? http.requestTrailers && !this.#hadRequestTrailers : http.responseTrailers && !this.#hadResponseTrailers
      if (created) {
        if (d.req) this.#hadRequestTrailers = true
        else this.#hadResponseTrailers = true
        this.#emit(d, i, { ...ev, eos: false })
        this.#emit(d, i, { t: 't' })
        return
      }
    }
    const next = d.slots[i + 1]
    if (next) {
      next.enqueue(ev)
      return
    }
    const sink = this.#s.sink
    if (ev.t === 'h') {
      const map = d.req ? http.requestHeaders : http.responseHeaders!
      if (d.req) http.requestHeadersSent = true
      else http.responseHeadersSent = true
      d.out.headers = map
      if (ev.eos) d.out.end = true
      if (this.#localPending === undefined && this.#inLocal && !d.req) return
      d.req ? sink?.requestHeaders?.(map, ev.eos) : sink?.responseHeaders?.(map, ev.eos)
    } else if (ev.t === 'd') {
      if (ev.eos) d.out.end = true
      if (this.#inLocal && !d.req) {
        ;(this.#localBody ??= []).push(ev.chunk)
        return
      }
      if (sink && (d.req ? sink.requestData : sink.responseData)) {
        d.req ? sink.requestData!(ev.chunk, ev.eos) : sink.responseData!(ev.chunk, ev.eos)
      } else if (ev.chunk.byteLength) d.out.body.push(ev.chunk)
    } else {
      const map = d.req ? http.requestTrailers : http.responseTrailers
      if (d.req) http.requestTrailersSent = true
      else http.responseTrailersSent = true
      d.out.end = true
      if (map) {
        d.out.trailers = map
        if (!(this.#inLocal && !d.req)) d.req ? sink?.requestTrailers?.(map) : sink?.responseTrailers?.(map)
      }
    }
  }

  #inLocal = false

  /** A plugin called `proxy_send_local_response` (§6.4). */
  #onLocal(ctx: StreamContext): void {
    const lr = ctx.localResponse!
    ctx.localResponse = undefined
    const inReq = this.#req.slots.some((s) => s.ctx === ctx) && !this.#s.http.responseHeaders
    this.#local(lr, inReq ? this.#req : this.#res)
  }

  #local(lr: LocalResponse, from: Dir): void {
    if (this.#final || this.#localPending || this.#inLocal) return
    const http = this.#s.http
    const headers = new HeaderMap([[':status', String(lr.status)]])
    for (const [k, v] of lr.headers) headers.add(k, v)
    headers.set('content-length', String(lr.body.byteLength))
    if (lr.body.byteLength && !headers.has('content-type')) headers.set('content-type', 'text/plain')
    http.responseCodeDetails = lr.details
    const response: FinalResponse = new LocalReply(lr.status, headers, lr.body, lr.details)
    if (lr.grpcStatus >= 0) response.grpcStatus = lr.grpcStatus
    this.#req.stopped = true
    for (const s of this.#req.slots) s.inbox = []
    if (from.req && !http.responseHeadersSent) {
      // From the request phase: the reply goes through the response chain from its beginning.
      this.#localPending = { response, viaChain: true }
    } else if (!http.responseHeadersSent) {
      // From response headers still held: straight to the client, bypassing response filters.
      this.#res.stopped = true
      http.responseHeaders = headers
      this.#final = { action: 'local', response }
    } else {
      // Headers already went to the client: cannot be honoured, the stream is reset.
      this.#close()
    }
    this.#pump()
  }

  #localGrpcStatus: number | undefined

  #startLocal(): void {
    const { response } = this.#localPending!
    this.#localGrpcStatus = response.grpcStatus
    this.#localPending = undefined
    this.#inLocal = true
    const http = this.#s.http
    http.responseHeaders = response.headers
    const res = this.#res
    for (const s of res.slots) {
      s.inbox = []
      s.headers = 'pending'
      s.buffering = false
      s.buffered = []
      s.bufferedLen = 0
      s.bufferedEos = false
      s.trailersHeld = false
    }
    res.started = true
    res.ended = true
    res.out = new Out()
    const eos = response.body.byteLength === 0
    const first: Ev[] = [{ t: 'h', eos }]
    if (!eos) first.push({ t: 'd', chunk: response.body, eos: true })
    if (res.slots.length) res.slots[0]!.inbox.push(...first)
    else for (const ev of first) this.#emit(res, -1, ev)
    this.#again = true
  }

  #close(): void {
    if (this.#final) return
    this.#final = { action: 'closed' }
    this.#req.stopped = true
    this.#res.stopped = true
  }

  #onFailure(d: Dir, i: number, err: PluginFailureError): void {
    const slot = d.slots[i]!
    this.#recordFailure(err)
    slot.skip = true
    // The same plugin's slot in the other direction is skipped too.
    const other = d === this.#req ? this.#res : this.#req
    for (const s of other.slots) if (s.ctx === slot.ctx) s.skip = true
    if (slot.plugin.failStrategy === 'FAIL_OPEN' || this.#inLocal) {
      // Skip the plugin: whatever it held goes on as if it had continued.
      slot.headers = 'pending'
      const held = slot.buffered
      slot.buffered = []
      this.#replay(d, i, held, slot)
      return
    }
    this.#failClosed(slot.plugin, d)
  }

  #replay(d: Dir, i: number, held: Buffer[], slot: Slot): void {
    // Re-deliver the pending input of a skipped plugin (deliver() passes it straight on).
    const evs: Ev[] = []
    if (!d.out.headers && !d.slots.slice(i + 1).some((s) => s.inbox.some((e) => e.t === 'h'))) evs.push({ t: 'h', eos: slot.headersEos })
    if (held.length) evs.push({ t: 'd', chunk: Buffer.concat(held), eos: slot.bufferedEos })
    if (slot.trailersHeld) evs.push({ t: 't' })
    slot.trailersHeld = false
    slot.inbox.unshift(...evs)
  }

  #failClosed(plugin: Plugin, d: Dir | undefined): void {
    // FAIL_CLOSE / FAIL_RELOAD: the stream fails with a 500 (details as Envoy's wasm_fail_stream).
    this.#local({ status: 500, details: 'wasm_fail_stream', body: Buffer.from(`plugin ${plugin.name} failed`), headers: [], grpcStatus: -1 }, d ?? this.#req)
    this.#pump()
  }

  #recordFailure(err: PluginFailureError): void {
    ;(this.#failures ??= []).push(err)
    this.#s.onFailure?.(err)
  }

  /** Resolves waiters whose input went as far as it can. */
  #settle(): void {
    if (this.#pumping) return
    if (this.#final || this.#inLocal) {
      if (this.#inLocal && !this.#final) {
        if (!this.#res.out.end) return this.#armTimer()
        const headers = this.#s.http.responseHeaders!
        const body = this.#localBody ? Buffer.concat(this.#localBody) : EMPTY
        this.#final = {
          action: 'local',
          response: new LocalReply(Number(headers.get(':status')), headers, body, this.#s.http.responseCodeDetails ?? ''),
        }
        if (this.#localGrpcStatus !== undefined) this.#final.response!.grpcStatus = this.#localGrpcStatus
        // Keep content-length right after response plugins rewrote the body.
        if (headers.has('content-length')) headers.set('content-length', String(body.byteLength))
      }
      this.#clearTimer()
      for (const w of this.#req.waiters.splice(0)) w.deliver(this.#finalResult(this.#req))
      for (const w of this.#res.waiters.splice(0)) w.deliver(this.#finalResult(this.#res))
      return
    }
    const waiting = this.#settleDir(this.#req) || this.#settleDir(this.#res)
    if (waiting) this.#armTimer()
    else if (this.#timer) this.#clearTimer()
  }

  /** Resolves the waiters of `d` when its input went as far as it can; true when it waits on a plugin. */
  #settleDir(d: Dir): boolean {
    if (d.waiters.length === 0) return false
    const slots = d.slots
    let held = false
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!
      if (s.queued !== 0 || blockedOnOutside(s)) return true
      if (!s.skip && (s.headers === 'stopSingle' || (s.headers === 'pending' && d.out.headers === undefined))) held = true
    }
    const out = d.out
    d.out = new Out()
    const result = new Result(held && !out.headers ? 'held' : 'continue', out.body, out.end)
    result.headers = out.headers
    result.trailers = out.trailers
    const waiters = d.waiters
    if (waiters.length === 1) {
      d.waiters = []
      waiters[0]!.deliver(result)
      return false
    }
    d.waiters = []
    waiters[0]!.deliver(result)
    for (let i = 1; i < waiters.length; i++) waiters[i]!.deliver(new Result(result.action, [], out.end))
    return false
  }

  #finalResult(d: Dir): PhaseResult {
    const f = this.#final
    const r = new Result(f ? f.action : 'closed', [], true)
    if (f?.response) r.localResponse = f.response
    if (d.req && d.out.headers) r.headers = d.out.headers
    return r
  }

  #armTimer(): void {
    if (this.#timer || this.#finished) return
    this.#timer = this.#s.http.clock.setTimer(() => {
      this.#timer = undefined
      // A pause that never resumes must not hang the request: answer 504 as a stream timeout would.
      const d = this.#res.started ? this.#res : this.#req
      this.#local({ status: 504, details: 'plugin_pause_timeout', body: Buffer.from('plugin pause timeout'), headers: [], grpcStatus: -1 }, d)
      this.#pump()
      this.#settle()
    }, this.#s.pauseTimeoutMs)
  }

  #clearTimer(): void {
    this.#timer?.cancel()
    this.#timer = undefined
  }
}

/** Whether plugin slot `s` waits for something only the plugin can end (continue_stream, a reply). */
function blockedOnOutside(s: Slot): boolean {
  if (s.skip) return false
  if (s.headers === 'stopAll') return true
  if (s.trailersHeld) return true
  if ((s.buffering || s.headers === 'stopSingle') && s.sawEos) return true
  return false
}

/** The response header map: `:status` first, then the given headers (a given `:status` is dropped). */
function responseHeaderMap(status: number, headers: HeadersInit): HeaderMap {
  const given = (headers instanceof HeaderMap ? headers : new HeaderMap(headers)).kv
  const kv = [':status', String(status)]
  for (let i = 0; i < given.length; i += 2) {
    const k = given[i]!
    if (k !== ':status') kv.push(k, given[i + 1]!)
  }
  return HeaderMap.fromFlat(kv)
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
}

/** A sync-or-async phase result as a promise (errors become rejections). */
function settled(run: () => PhaseResult | Promise<PhaseResult>): Promise<PhaseResult> {
  try {
    const r = run()
    return r instanceof Promise ? r : Promise.resolve(r)
  } catch (err) {
    return Promise.reject(err)
  }
}

function stateError(msg: string): ProxyWasmHostError {
  return new ProxyWasmHostError('PWH_ERR_EXCHANGE_STATE', msg)
}
