/**
 * Changes a Node request in place, so that code after the plugins (a handler, the rest of an Express
 * or Koa stack) sees the plugin-modified method, path, headers and body on the very same
 * `IncomingMessage` object (Express and Koa keep references to it).
 *
 * The body: Node's HTTP parser hands body bytes to the request with `req.push(chunk)` and the end
 * with `req.push(null)`, and asks the socket for more when the request's `_read()` runs. Both are
 * looked up on the instance, so own properties take the parser's chunks into the plugin chain and
 * push what the chain releases back into the stream, with backpressure on both sides: the socket
 * pauses while the chain or the reader is behind.
 * @internal
 * @module
 */
import { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import type { HeaderMap } from '../../host/header-map.js'
import { ClientGoneError, type ChunkSink, type ChunkSource } from './flow.js'
import { nodeHeaderObject } from './headers.js'

const push = Readable.prototype.push
const parserRead = IncomingMessage.prototype._read

/** The intercepted body of a request: a source for the chain, a sink back into the request. @internal */
export interface InPlaceBody {
  /** Chunks the client sent. */
  source: ChunkSource
  /** Where released chunks go: back into the request stream. */
  sink: ChunkSink
  /** The body reached the stream before the takeover: plugins see it, changes cannot reach the reader. */
  readOnly: boolean
}

/**
 * Takes over the body of `req` (call it synchronously in the `request` event or the first
 * middleware, before anything reads the body). Chunks already buffered by the stream are taken first.
 * @internal
 */
export function interceptRequestBody(req: IncomingMessage): InPlaceBody {
  const hwm = req.readableHighWaterMark || 16 * 1024
  const queue: Array<Buffer | null> = []
  let queued = 0
  let sawEnd = false
  let gone = false
  let discarding = false
  let downstreamEnded = false
  let wake: (() => void) | undefined
  let wantMore: (() => void) | undefined

  const signal = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  const resumeSocket = () => {
    // IncomingMessage#_read resumes the socket unless the server paused it for pipelining.
    if (!sawEnd && req.socket && !req.socket.destroyed) parserRead.call(req, 0)
  }
  let endRequested = false
  const endDownstream = () => {
    // The reader sees the end only after the parser's own end: an IncomingMessage that ends before
    // the parser marked it complete counts as aborted and destroys the socket.
    endRequested = true
    if (!sawEnd || downstreamEnded) return
    downstreamEnded = true
    push.call(req, null)
  }

  // Whatever the stream buffered before the takeover (a middleware that ran late) goes first.
  const state = (req as unknown as { _readableState: { length: number; ended: boolean } })._readableState
  if (state.ended) return readOnlyBody(req)
  let c: Buffer | string | null
  while (state.length > 0 && (c = req.read() as Buffer | string | null) !== null) {
    const b = typeof c === 'string' ? Buffer.from(c) : c
    queue.push(b)
    queued += b.byteLength
  }

  Object.defineProperty(req, 'push', {
    configurable: true,
    writable: true,
    value(chunk: Buffer | string | null, encoding?: BufferEncoding): boolean {
      if (chunk === null) {
        sawEnd = true
        if (!discarding) queue.push(null)
        if (endRequested) endDownstream()
        signal()
        return false
      }
      if (discarding) return true
      const b = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk
      queue.push(b)
      queued += b.byteLength
      signal()
      return queued < hwm
    },
  })
  Object.defineProperty(req, '_read', {
    configurable: true,
    writable: true,
    value(): void {
      const w = wantMore
      wantMore = undefined
      w?.()
    },
  })
  req.once('close', () => {
    if (!sawEnd) gone = true
    signal()
    const w = wantMore
    wantMore = undefined
    w?.()
  })

  const source: ChunkSource = {
    async read() {
      for (;;) {
        if (queue.length) {
          const c = queue.shift()!
          if (c !== null) {
            queued -= c.byteLength
            if (queued < hwm) resumeSocket()
          }
          return c
        }
        if (gone) throw new ClientGoneError('the request was aborted')
        if (discarding) return null
        resumeSocket()
        await new Promise<void>((resolve) => (wake = resolve))
      }
    },
    trailers() {
      const t = req.trailers
      return t && Object.keys(t).length ? t : undefined
    },
    discard() {
      if (discarding) return
      discarding = true
      queue.length = 0
      queued = 0
      resumeSocket()
      signal()
      const w = wantMore
      wantMore = undefined
      w?.()
    },
  }

  const sink: ChunkSink = {
    write(chunk) {
      if (endRequested || gone) return
      if (push.call(req, chunk)) return
      return new Promise<void>((resolve) => (wantMore = resolve))
    },
    end: endDownstream,
    // Never destroy the request here: that would reset the socket the reply still needs.
    fail: endDownstream,
  }
  return { source, sink, readOnly: false }
}

/**
 * The whole body reached the stream before the takeover (a middleware before ours waited for
 * something): the plugins see a copy of it, the reader keeps the original (it saw the end already).
 */
function readOnlyBody(req: IncomingMessage): InPlaceBody {
  const chunks: Buffer[] = []
  let c: Buffer | string | null
  while ((c = req.read() as Buffer | string | null) !== null) chunks.push(typeof c === 'string' ? Buffer.from(c) : c)
  // Put it back before the stream can emit 'end' (that happens on a later tick when it is empty).
  const all = Buffer.concat(chunks)
  if (all.byteLength) req.unshift(all)
  const queue: Array<Buffer | null> = all.byteLength ? [all, null] : [null]
  return {
    source: {
      async read() {
        return queue.length ? queue.shift()! : null
      },
      trailers: () => undefined,
      discard() {
        queue.length = 0
      },
    },
    sink: { write() {}, end() {}, fail() {} },
    readOnly: true,
  }
}

/**
 * Writes released request headers back onto `req`: `:method` → `req.method`, `:path` → `req.url`,
 * `:authority` → `host`, the rest → `req.headers` / `req.rawHeaders` / `req.headersDistinct`.
 * @param prefix - a mount path Express removed from `req.url` (put back before the plugins, removed again here)
 * @internal
 */
export function applyRequestHeaders(req: IncomingMessage, headers: HeaderMap, prefix = ''): void {
  let method: string | undefined
  let path: string | undefined
  let authority: string | undefined
  let hasHost = false
  const pairs: Array<[string, string]> = []
  for (const p of headers.pairs) {
    const k = p[0]
    if (k.charCodeAt(0) === 58 /* ':' */) {
      if (k === ':method') method ??= p[1]
      else if (k === ':path') path ??= p[1]
      else if (k === ':authority') authority ??= p[1]
      continue
    }
    if (k === 'host') hasHost = true
    pairs.push(p as [string, string])
  }
  if (method) req.method = method
  if (path !== undefined) req.url = prefix && path.startsWith(prefix) ? path.slice(prefix.length) || '/' : path
  if (authority && !hasHost) pairs.unshift(['host', authority])
  const raw: string[] = new Array(pairs.length * 2)
  const distinct: Record<string, string[]> = {}
  for (let i = 0; i < pairs.length; i++) {
    const [k, v] = pairs[i]!
    raw[2 * i] = k
    raw[2 * i + 1] = v
    const d = distinct[k]
    if (d) d.push(v)
    else distinct[k] = [v]
  }
  req.rawHeaders = raw
  req.headers = nodeHeaderObject(pairs)
  ;(req as { headersDistinct: Record<string, string[]> }).headersDistinct = distinct
}
