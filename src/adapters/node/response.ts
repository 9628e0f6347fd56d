/**
 * Response side for `node:http`: a {@link ResponseOut} that writes to a `ServerResponse`, and the
 * interception of `writeHead`/`write`/`end` that runs a handler's response through the plugins.
 * @internal
 * @module
 */
import type { OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from 'node:http'
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

/**
 * A {@link ResponseOut} over a `ServerResponse`. `methods` are the functions that really write
 * (the originals when the response is intercepted).
 * @param reason - the status message a handler chose, kept when the plugins left the status alone
 * @param untouched - whether `headers` are exactly the ones already set on `res` (nothing to rewrite)
 * @internal
 */
export function serverResponseOut(
  res: ServerResponse,
  methods: Methods = res,
  reason?: () => { status: number; message: string | undefined } | undefined,
  untouched?: (headers: HeaderMap) => boolean,
): ResponseOut {
  const gone = () => res.destroyed || res.writableEnded
  const writeHead = (headers: HeaderMap): boolean => {
    try {
      const status = Number(headers.get(':status')) || 200
      // Headers no plugin changed are already on `res` as the handler set them.
      if (!untouched?.(headers)) {
        for (const n of res.getHeaderNames()) methods.removeHeader.call(res, n)
        for (const [k, v] of Object.entries(groupHeaders(headers))) methods.setHeader.call(res, k, v)
      }
      const r = reason?.()
      if (r && r.status === status && r.message) methods.writeHead.call(res, status, r.message)
      else methods.writeHead.call(res, status)
      return true
    } catch (err) {
      // A header value no HTTP/1 message can carry (a plugin wrote a newline, a bad status).
      res.destroy(err as Error)
      return false
    }
  }
  return {
    full(headers, body, trailers) {
      if (gone() || !writeHead(headers)) return
      if (trailers?.size && res.chunkedEncoding) methods.addTrailers.call(res, groupHeaders(trailers))
      methods.end.call(res, body)
    },
    head(headers) {
      if (!gone()) writeHead(headers)
    },
    write(chunk) {
      if (gone()) return
      if (!methods.write.call(res, chunk)) return drained(res)
    },
    end(trailers) {
      if (gone()) return
      if (trailers?.size && res.chunkedEncoding) methods.addTrailers.call(res, groupHeaders(trailers))
      methods.end.call(res)
    },
    destroy() {
      res.destroy()
    },
  }
}

type HeaderMethod = 'setHeader' | 'appendHeader' | 'removeHeader' | 'setHeaders'
const HEADER_METHODS: readonly HeaderMethod[] = ['setHeader', 'appendHeader', 'removeHeader', 'setHeaders']

/**
 * Replaces the header methods of `res` so that header changes are dropped once `ignored()` (a
 * plugin's reply already went out). Each wrapper calls the method `res` had before, so that
 * interceptions nest (two pipelines on one response).
 */
function installGuards(res: ServerResponse, ignored: () => boolean): void {
  for (const name of HEADER_METHODS) {
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

/** Makes `res.headersSent` true while the plugins hold headers the handler sent (`headFed()`). */
function installHeadersSent(res: ServerResponse, headFed: () => boolean): void {
  Object.defineProperty(res, 'headersSent', {
    configurable: true,
    get(this: ServerResponse & { _header?: unknown }) {
      return headFed() || !!this._header
    },
  })
}

/**
 * Runs what a handler writes to `res` through the response phases of `ex`: `writeHead`, `write`,
 * `end`, `addTrailers` and `flushHeaders` are replaced on the instance; status and headers are taken when the
 * handler first writes (as Node does), body chunks go through the chain in order, and what the
 * chain releases is written with the original methods, with backpressure (`write()` returns false
 * while the chain or the socket is behind, and `drain` follows). `res.headersSent` is true once the
 * handler sent its headers, even while the plugins still hold them.
 * @internal
 */
export function interceptResponse(res: ServerResponse, ex: Exchange, opts: { bodyless: boolean; logger: PluginLogger; lateReplies?: boolean }): ResponseRunner {
  const orig: Methods = { writeHead: res.writeHead, write: res.write, end: res.end, setHeader: res.setHeader, removeHeader: res.removeHeader, addTrailers: res.addTrailers }
  const flushHeaders = res.flushHeaders
  releasers.set(res, () => Object.assign(res, { writeHead: orig.writeHead, write: orig.write, end: orig.end, addTrailers: orig.addTrailers, flushHeaders }))
  let head: { status: number; message: string | undefined; headers: HeaderMap } | undefined
  const out = serverResponseOut(res, orig, () => head, (h) => h === ex.responseHeadersMap && h.version === 0)
  const runner = new ResponseRunner(ex, out, opts.bodyless)
  const hwm = res.writableHighWaterMark || 16 * 1024
  let headFed = false
  let ended = false
  let trailers: HeaderMap | undefined
  let queued = 0
  let needDrain = false
  // The tail of the steps still running asynchronously (a plugin paused, or the socket pushed back).
  let tail: Promise<void> | undefined

  const fail = (err: unknown) => {
    if (isAborted(err)) return
    logHost(opts.logger, 'error', `response phase failed: ${(err as Error).message}`)
    runner.reset()
  }
  const settle = (bytes: number, cb: ((err?: Error | null) => void) | undefined, sync: boolean) => {
    queued -= bytes
    if (cb) {
      if (sync) process.nextTick(cb)
      else cb()
    }
    if (needDrain && queued < hwm && !res.destroyed) {
      needDrain = false
      res.emit('drain')
    }
  }
  const exec = (bytes: number, step: () => Maybe<void>, cb?: (err?: Error | null) => void): Promise<void> | undefined => {
    let r: Maybe<void>
    try {
      r = runner.done ? undefined : step()
    } catch (err) {
      queued -= bytes
      fail(err)
      return undefined
    }
    if (r instanceof Promise) {
      return r.then(
        () => settle(bytes, cb, false),
        (err: unknown) => {
          queued -= bytes
          fail(err)
        },
      )
    }
    settle(bytes, cb, true)
    return undefined
  }
  // Steps run in order: at once while nothing is pending, else after the pending ones.
  const run = (bytes: number, step: () => Maybe<void>, cb?: (err?: Error | null) => void) => {
    queued += bytes
    const p = tail ? tail.then(() => exec(bytes, step, cb)) : exec(bytes, step, cb)
    if (!p) return
    const t: Promise<void> = p.then(() => {
      if (tail === t) tail = undefined
    })
    tail = t
  }
  const capture = () => {
    head ??= { status: res.statusCode, message: res.statusMessage || undefined, headers: responseHeaderMap(res) }
  }
  // Headers the plugins still hold count as sent for the handler (as after Node's writeHead).
  let sentInstalled = false
  const holdHeadersSent = () => {
    if (sentInstalled) return
    sentInstalled = true
    installHeadersSent(res, () => head !== undefined)
  }
  const feedHead = (endOfStream: boolean) => {
    if (headFed) return
    headFed = true
    capture()
    const h = head!
    run(0, () => runner.headers(h.status, h.headers, endOfStream))
    if (!runner.committed) holdHeadersSent()
  }

  // A plugin's reply went out while the handler still runs: its header changes are dropped (they
  // would throw ERR_HTTP_HEADERS_SENT at a handler that never sent anything). Only a request with
  // a body can be answered by a plugin after the handler started.
  let takenOver = false
  if (opts.lateReplies) installGuards(res, () => (takenOver ||= head === undefined && runner.committed))
  res.writeHead = function writeHead(this: ServerResponse, status: number, reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]) {
    if (head) return this
    if (typeof reason === 'string') this.statusMessage = reason
    else headers = reason
    this.statusCode = status
    if (Array.isArray(headers)) {
      // [[k, v], …] or a flat [k, v, k, v, …]
      if (headers.length && Array.isArray(headers[0])) for (const [k, v] of headers as unknown as Array<[string, string]>) this.appendHeader(k, v)
      else for (let i = 0; i + 1 < headers.length; i += 2) this.appendHeader(String(headers[i]), headers[i + 1] as string)
    } else if (headers) {
      for (const [k, v] of Object.entries(headers)) if (v !== undefined) this.setHeader(k, v)
    }
    capture()
    holdHeadersSent()
    return this
  } as ServerResponse['writeHead']
  res.write = function write(this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (typeof encoding === 'function') {
      cb = encoding
      encoding = undefined
    }
    if (ended) {
      const err = Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' })
      if (typeof cb === 'function') process.nextTick(cb as (e: Error) => void, err)
      return false
    }
    const buf = toBuffer(chunk, encoding as BufferEncoding | undefined)
    feedHead(false)
    if (buf.byteLength) run(buf.byteLength, () => runner.data(buf, false), cb as (() => void) | undefined)
    else if (typeof cb === 'function') run(0, () => undefined, cb as () => void)
    if (queued >= hwm) {
      needDrain = true
      return false
    }
    return true
  } as ServerResponse['write']
  res.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === 'function') {
      cb = chunk
      chunk = undefined
    } else if (typeof encoding === 'function') {
      cb = encoding
      encoding = undefined
    }
    if (typeof cb === 'function') this.once('finish', cb as () => void)
    if (ended) return this
    ended = true
    const buf = chunk === undefined || chunk === null ? EMPTY : toBuffer(chunk, encoding as BufferEncoding | undefined)
    const t = trailers
    if (t) {
      // Trailers end the response (ABI: on_response_trailers after the last body chunk).
      feedHead(false)
      if (buf.byteLength) run(buf.byteLength, () => runner.data(buf, false))
      run(0, () => runner.trailers(t))
    } else if (!headFed && buf.byteLength === 0) feedHead(true)
    else {
      feedHead(false)
      run(buf.byteLength, () => runner.data(buf, true))
    }
    return this
  } as ServerResponse['end']
  res.addTrailers = function addTrailers(this: ServerResponse, headers: OutgoingHttpHeaders | ReadonlyArray<[string, string]>) {
    const pairs = Array.isArray(headers) ? (headers as Array<[string, string]>).map(([k, v]): [string, string] => [k.toLowerCase(), String(v)]) : outgoingPairs(headers as OutgoingHttpHeaders)
    trailers ??= new HeaderMap()
    for (const [k, v] of pairs) trailers.add(k, v)
  }
  res.flushHeaders = function flushHeaders(this: ServerResponse) {
    feedHead(false)
    run(0, () => runner.flush())
  }
  return runner
}

const releasers = new WeakMap<ServerResponse, () => void>()

/**
 * Gives `res` its own methods back (before anything was written): what the app writes next goes
 * straight to the client, outside the response phases (`onPluginError: 'forward'`).
 * @internal
 */
export function releaseResponse(res: ServerResponse): void {
  releasers.get(res)?.()
  releasers.delete(res)
}

function toBuffer(chunk: unknown, encoding: BufferEncoding | undefined): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  return Buffer.from(String(chunk), encoding ?? 'utf8')
}
