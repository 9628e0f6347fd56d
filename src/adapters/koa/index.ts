/**
 * `proxy-wasm-host/koa`: proxy-wasm plugins as Koa middleware. Koa is an optional peer dependency
 * and is only used for types here.
 *
 * @example
 * ```ts
 * import Koa from 'koa'
 * import { proxyWasm } from 'proxy-wasm-host/koa'
 *
 * const app = new Koa()
 * app.use(proxyWasm({ pipeline }))
 * app.use((ctx) => { ctx.body = { hello: ctx.get('hello') } })
 * ```
 * @module proxy-wasm-host/koa
 */
import { STATUS_CODES } from 'node:http'
import { Readable } from 'node:stream'
import type { Context, Middleware, Next } from 'koa'
import type { HeaderMap } from '../../host/header-map.js'
import type { PhaseResult } from '../../pipeline/exchange.js'
import type { Exchange } from '../../pipeline/exchange.js'
import type { PluginPipeline } from '../../pipeline/pipeline.js'
import { endWithResponse, feedResponse, frame, isAborted, PushReadable, RequestRunner, ResponseRunner, type Maybe, type RequestStart, type ResponseOut } from '../node/flow.js'
import { fixedRoute, runsNoPlugin } from '../node/handle.js'
import { groupHeaders, requestHasBody, responseHeaderMap, startExchange, type RouteInfo } from '../node/headers.js'
import { applyRequestHeaders, interceptRequestBody, type InPlaceBody } from '../node/in-place.js'
import { checkPipeline, pipelineFor, routeFor, type ProxyWasmOptions as Options } from '../node/options.js'
import { logHost } from '../node/response.js'
import { pluginFailureOf } from '../node/plugin-errors.js'

const EMPTY_STATUS = new Set([204, 205, 304])

/**
 * Options of the Koa {@link proxyWasm} middleware; `match` receives the Koa context.
 * @example
 * ```ts
 * const options: ProxyWasmOptions = { pipeline, match: (ctx) => ({ route: ctx.path.split('/')[1] }) }
 * ```
 */
export type ProxyWasmOptions = Options<Context>

/**
 * Koa middleware that runs the plugins of a pipeline around the rest of the stack.
 *
 * Request phases run before `next()`: downstream middleware sees the method, URL, headers and body
 * (`ctx.req`, streamed with backpressure) as the plugins left them; a plugin's local reply becomes
 * the response and `next()` is not called. After `await next()`, response phases run on
 * `ctx.status`, the response headers and `ctx.body` (string, Buffer, JSON, stream, Blob or web
 * stream, and Koa's default status body), and the result is put back into `ctx` (a streamed body
 * stays a stream; `content-length` is recomputed or dropped when a plugin changed the body). An
 * error thrown downstream becomes Koa's usual error response first, so plugins see it too. The
 * exchange ends with the response (`on_log`, `on_done`), or is aborted when the client goes away.
 * With `ctx.respond = false` the response bypasses the response phases.
 *
 * @param options - the pipeline, and route / service names (fixed, or `match(ctx)`)
 * @returns a Koa middleware
 * @throws `PWH_ERR_CONFIG_INVALID` when `pipeline` is not a pipeline
 * @example
 * ```ts
 * app.use(proxyWasm({ pipeline, match: (ctx) => ({ route: ctx.path.startsWith('/api') ? 'api' : 'web' }) }))
 * ```
 */
export function proxyWasm(options: ProxyWasmOptions): Middleware {
  const source = checkPipeline(options?.pipeline, 'proxyWasm()')
  const fixed = fixedRoute(options)
  // Not an async function: a request that no plugin pauses costs one promise (Koa's next()), not one per step.
  return function proxyWasmMiddleware(ctx: Context, next: Next): Promise<void> | void {
    const pipeline = pipelineFor(source, ctx)
    const route = fixed ?? routeFor(options, ctx)
    // No plugin for this request: nothing to run.
    if (runsNoPlugin(pipeline, route)) return next()
    return new KoaRun(ctx, pipeline, route, options.onPluginError === 'forward').start(next)
  }
}

/** One request through the middleware (a class rather than closures: it is made per request). */
class KoaRun {
  readonly ex: Exchange
  readonly runner: RequestRunner
  readonly response: ResponseRunner
  readonly body: InPlaceBody | undefined
  late: PhaseResult | undefined

  constructor(
    readonly ctx: Context,
    readonly pipeline: PluginPipeline,
    route: RouteInfo,
    readonly forward: boolean,
  ) {
    const req = ctx.req
    this.ex = startExchange(pipeline, req, route)
    const hasBody = requestHasBody(req.headers)
    this.body = hasBody ? interceptRequestBody(req) : undefined
    this.runner = new RequestRunner(this.ex, this.body?.source, req.headers['content-length'])
    this.response = new ResponseRunner(this.ex, koaOut(ctx), ctx.method === 'HEAD')
    endWithResponse(ctx.res, this.ex, this.runner)
  }

  start(next: Next): Maybe<void> {
    let s: Maybe<RequestStart>
    try {
      s = this.runner.start()
    } catch (err) {
      return this.#startFailed(err)
    }
    if (s instanceof Promise) return s.then((x) => this.#started(x, next), (err: unknown) => this.#startFailed(err))
    return this.#started(s, next)
  }

  #startFailed(err: unknown): void {
    if (!isAborted(err)) throw err
    this.ex.abort()
    this.ctx.respond = false
  }

  #started(start: RequestStart, next: Next): Maybe<void> {
    const { ctx, ex, runner, body, response } = this
    if (start.kind === 'local') {
      const failure = this.forward ? pluginFailureOf(ex, start.response) : undefined
      if (failure) ctx.throw(500, failure)
      return response.local(start.response)
    }
    if (start.kind === 'closed') return response.reset()
    applyRequestHeaders(ctx.req, body?.readOnly ? start.headers : frame(start.headers, start.framing, runner.flow, { chunkedHeader: true }))
    if (body) {
      runner.onLate = (r) => {
        this.late = r
      }
      const logger = this.pipeline.host.logger
      runner.pipe(body.sink).catch((err: Error) => logHost(logger, 'error', `request body failed: ${err.message}`))
    }
    let downstream: Promise<void>
    try {
      downstream = next()
    } catch (err) {
      downstream = Promise.reject(err)
    }
    return downstream.then(
      () => this.#respond(),
      (err: unknown) => {
        if (ctx.headerSent || !ctx.writable) throw err
        koaError(ctx, err)
        return this.#respond()
      },
    )
  }

  #respond(): Maybe<void> {
    const late = this.late
    if (late) {
      // A plugin answered from the request body while the app ran: its reply wins (Envoy resets
      // the upstream request and sends the local reply).
      if (late.action === 'local' && late.localResponse) return this.response.local(late.localResponse)
      return this.response.reset()
    }
    const ctx = this.ctx
    if (ctx.respond === false || !ctx.writable) return
    return runResponse(ctx, this.response)
  }
}

/** Feeds `ctx.status`, the headers and `ctx.body` to the response phases; returns once the response is decided. */
function runResponse(ctx: Context, response: ResponseRunner): Maybe<void> {
  const b: unknown = ctx.body
  // A Blob is read first (the only body that needs a promise before the phases).
  if (typeof Blob !== 'undefined' && b instanceof Blob && !EMPTY_STATUS.has(ctx.status) && ctx.method !== 'HEAD') {
    return b.arrayBuffer().then((ab) => feedKoa(ctx, response, Buffer.from(ab), undefined))
  }
  const status = ctx.status
  let buf: Buffer | undefined
  let stream: Readable | undefined
  const head = ctx.method === 'HEAD'
  if (EMPTY_STATUS.has(status) || head) {
    // no body on the wire (Koa does not send one either)
  } else if (b === null || b === undefined) {
    if (!(ctx.response as { _explicitNullBody?: boolean })._explicitNullBody) {
      // Koa's default body for a status without one (e.g. 404 "Not Found").
      const text = ctx.message || String(status)
      ctx.type = 'text'
      buf = Buffer.from(text)
      ctx.length = buf.byteLength
    }
  } else if (Buffer.isBuffer(b)) buf = b
  else if (typeof b === 'string') buf = Buffer.from(b)
  else if (b instanceof Readable || (typeof b === 'object' && typeof (b as { pipe?: unknown }).pipe === 'function')) stream = b as Readable
  else if (typeof ReadableStream !== 'undefined' && b instanceof ReadableStream) stream = Readable.fromWeb(b as import('node:stream/web').ReadableStream)
  else if (typeof Response !== 'undefined' && b instanceof Response) stream = b.body ? Readable.fromWeb(b.body as import('node:stream/web').ReadableStream) : undefined
  else {
    buf = Buffer.from(JSON.stringify(b))
    ctx.length = buf.byteLength
  }
  return feedKoa(ctx, response, buf, stream)
}

function feedKoa(ctx: Context, response: ResponseRunner, buf: Buffer | undefined, stream: Readable | undefined): Maybe<void> {
  const headers = responseHeaderMap(ctx.status, ctx.res.getHeaders())
  if (buf && !headers.has('content-length')) headers.kv.push('content-length', String(buf.byteLength))
  const eos = stream === undefined && (buf === undefined || buf.byteLength === 0)
  // The rest of a streamed body flows after the middleware returned, while Koa pipes the result.
  return feedResponse(response, headers, eos, { buf, stream: stream as AsyncIterable<Buffer | string> | undefined })
}

/** Writes what the plugins released into the Koa context. */
function koaOut(ctx: Context): ResponseOut {
  let stream: PushReadable | undefined
  const setHeaders = (headers: HeaderMap) => {
    const res = ctx.res
    for (const n of res.getHeaderNames()) res.removeHeader(n)
    for (const [k, v] of Object.entries(groupHeaders(headers))) res.setHeader(k, v)
  }
  const setStatus = (headers: HeaderMap) => {
    const status = Number(headers.get(':status')) || 200
    ctx.status = status
    return status
  }
  return {
    full(headers, body) {
      const status = setStatus(headers)
      ctx.body = EMPTY_STATUS.has(status) ? null : body
      setHeaders(headers)
    },
    head(headers) {
      setStatus(headers)
      stream = new PushReadable()
      ctx.body = stream
      setHeaders(headers)
    },
    write(chunk) {
      return stream?.write(chunk)
    },
    end() {
      stream?.end()
    },
    destroy() {
      ctx.respond = false
      stream?.destroy()
      ctx.res.destroy()
    },
  }
}

/** Koa's own error response (`ctx.onerror` without writing), so that the plugins see it. */
function koaError(ctx: Context, thrown: unknown): void {
  const err = (thrown instanceof Error ? thrown : new Error(`non-error thrown: ${String(thrown)}`)) as Error & {
    status?: number
    statusCode?: number
    expose?: boolean
    headers?: Record<string, string>
  }
  ctx.app.emit('error', err, ctx)
  const res = ctx.res
  for (const n of res.getHeaderNames()) res.removeHeader(n)
  for (const [name, value] of Object.entries(err.headers ?? {})) {
    const lower = name.toLowerCase()
    if (lower !== 'content-type' && lower !== 'content-length') ctx.set(name, value)
  }
  let status = err.status ?? err.statusCode
  if (typeof status !== 'number' || !STATUS_CODES[status]) status = 500
  ctx.status = status
  ctx.body = err.expose ? err.message : (STATUS_CODES[status] ?? 'Internal Server Error')
  ctx.type = 'text'
}
