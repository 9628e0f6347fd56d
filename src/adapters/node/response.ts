/**
 * Response side for `node:http`: a {@link ResponseOut} that writes to a `ServerResponse`, and the
 * interception of `writeHead`/`write`/`end` that runs a handler's response through the plugins.
 *
 * Interception never changes the shape of Node's objects. Adding own properties to a
 * `ServerResponse` (and above all an accessor, which turns it into a dictionary-mode object) makes
 * every property access of node:http's own code slower for the rest of the response: measured, it
 * cost more than the whole bare request (docs/adr/0020-response-interception.md). So the writing
 * methods and `headersSent` are replaced once, on `ServerResponse.prototype`, by hooks that look the
 * response up in a `WeakMap` and pass straight through to Node's methods for a response that is not
 * intercepted. A response whose methods are not the hooks (a subclass, a wrapper installed before
 * the adapter, or a second pipeline on the same response) is intercepted on the instance instead,
 * as before, so that wrappers and nested pipelines keep their order.
 * @internal
 * @module
 */
import { ServerResponse, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http'
import { HeaderMap } from '../../host/header-map.js'
import type { PluginLogger } from '../../host/logger.js'
import type { Exchange } from '../../pipeline/exchange.js'
import { drained, isAborted, ResponseRunner, type Maybe, type ResponseOut } from './flow.js'
import { groupHeaders, outgoingPairs, responseHeaderMap } from './headers.js'

const EMPTY = Buffer.alloc(0)

/** The writing methods of a response (the originals when it is intercepted); loosely typed for `.call`. */
interface Methods {
  writeHead(...args: unknown[]): unknown
  write(...args: unknown[]): boolean
  end(...args: unknown[]): unknown
  setHeader(...args: unknown[]): unknown
  removeHeader(...args: unknown[]): unknown
  addTrailers(...args: unknown[]): unknown
}

/** Logs a host-side problem through the plugin logger. @internal */
export function logHost(logger: PluginLogger, level: 'warn' | 'error', message: string): void {
  try {
    logger.log(level, message, { plugin: 'proxy-wasm-host', contextId: 0, origin: 'host' })
  } catch {
    // a logger must not break a request
  }
}

/** Status and reason a handler chose, kept when the plugins leave the status alone. */
interface Head {
  status: number
  message: string | undefined
}

/** What a {@link NodeResponseOut} asks the interception about the handler's response. */
interface HandlerHead {
  /** The handler's status and reason, when it wrote them. */
  handlerHead(): Head | undefined
  /** Whether `headers` are exactly the ones already set on the response (nothing to rewrite). */
  untouched(headers: HeaderMap): boolean
}

/**
 * A {@link ResponseOut} over a `ServerResponse`. `methods` are the functions that really write
 * (the originals when the response is intercepted).
 */
class NodeResponseOut implements ResponseOut {
  constructor(
    readonly res: ServerResponse,
    readonly methods: Methods,
    readonly handler: HandlerHead | undefined,
  ) {}

  #gone(): boolean {
    return this.res.destroyed || this.res.writableEnded
  }

  #writeHead(headers: HeaderMap): boolean {
    const res = this.res
    const methods = this.methods
    try {
      const status = Number(headers.get(':status')) || 200
      // Headers no plugin changed are already on `res` as the handler set them.
      if (this.handler === undefined || !this.handler.untouched(headers)) {
        for (const n of res.getHeaderNames()) methods.removeHeader.call(res, n)
        const grouped = groupHeaders(headers)
        for (const k in grouped) methods.setHeader.call(res, k, grouped[k])
      }
      const r = this.handler?.handlerHead()
      if (r && r.status === status && r.message) methods.writeHead.call(res, status, r.message)
      else methods.writeHead.call(res, status)
      return true
    } catch (err) {
      // A header value no HTTP/1 message can carry (a plugin wrote a newline, a bad status).
      res.destroy(err as Error)
      return false
    }
  }

  full(headers: HeaderMap, body: Buffer, trailers?: HeaderMap): void {
    if (this.#gone() || !this.#writeHead(headers)) return
    const res = this.res
    if (trailers?.size && res.chunkedEncoding) this.methods.addTrailers.call(res, groupHeaders(trailers))
    this.methods.end.call(res, body)
  }

  head(headers: HeaderMap): void {
    if (!this.#gone()) this.#writeHead(headers)
  }

  write(chunk: Buffer): Promise<void> | void {
    if (this.#gone()) return
    if (!this.methods.write.call(this.res, chunk)) return drained(this.res)
  }

  end(trailers?: HeaderMap): void {
    if (this.#gone()) return
    const res = this.res
    if (trailers?.size && res.chunkedEncoding) this.methods.addTrailers.call(res, groupHeaders(trailers))
    this.methods.end.call(res)
  }

  destroy(): void {
    this.res.destroy()
  }
}

/**
 * A {@link ResponseOut} over a `ServerResponse` (the gateway writes the released response with it).
 * @param methods - the functions that really write (default: the response's own)
 * @internal
 */
export function serverResponseOut(res: ServerResponse, methods: Methods = res as unknown as Methods): ResponseOut {
  return new NodeResponseOut(res, methods, undefined)
}

// ---- hooks on ServerResponse.prototype ----------------------------------------------------------

/** What the prototype hooks call for an intercepted response (`res` is the response itself). */
interface Hooked {
  writeHead(res: ServerResponse, status: number, reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): ServerResponse
  write(res: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown): boolean
  end(res: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse
  addTrailers(res: ServerResponse, headers: OutgoingHttpHeaders | ReadonlyArray<[string, string]>): void
  flushHeaders(res: ServerResponse): void
  headersSent(res: ServerResponse): boolean
  ignored(): boolean
}

/** Responses intercepted through the prototype hooks. */
const intercepted = new WeakMap<ServerResponse, Hooked>()

/**
 * A response whose exchange is over (after `close`): what the handler still writes is dropped, as
 * while it was intercepted. One shared object per combination of the three facts that still
 * matter, so that the `WeakMap` value is never a young object: a value that is a whole request's
 * object graph keeps that graph alive through every scavenge until a full collection
 * (docs/adr/0020-response-interception.md).
 */
class Retired implements Hooked {
  constructor(
    readonly ended: boolean,
    readonly holding: boolean,
    readonly dropsHeaders: boolean,
  ) {}

  writeHead(res: ServerResponse): ServerResponse {
    return res
  }

  write(_res: ServerResponse, _chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (typeof encoding === 'function') cb = encoding
    if (this.ended) {
      const err = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' })
      if (typeof cb === 'function') process.nextTick(cb as (e: Error) => void, err)
      return false
    }
    if (typeof cb === 'function') process.nextTick(cb as () => void)
    return true
  }

  end(res: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse {
    if (typeof chunk === 'function') cb = chunk
    else if (typeof encoding === 'function') cb = encoding
    if (typeof cb === 'function') res.once('finish', cb as () => void)
    return res
  }

  addTrailers(): void {}

  flushHeaders(): void {}

  headersSent(res: ServerResponse): boolean {
    return this.holding || !!(res as ServerResponse & { _header?: unknown })._header
  }

  ignored(): boolean {
    return this.dropsHeaders
  }
}

const RETIRED: Retired[] = []
for (let i = 0; i < 8; i++) RETIRED.push(new Retired((i & 1) !== 0, (i & 2) !== 0, (i & 4) !== 0))

/**
 * After `close`: the response goes on dropping what the handler writes (as while it was
 * intercepted), through a shared {@link Retired} state instead of its own interception.
 * @internal
 */
export function retireResponse(res: ServerResponse): void {
  const st = intercepted.get(res)
  if (st === undefined || st instanceof Retired) return
  const i = st as Interception
  intercepted.set(res, RETIRED[(i.ended ? 1 : 0) | (i.holding ? 2 : 0) | (i.ignored() ? 4 : 0)]!)
}

/** Undo functions of instance interceptions (the methods `res` had before). */
const releasers = new WeakMap<ServerResponse, () => void>()

/**
 * Gives `res` its own methods back: what the app writes next goes straight to the client, outside
 * the response phases (`onPluginError: 'forward'`, and after `close`, when the hooks' entry goes).
 * @internal
 */
export function releaseResponse(res: ServerResponse): void {
  intercepted.delete(res)
  const undo = releasers.get(res)
  if (undo === undefined) return
  releasers.delete(res)
  undo()
}

type HookName = 'writeHead' | 'write' | 'end' | 'addTrailers' | 'flushHeaders' | 'setHeader' | 'appendHeader' | 'removeHeader' | 'setHeaders'
const HOOKED: readonly HookName[] = ['writeHead', 'write', 'end', 'addTrailers', 'flushHeaders', 'setHeader', 'appendHeader', 'removeHeader', 'setHeaders']
type AnyFn = (this: ServerResponse, ...args: unknown[]) => unknown

/** What the prototype had before the hooks (what really writes), and the hooks themselves. */
let node: Record<HookName, AnyFn> | undefined
let hooks: Record<HookName, AnyFn> | undefined
let headersSentGetter: ((this: ServerResponse) => boolean) | undefined

/** Installs the hooks (once, at the first intercepted response). */
function installHooks(): Record<HookName, AnyFn> {
  if (hooks) return hooks
  const proto = ServerResponse.prototype as unknown as Record<string, AnyFn>
  const orig = {} as Record<HookName, AnyFn>
  for (const name of HOOKED) orig[name] = proto[name]!
  node = orig
  const sent = findGetter(proto, 'headersSent')
  headersSentGetter = sent
  const h: Record<HookName, AnyFn> = {
    writeHead: function writeHead(status, reason, headers) {
      const st = intercepted.get(this)
      return st === undefined ? orig.writeHead.call(this, status, reason, headers) : st.writeHead(this, status as number, reason as string | OutgoingHttpHeaders, headers as OutgoingHttpHeaders)
    },
    write: function write(chunk, encoding, cb) {
      const st = intercepted.get(this)
      return st === undefined ? orig.write.call(this, chunk, encoding, cb) : st.write(this, chunk, encoding, cb)
    },
    end: function end(chunk, encoding, cb) {
      const st = intercepted.get(this)
      return st === undefined ? orig.end.call(this, chunk, encoding, cb) : st.end(this, chunk, encoding, cb)
    },
    addTrailers: function addTrailers(headers) {
      const st = intercepted.get(this)
      return st === undefined ? orig.addTrailers.call(this, headers) : st.addTrailers(this, headers as OutgoingHttpHeaders)
    },
    flushHeaders: function flushHeaders() {
      const st = intercepted.get(this)
      return st === undefined ? orig.flushHeaders.call(this) : st.flushHeaders(this)
    },
    setHeader: function setHeader(name, value) {
      const st = intercepted.get(this)
      return st !== undefined && st.ignored() ? this : orig.setHeader.call(this, name, value)
    },
    appendHeader: function appendHeader(name, value) {
      const st = intercepted.get(this)
      return st !== undefined && st.ignored() ? this : orig.appendHeader.call(this, name, value)
    },
    removeHeader: function removeHeader(name) {
      const st = intercepted.get(this)
      return st !== undefined && st.ignored() ? undefined : orig.removeHeader.call(this, name)
    },
    setHeaders: function setHeaders(headers) {
      const st = intercepted.get(this)
      return st !== undefined && st.ignored() ? this : orig.setHeaders.call(this, headers)
    },
  }
  for (const name of HOOKED) {
    // setHeaders is Node >= 18.15, appendHeader >= 18.3: only what exists is replaced.
    if (typeof orig[name] !== 'function') continue
    const d = findDescriptor(proto, name)
    Object.defineProperty(proto, name, { value: h[name], writable: d?.writable ?? true, enumerable: d?.enumerable ?? true, configurable: true })
  }
  if (sent) {
    const d = findDescriptor(proto, 'headersSent')
    Object.defineProperty(proto, 'headersSent', {
      get(this: ServerResponse) {
        const st = intercepted.get(this)
        return st !== undefined ? st.headersSent(this) : sent.call(this)
      },
      enumerable: d?.enumerable ?? true,
      configurable: true,
    })
  }
  hooks = h
  return h
}

function findDescriptor(proto: object | null, name: string): PropertyDescriptor | undefined {
  for (let p = proto; p; p = Object.getPrototypeOf(p)) {
    const d = Object.getOwnPropertyDescriptor(p, name)
    if (d) return d
  }
  return undefined
}

function findGetter(proto: object, name: string): ((this: ServerResponse) => boolean) | undefined {
  return findDescriptor(proto, name)?.get as ((this: ServerResponse) => boolean) | undefined
}

/** Whether every writing method `res` resolves to is a hook (no subclass override, no own wrapper). */
function hooksApply(res: ServerResponse, h: Record<HookName, AnyFn>): boolean {
  const r = res as unknown as Record<HookName, AnyFn>
  return r.writeHead === h.writeHead && r.write === h.write && r.end === h.end && r.addTrailers === h.addTrailers && r.flushHeaders === h.flushHeaders &&
    r.setHeader === h.setHeader && r.removeHeader === h.removeHeader && !intercepted.has(res)
}

// ---- per-response interception ------------------------------------------------------------------

/** What a queued step of the response does. */
const Step = { Headers: 0, Data: 1, Trailers: 2, Flush: 3, None: 4 } as const
type Step = (typeof Step)[keyof typeof Step]

/**
 * The interception of one response: what the handler writes goes through the response phases of
 * the exchange, in order; what the chain releases is written with the original methods.
 */
class Interception implements HandlerHead, Hooked {
  readonly runner: ResponseRunner
  readonly #res: ServerResponse
  readonly #ex: Exchange
  readonly #logger: PluginLogger
  readonly #hwm: number
  readonly #lateReplies: boolean
  #head: Head | undefined
  #headers: HeaderMap | undefined
  #headFed = false
  #holdSent = false
  #ended = false
  #trailers: HeaderMap | undefined
  #queued = 0
  #needDrain = false
  #takenOver = false
  /** The tail of the steps still running asynchronously (a plugin paused, or the socket pushed back). */
  #tail: Promise<void> | undefined

  constructor(res: ServerResponse, ex: Exchange, methods: Methods, opts: { bodyless: boolean; logger: PluginLogger; lateReplies?: boolean }) {
    this.#res = res
    this.#ex = ex
    this.#logger = opts.logger
    this.#lateReplies = opts.lateReplies === true
    this.#hwm = res.writableHighWaterMark || 16 * 1024
    this.runner = new ResponseRunner(ex, new NodeResponseOut(res, methods, this), opts.bodyless)
  }

  handlerHead(): Head | undefined {
    return this.#head
  }

  untouched(headers: HeaderMap): boolean {
    return headers === this.#ex.responseHeadersMap && headers.version === 0
  }

  /** Whether headers the handler sent are held by the plugins (`headersSent` must say true). */
  get holding(): boolean {
    return this.#holdSent
  }

  /**
   * A plugin's reply went out while the handler still runs: its header changes are dropped (they
   * would throw ERR_HTTP_HEADERS_SENT at a handler that never sent anything). Only a request with a
   * body can be answered by a plugin after the handler started.
   */
  ignored(): boolean {
    if (!this.#lateReplies) return false
    return (this.#takenOver ||= this.#head === undefined && this.runner.committed)
  }

  /** Whether the handler ended the response. */
  get ended(): boolean {
    return this.#ended
  }

  /** `res.headersSent`: also true while the plugins hold headers the handler sent. */
  headersSent(_res?: ServerResponse): boolean {
    return this.#holdSent || !!(this.#res as ServerResponse & { _header?: unknown })._header
  }

  #fail(err: unknown): void {
    if (isAborted(err)) return
    logHost(this.#logger, 'error', `response phase failed: ${(err as Error).message}`)
    this.runner.reset()
  }

  #settle(bytes: number, cb: ((err?: Error | null) => void) | undefined, sync: boolean): void {
    this.#queued -= bytes
    if (cb) {
      if (sync) process.nextTick(cb)
      else cb()
    }
    if (this.#needDrain && this.#queued < this.#hwm && !this.#res.destroyed) {
      this.#needDrain = false
      this.#res.emit('drain')
    }
  }

  #step(kind: Step, buf: Buffer, eos: boolean): Maybe<void> {
    const runner = this.runner
    switch (kind) {
      case Step.Headers:
        return runner.headersMap(this.#headers!, eos)
      case Step.Data:
        return runner.data(buf, eos)
      case Step.Trailers:
        return runner.trailers(this.#trailers!)
      case Step.Flush:
        return runner.flush()
      default:
        return undefined
    }
  }

  #exec(kind: Step, buf: Buffer, eos: boolean, bytes: number, cb: ((err?: Error | null) => void) | undefined): Promise<void> | undefined {
    let r: Maybe<void>
    try {
      r = this.runner.done ? undefined : this.#step(kind, buf, eos)
    } catch (err) {
      this.#queued -= bytes
      this.#fail(err)
      return undefined
    }
    if (r instanceof Promise) {
      return r.then(
        () => this.#settle(bytes, cb, false),
        (err: unknown) => {
          this.#queued -= bytes
          this.#fail(err)
        },
      )
    }
    this.#settle(bytes, cb, true)
    return undefined
  }

  /** Runs a step: at once while nothing is pending, else after the pending ones. */
  #run(kind: Step, buf: Buffer, eos: boolean, cb?: (err?: Error | null) => void): void {
    const bytes = kind === Step.Data ? buf.byteLength : 0
    this.#queued += bytes
    const tail = this.#tail
    const p = tail ? tail.then(() => this.#exec(kind, buf, eos, bytes, cb)) : this.#exec(kind, buf, eos, bytes, cb)
    if (!p) return
    const t: Promise<void> = p.then(() => {
      if (this.#tail === t) this.#tail = undefined
    })
    this.#tail = t
  }

  /** Takes status, reason and headers as the handler left them (once). */
  #capture(): void {
    if (this.#head) return
    const res = this.#res
    this.#head = { status: res.statusCode, message: res.statusMessage || undefined }
    this.#headers = responseHeaderMap(res.statusCode, res.getHeaders())
  }

  /** Headers the plugins still hold count as sent for the handler (as after Node's writeHead). */
  #holdHeadersSent(): void {
    this.#holdSent = true
  }

  #feedHead(endOfStream: boolean): void {
    if (this.#headFed) return
    this.#headFed = true
    this.#capture()
    this.#run(Step.Headers, EMPTY, endOfStream)
    if (!this.runner.committed) this.#holdHeadersSent()
  }

  writeHead(_res: ServerResponse, status: number, reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): ServerResponse {
    const res = this.#res
    if (this.#head) return res
    if (typeof reason === 'string') res.statusMessage = reason
    else headers = reason
    res.statusCode = status
    if (Array.isArray(headers)) {
      // [[k, v], …] or a flat [k, v, k, v, …]
      if (headers.length && Array.isArray(headers[0])) for (const [k, v] of headers as unknown as Array<[string, string]>) res.appendHeader(k, v)
      else for (let i = 0; i + 1 < headers.length; i += 2) res.appendHeader(String(headers[i]), headers[i + 1] as string)
    } else if (headers) {
      const keys = Object.keys(headers)
      for (let i = 0; i < keys.length; i++) {
        const v = headers[keys[i]!]
        if (v !== undefined) res.setHeader(keys[i]!, v)
      }
    }
    this.#capture()
    this.#holdHeadersSent()
    return res
  }

  write(_res: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (typeof encoding === 'function') {
      cb = encoding
      encoding = undefined
    }
    if (this.#ended) {
      const err = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' })
      if (typeof cb === 'function') process.nextTick(cb as (e: Error) => void, err)
      return false
    }
    const buf = toBuffer(chunk, encoding as BufferEncoding | undefined)
    this.#feedHead(false)
    if (buf.byteLength) this.#run(Step.Data, buf, false, cb as (() => void) | undefined)
    else if (typeof cb === 'function') this.#run(Step.None, EMPTY, false, cb as () => void)
    if (this.#queued >= this.#hwm) {
      this.#needDrain = true
      return false
    }
    return true
  }

  end(_res: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse {
    const res = this.#res
    if (typeof chunk === 'function') {
      cb = chunk
      chunk = undefined
    } else if (typeof encoding === 'function') {
      cb = encoding
      encoding = undefined
    }
    if (typeof cb === 'function') res.once('finish', cb as () => void)
    if (this.#ended) return res
    this.#ended = true
    const buf = chunk === undefined || chunk === null ? EMPTY : toBuffer(chunk, encoding as BufferEncoding | undefined)
    if (this.#trailers) {
      // Trailers end the response (ABI: on_response_trailers after the last body chunk).
      this.#feedHead(false)
      if (buf.byteLength) this.#run(Step.Data, buf, false)
      this.#run(Step.Trailers, EMPTY, false)
    } else if (!this.#headFed && buf.byteLength === 0) this.#feedHead(true)
    else {
      this.#feedHead(false)
      this.#run(Step.Data, buf, true)
    }
    return res
  }

  addTrailers(_res: ServerResponse, headers: OutgoingHttpHeaders | ReadonlyArray<[string, string]>): void {
    const pairs = Array.isArray(headers) ? (headers as Array<[string, string]>).map(([k, v]): [string, string] => [k.toLowerCase(), String(v)]) : outgoingPairs(headers as OutgoingHttpHeaders)
    const t = (this.#trailers ??= new HeaderMap())
    for (const [k, v] of pairs) t.add(k, v)
  }

  flushHeaders(_res?: ServerResponse): void {
    this.#feedHead(false)
    this.#run(Step.Flush, EMPTY, false)
  }
}

/**
 * Replaces the header methods of `res` so that header changes are dropped once `ignored()` (a
 * plugin's reply already went out). Each wrapper calls the method `res` had before, so that
 * interceptions nest (two pipelines on one response).
 */
function installGuards(res: ServerResponse, ignored: () => boolean): void {
  for (const name of ['setHeader', 'appendHeader', 'removeHeader', 'setHeaders'] as const) {
    const original = res[name] as ((...args: unknown[]) => unknown) | undefined
    if (typeof original !== 'function') continue // setHeaders is Node >= 18.15
    Object.defineProperty(res, name, {
      configurable: true,
      writable: true,
      value(this: ServerResponse, ...args: unknown[]) {
        if (ignored()) return name === 'removeHeader' ? undefined : this
        return original.apply(this, args)
      },
    })
  }
}

/**
 * Runs what a handler writes to `res` through the response phases of `ex`: status and headers are
 * taken when the handler first writes (as Node does), body chunks go through the chain in order,
 * and what the chain releases is written with the original methods, with backpressure (`write()`
 * returns false while the chain or the socket is behind, and `drain` follows). `res.headersSent` is
 * true once the handler sent its headers, even while the plugins still hold them. Through the
 * prototype hooks when they apply to `res` (its shape is left alone), else on the instance.
 * @internal
 */
export function interceptResponse(res: ServerResponse, ex: Exchange, opts: { bodyless: boolean; logger: PluginLogger; lateReplies?: boolean }): ResponseRunner {
  const h = installHooks()
  if (hooksApply(res, h)) {
    const st = new Interception(res, ex, node as unknown as Methods, opts)
    intercepted.set(res, st)
    return st.runner
  }
  return interceptInstance(res, ex, opts)
}

/** The interception on the instance (wrappers, subclasses, nested pipelines): own methods on `res`. */
function interceptInstance(res: ServerResponse, ex: Exchange, opts: { bodyless: boolean; logger: PluginLogger; lateReplies?: boolean }): ResponseRunner {
  const orig: Methods = { writeHead: res.writeHead, write: res.write, end: res.end, setHeader: res.setHeader, removeHeader: res.removeHeader, addTrailers: res.addTrailers } as unknown as Methods
  const flushHeaders = res.flushHeaders
  releasers.set(res, () => Object.assign(res, { writeHead: orig.writeHead, write: orig.write, end: orig.end, addTrailers: orig.addTrailers, flushHeaders }))
  const st = new Interception(res, ex, orig, opts)
  if (opts.lateReplies) installGuards(res, () => st.ignored())
  let sentInstalled = false
  const installSent = () => {
    if (sentInstalled) return
    sentInstalled = true
    const sent = headersSentGetter
    Object.defineProperty(res, 'headersSent', {
      configurable: true,
      get(this: ServerResponse) {
        return st.headersSent() || (sent ? sent.call(this) : false)
      },
    })
  }
  res.writeHead = function writeHead(this: ServerResponse, status: number, reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]) {
    const r = st.writeHead(this, status, reason, headers)
    installSent()
    return r
  } as ServerResponse['writeHead']
  res.write = function write(this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    const r = st.write(this, chunk, encoding, cb)
    if (st.holding) installSent()
    return r
  } as ServerResponse['write']
  res.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    const r = st.end(this, chunk, encoding, cb)
    if (st.holding) installSent()
    return r
  } as ServerResponse['end']
  res.addTrailers = function addTrailers(this: ServerResponse, headers: OutgoingHttpHeaders | ReadonlyArray<[string, string]>) {
    st.addTrailers(this, headers)
  }
  res.flushHeaders = function flushHeaders(this: ServerResponse) {
    st.flushHeaders(this)
    if (st.holding) installSent()
  }
  return st.runner
}

function toBuffer(chunk: unknown, encoding: BufferEncoding | undefined): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  return Buffer.from(String(chunk), encoding ?? 'utf8')
}
