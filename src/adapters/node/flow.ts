/**
 * The engine every adapter shares: it drives one {@link Exchange} from Node streams, moves released
 * data on with backpressure, and keeps message framing right.
 *
 * Framing rule (both directions): the released headers go on as soon as the chain released them,
 * except when they carry a `content-length` and no body came out yet. Then the adapter waits for the
 * first released body bytes: if they match what went in, the body streams with the original length;
 * if a plugin changed them, the length is dropped (chunked); if a plugin holds the body to the end,
 * the whole body is known and `content-length` is recomputed. Nothing is buffered beyond what the
 * plugins themselves hold.
 * @internal
 * @module
 */
import type { Readable } from 'node:stream'
import { Readable as ReadableStream } from 'node:stream'
import { isProxyWasmHostError } from '../../errors.js'
import type { HeaderMap, HeadersInit } from '../../host/header-map.js'
import type { Exchange, FinalResponse, PhaseResult } from '../../pipeline/exchange.js'
import { declaredLength } from './headers.js'

const EMPTY = Buffer.alloc(0)

/** A value now, or a promise of it (the adapters keep the synchronous path when no plugin pauses). @internal */
export type Maybe<T> = T | Promise<T>

/** Applies `f` to `v` at once when it is a value, else when the promise resolves. @internal */
export function andThen<T, U>(v: Maybe<T>, f: (x: T) => Maybe<U>): Maybe<U> {
  return v instanceof Promise ? v.then(f) : f(v)
}

/** How a released body is framed: whole body known, original length kept, or streamed without a length. @internal */
export type Framing = 'complete' | 'keep' | 'stream'

/** What one direction of an exchange released so far. @internal */
export class Released {
  headers: HeaderMap | undefined
  trailers: HeaderMap | undefined
  pending: Buffer[] = []
  /** Bytes fed into the chain. */
  fed = 0
  /** Bytes that came out of the chain. */
  released = 0
  /** The end of this direction came out. */
  ended = false
  /** A `local` or `closed` result. */
  terminal: PhaseResult | undefined

  /** Records a phase result. */
  take(r: PhaseResult): void {
    if (r.action === 'local' || r.action === 'closed') {
      this.terminal ??= r
      return
    }
    if (r.headers) this.headers = r.headers
    for (const b of r.body) {
      if (!b.byteLength) continue
      this.pending.push(b)
      this.released += b.byteLength
    }
    if (r.trailers) this.trailers = r.trailers
    if (r.endOfStream) this.ended = true
  }

  /** The framing, once it can be decided (see the module comment). */
  framing(): Framing | undefined {
    if (!this.headers) return undefined
    if (this.ended) return 'complete'
    if (this.headers.get('content-length') === undefined) return 'stream'
    if (this.released === 0) return undefined
    return this.released === this.fed ? 'keep' : 'stream'
  }

  /** Takes the pending released chunks. */
  drain(): Buffer[] {
    const p = this.pending
    this.pending = []
    return p
  }
}

/**
 * Applies a framing decision to released headers (a copy when anything changes): `complete` sets `content-length` to the
 * released size when the body changed or had a length; `stream` drops a stale `content-length` and,
 * when `chunkedHeader` is set (a request handed to an in-process handler), says
 * `transfer-encoding: chunked` so that body parsers still see a body.
 * @internal
 */
export function frame(headers: HeaderMap, framing: Framing, flow: Released, opts: { bodyless?: boolean; chunkedHeader?: boolean } = {}): HeaderMap {
  // The headers themselves when nothing changes (callers only read them), else a changed copy.
  if (opts.bodyless) return headers
  if (framing === 'complete') {
    if (flow.released !== flow.fed || headers.has('content-length')) {
      const length = String(flow.released)
      if (headers.get('content-length') === length && headers.getAll('content-length').length === 1 && !headers.has('transfer-encoding')) return headers
      const h = headers.clone()
      h.set('content-length', length)
      h.delete('transfer-encoding')
      return h
    }
  } else if (framing === 'stream') {
    const addChunked = opts.chunkedHeader && !headers.has('transfer-encoding')
    if (!headers.has('content-length') && !addChunked) return headers
    const h = headers.clone()
    h.delete('content-length')
    if (addChunked) h.set('transfer-encoding', 'chunked')
    return h
  }
  return headers
}

/** A pull source of body chunks. @internal */
export interface ChunkSource {
  /** The next chunk, or `null` at the end; rejects when the peer went away. */
  read(): Promise<Buffer | null>
  /** Trailers received with the end, if any. */
  trailers(): HeadersInit | undefined
  /** Stops reading: the rest is drained and dropped. */
  discard(): void
}

/** Where released body chunks go. @internal */
export interface ChunkSink {
  /** Writes a chunk; resolves when the sink takes more. */
  write(chunk: Buffer): Promise<void> | void
  /** Ends the body. */
  end(): void
  /** Fails the body (the stream was reset or answered locally). */
  fail(err: Error): void
}

/** An error the adapters raise when the client went away mid-body. @internal */
export class ClientGoneError extends Error {
  constructor(message = 'the client went away') {
    super(message)
    this.name = 'ClientGoneError'
  }
}

/** Whether an error means that the exchange was already finished (aborted by the client). @internal */
export function isAborted(err: unknown): boolean {
  return err instanceof ClientGoneError || isProxyWasmHostError(err, 'PWH_ERR_EXCHANGE_ABORTED')
}

/** The outcome of the request phase before the request is handed on. @internal */
export type RequestStart =
  | { kind: 'local'; response: FinalResponse }
  | { kind: 'closed' }
  | { kind: 'forward'; headers: HeaderMap; framing: Framing }

/** The common outcome (a class: made per request). */
class Forward {
  readonly kind = 'forward' as const
  constructor(
    readonly headers: HeaderMap,
    readonly framing: Framing,
  ) {}
}

/**
 * Drives the request direction: headers, then as much body as the framing decision needs
 * ({@link RequestRunner.start}); then the rest of the body into a sink ({@link RequestRunner.pipe}).
 * @internal
 */
export class RequestRunner {
  readonly flow = new Released()
  readonly #ex: Exchange
  readonly #source: ChunkSource | undefined
  readonly #expected: number | undefined
  #eosFed = false
  #stopped = false
  /** A local reply or a reset that came from the body after the request was handed on. */
  onLate: ((r: PhaseResult) => void) | undefined

  /**
   * @param ex - the exchange
   * @param source - the body, or `undefined` for a body-less request
   * @param contentLength - the request's `content-length` header (lets the last chunk carry end-of-stream)
   */
  constructor(ex: Exchange, source: ChunkSource | undefined, contentLength?: string) {
    this.#ex = ex
    this.#source = source
    this.#expected = declaredLength(contentLength)
  }

  /**
   * Runs the request headers and as much body as needed; see {@link RequestStart}. The outcome
   * comes back at once when no plugin pauses and no body is needed; errors may be thrown.
   */
  start(): Maybe<RequestStart> {
    const r = this.#ex.direct.requestHeaders(this.#source === undefined)
    if (r instanceof Promise) return r.then((x) => this.#started(x))
    return this.#started(r)
  }

  #started(r: PhaseResult): Maybe<RequestStart> {
    this.flow.take(r)
    return this.#decide()
  }

  #decide(): Maybe<RequestStart> {
    const flow = this.flow
    const t = flow.terminal
    if (t) return t.action === 'local' && t.localResponse ? { kind: 'local', response: t.localResponse } : { kind: 'closed' }
    const framing = flow.framing()
    if (framing) return new Forward(flow.headers!, framing)
    // Everything went in and nothing framed it: the chain cannot release more without the outside.
    if (this.#eosFed || this.#stopped) return { kind: 'closed' }
    return this.#step().then(() => this.#decide())
  }

  /** Streams the rest of the body into `sink` (call after {@link RequestRunner.start} returned `forward`). */
  async pipe(sink: ChunkSink): Promise<void> {
    const flow = this.flow
    try {
      for (;;) {
        for (const b of flow.drain()) if (!this.#stopped) await sink.write(b)
        if (this.#stopped) {
          sink.fail(new Error('the request body was dropped: the response is over'))
          return
        }
        if (flow.terminal) {
          this.#stop()
          sink.fail(new Error('the request was answered by a plugin'))
          this.onLate?.(flow.terminal)
          return
        }
        if (flow.ended) {
          sink.end()
          return
        }
        if (this.#eosFed) {
          // The end went in but has not come out: a plugin holds it (it resolves or the pause timer fires).
          sink.fail(new Error('the request body did not complete'))
          return
        }
        await this.#step()
      }
    } catch (err) {
      this.#stop()
      sink.fail(err as Error)
      if (!isAborted(err)) throw err
    }
  }

  /** Stops feeding the chain; the rest of the body is dropped (the response is over). */
  stop(): void {
    this.#stop()
  }

  #stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    if (!this.#eosFed) this.#source?.discard()
  }

  async #step(): Promise<void> {
    const source = this.#source!
    const chunk = await source.read()
    if (this.#stopped) return
    let r: PhaseResult
    if (chunk === null) {
      this.#eosFed = true
      const trailers = source.trailers()
      r = await (trailers ? this.#ex.requestTrailers(trailers) : this.#ex.requestBody(EMPTY, true))
    } else {
      this.flow.fed += chunk.byteLength
      // With a declared length the last chunk carries end-of-stream, as Envoy's HTTP/1 codec does.
      const last = this.#expected !== undefined && this.flow.fed >= this.#expected
      if (last) this.#eosFed = true
      r = await this.#ex.requestBody(chunk, last)
      if (last) source.discard()
    }
    this.flow.take(r)
  }
}

/** Where a response goes: a `ServerResponse`, a Koa context or a Fastify reply. @internal */
export interface ResponseOut {
  /** The whole response is known (a local reply, or a body held to its end). */
  full(headers: HeaderMap, body: Buffer, trailers?: HeaderMap): void | Promise<void>
  /** Headers are decided; the body follows through `write`/`end`. */
  head(headers: HeaderMap): void
  /** A body chunk; resolves when more can be written. */
  write(chunk: Buffer): Promise<void> | void
  /** The end of the body. */
  end(trailers?: HeaderMap): void
  /** Resets the response (a plugin closed the stream, or a reply could not be honoured). */
  destroy(): void
}

/**
 * Drives the response direction from pushed input (headers, chunks, trailers) and writes what the
 * chain releases to a {@link ResponseOut}. Calls must not overlap (adapters serialize them).
 * @internal
 */
export class ResponseRunner {
  readonly flow = new Released()
  readonly #ex: Exchange
  readonly #out: ResponseOut
  readonly #bodyless: boolean
  #committed = false
  #done = false
  #decided: Promise<void> | undefined
  #resolveDecided: (() => void) | undefined

  /**
   * @param ex - the exchange
   * @param out - where the response goes
   * @param bodyless - a response that never has a body on the wire (HEAD request): framing is left alone
   */
  constructor(ex: Exchange, out: ResponseOut, bodyless = false) {
    this.#ex = ex
    this.#out = out
    this.#bodyless = bodyless
  }

  /** Resolves once the response is committed: headers decided, a local reply, or a reset. */
  get decided(): Promise<void> {
    if (this.#decided === undefined) {
      if (this.#committed) this.#decided = Promise.resolve()
      else this.#decided = new Promise((resolve) => (this.#resolveDecided = resolve))
    }
    return this.#decided
  }

  /** Marks the response committed (resolves {@link ResponseRunner.decided}). */
  #commitNow(): void {
    this.#committed = true
    const r = this.#resolveDecided
    if (r !== undefined) {
      this.#resolveDecided = undefined
      r()
    }
  }

  /** Whether the response was written completely or reset. */
  get done(): boolean {
    return this.#done
  }

  /** Whether headers (or a whole response) went out. */
  get committed(): boolean {
    return this.#committed
  }

  /** Feeds the response headers (settles at once when no plugin pauses; errors may be thrown). */
  headers(status: number, headers: HeadersInit, endOfStream: boolean): Maybe<void> {
    if (this.#done) return
    return this.#then(this.#ex.direct.responseHeaders(status, headers, endOfStream))
  }

  /** {@link ResponseRunner.headers} with a map that starts with `:status` and is handed over (not copied). */
  headersMap(map: HeaderMap, endOfStream: boolean): Maybe<void> {
    if (this.#done) return
    return this.#then(this.#ex.direct.responseHeadersMap(map, endOfStream))
  }

  /** Feeds a body chunk. */
  data(chunk: Buffer, endOfStream: boolean): Maybe<void> {
    if (this.#done) return
    this.flow.fed += chunk.byteLength
    return this.#then(this.#ex.direct.responseBody(chunk, endOfStream))
  }

  /** Feeds trailers (ends the response). */
  trailers(trailers: HeadersInit): Maybe<void> {
    if (this.#done) return
    return this.#then(this.#ex.direct.responseTrailers(trailers))
  }

  #then(r: PhaseResult | Promise<PhaseResult>): Maybe<void> {
    if (r instanceof Promise) return r.then((x) => this.#after(x))
    return this.#after(r)
  }

  /** Commits released headers now (`flushHeaders()`), unless the framing still needs the first body bytes. */
  flush(): void {
    if (this.#committed || this.#done || !this.flow.headers) return
    const framing = this.flow.framing()
    if (framing) this.#commit(framing)
  }

  /**
   * Sends a complete response that bypasses the response chain (a local reply: its response phase
   * already ran in the exchange), or resets the stream when headers already went out.
   */
  local(response: FinalResponse): Maybe<void> {
    if (this.#done) return
    this.#done = true
    if (this.#committed) {
      this.#out.destroy()
      return
    }
    this.#commitNow()
    return this.#out.full(response.headers, this.#bodyless ? EMPTY : response.body)
  }

  /** Resets the response. */
  reset(): void {
    if (this.#done) return
    this.#done = true
    this.#commitNow()
    this.#out.destroy()
  }

  #after(r: PhaseResult): Maybe<void> {
    const flow = this.flow
    flow.take(r)
    if (flow.terminal) {
      const t = flow.terminal
      if (t.action === 'local' && t.localResponse) return this.local(t.localResponse)
      return this.reset()
    }
    if (!this.#committed) {
      const framing = flow.framing()
      if (!framing) return
      if (framing === 'complete') {
        this.#done = true
        this.#commitNow()
        const pending = flow.drain()
        const body = pending.length === 1 ? pending[0]! : Buffer.concat(pending)
        return this.#out.full(frame(flow.headers!, framing, flow, { bodyless: this.#bodyless }), body, flow.trailers)
      }
      this.#commit(framing)
    }
    // A kept content-length must match what goes out, or the client would wait for bytes that
    // never come (or read the next response as this body): reset instead, as Envoy does.
    const kept = this.#keptLength
    if (kept !== undefined && (flow.released > kept || (flow.ended && flow.released !== kept))) return this.reset()
    return this.#writeOut(flow.drain(), 0)
  }

  /** Writes released chunks from index `i` on, waiting where the destination pushes back. */
  #writeOut(chunks: Buffer[], i: number): Maybe<void> {
    for (; i < chunks.length; i++) {
      if (this.#done) return
      const w = this.#out.write(chunks[i]!)
      if (w) {
        const next = i + 1
        return w.then(() => this.#writeOut(chunks, next))
      }
    }
    if (this.flow.ended && !this.#done) {
      this.#done = true
      this.#out.end(this.flow.trailers)
    }
  }

  #keptLength: number | undefined

  #commit(framing: Framing): void {
    this.#commitNow()
    const headers = frame(this.flow.headers!, framing, this.flow, { bodyless: this.#bodyless })
    if (framing === 'keep' && !this.#bodyless) this.#keptLength = declaredLength(headers.get('content-length'))
    this.#out.head(headers)
  }
}

/**
 * A readable stream fed by a writer with backpressure: `write()` resolves when the reader wants more.
 * @internal
 */
export class PushReadable extends ReadableStream {
  #wants = true
  #wake: (() => void) | undefined

  constructor() {
    super()
  }

  override _read(): void {
    this.#wants = true
    const w = this.#wake
    this.#wake = undefined
    w?.()
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    const w = this.#wake
    this.#wake = undefined
    w?.()
    cb(err)
  }

  /** Pushes a chunk; resolves when the reader wants more (or the stream is gone). */
  write(chunk: Buffer): Promise<void> | void {
    if (this.destroyed) return
    this.#wants = this.push(chunk)
    if (this.#wants) return
    return new Promise<void>((resolve) => (this.#wake = resolve))
  }

  /** Ends the stream. */
  end(): void {
    if (!this.destroyed) this.push(null)
  }

  /** Fails the stream. */
  fail(err: Error): void {
    this.destroy(err)
  }
}

/**
 * A {@link ChunkSource} over a readable stream (async iteration gives backpressure): the gateway's
 * request, a Fastify payload, an upstream or framework response body.
 * @internal
 */
export function streamSource(stream: Readable, trailers?: () => HeadersInit | undefined): ChunkSource {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>
  let done = false
  return {
    async read() {
      if (done) return null
      let r: IteratorResult<Buffer | string>
      try {
        r = await it.next()
      } catch (err) {
        done = true
        throw new ClientGoneError((err as Error).message)
      }
      if (r.done) {
        done = true
        // An IncomingMessage destroyed mid-body may end the iterator without an error.
        const s = stream as Readable & { complete?: boolean }
        if (s.complete === false) throw new ClientGoneError('the request was aborted')
        return null
      }
      return typeof r.value === 'string' ? Buffer.from(r.value) : r.value
    },
    trailers() {
      const t = trailers?.()
      return t && Object.keys(t).length ? t : undefined
    },
    discard() {
      if (done) return
      done = true
      // Drain the rest in the background (keeps a keep-alive connection usable); errors do not matter.
      void (async () => {
        try {
          while (!(await it.next()).done);
        } catch {
          // the peer went away
        }
      })()
    },
  }
}

/** A sink that drops everything (the body of a request whose handler is gone). @internal */
export const NULL_SINK: ChunkSink = { write() {}, end() {}, fail() {} }

/**
 * Feeds a response a framework produced (a header map with `:status` first, then a buffer or a
 * stream) to the response phases. Returns once the response is decided: at once when no plugin
 * pauses and the body is a buffer, else a promise; the rest of a streamed body flows on in the
 * background (a failure there resets the response).
 * @param eos - the response has no body (also true for a HEAD request)
 * @internal
 */
export function feedResponse(
  response: ResponseRunner,
  headers: HeaderMap,
  eos: boolean,
  body: { buf?: Buffer | undefined; stream?: AsyncIterable<Buffer | string> | undefined },
): Maybe<void> {
  let first: Maybe<void>
  try {
    first = response.headersMap(headers, eos)
    if (!(first instanceof Promise) && body.stream === undefined) {
      if (eos || !body.buf) return
      const second = response.data(body.buf, true)
      return second instanceof Promise ? decidedBy(response, second) : undefined
    }
  } catch (err) {
    response.reset()
    // The client went away while the response phase ran: nothing is left to send.
    if (!isAborted(err)) throw err
    return
  }
  const pump = (async () => {
    await first
    if (eos) return
    if (body.buf) return response.data(body.buf, true)
    for await (const chunk of body.stream!) {
      if (response.done) break
      await response.data(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk), false)
    }
    await response.data(EMPTY, true)
  })()
  return decidedBy(response, pump)
}

/** Resolves once `response` is decided or `pump` settled; a failure of `pump` resets the response. */
async function decidedBy(response: ResponseRunner, pump: Promise<void>): Promise<void> {
  pump.catch(() => response.reset())
  try {
    await Promise.race([response.decided, pump])
  } catch (err) {
    // The client went away while the response phase ran: nothing is left to send.
    if (!isAborted(err)) throw err
    response.reset()
  }
}

/**
 * Ends `ex` with the response: `done()` (on_log, on_done, on_delete) once `res` finished, `abort()`
 * when it closed before that (the client went away); the request body stops feeding either way.
 * @param runner - the request runner, or a getter when it is created later
 * @param onAbort - also called when the client went away (e.g. to cancel an upstream call)
 * @internal
 */
export function endWithResponse(res: NodeJS.EventEmitter, ex: Exchange, runner: RequestRunner | (() => RequestRunner | undefined), onAbort?: () => void): void {
  const stop = () => (typeof runner === 'function' ? runner() : runner)?.stop()
  let finished = false
  res.once('finish', () => {
    finished = true
    stop()
    ex.done()
  })
  res.once('close', () => {
    if (finished) return
    onAbort?.()
    stop()
    ex.abort()
  })
}

/** Resolves when `res` drains or closes. @internal */
export function drained(emitter: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      emitter.off('drain', done)
      emitter.off('close', done)
      emitter.off('error', done)
      resolve()
    }
    emitter.on('drain', done)
    emitter.on('close', done)
    emitter.on('error', done)
  })
}
