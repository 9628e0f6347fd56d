/**
 * `handle()`: a `node:http` request handler with the plugins in front of it; and `runInPlace()`,
 * the same machinery for connect-style middleware (Express).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { PluginPipeline } from '../../pipeline/pipeline.js'
import type { Exchange } from '../../pipeline/exchange.js'
import { endWithResponse, frame, isAborted, RequestRunner, type RequestStart, type ResponseRunner } from './flow.js'
import { requestHasBody, startExchange, type RouteInfo } from './headers.js'
import { applyRequestHeaders, interceptRequestBody, type InPlaceBody } from './in-place.js'
import { checkPipeline, pipelineFor, routeFor, type PipelineSource, type ProxyWasmOptions, type RouteOptions } from './options.js'
import { interceptResponse, logHost, releaseResponse, retireResponse } from './response.js'
import { pluginFailureOf } from './plugin-errors.js'
import type { PluginFailureError } from '../../errors.js'

/**
 * A `node:http` request handler.
 * @example
 * ```ts
 * const app: NodeHandler = (req, res) => res.end('ok')
 * ```
 */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void

/**
 * Options of {@link handle}: route and service names, fixed or per request.
 * @example
 * ```ts
 * const options: HandleOptions = { route: 'api', service: 'backend:8080' }
 * ```
 */
export type HandleOptions = RouteOptions<IncomingMessage>

/** What {@link runInPlace} calls when the request may go on, or when something broke. @internal */
export interface InPlaceHooks {
  /** The request (changed in place) goes on to the handler / the next middleware. */
  proceed(): void
  /** An unexpected error (not a plugin answer, not a client abort). */
  fail(err: Error): void
  /** A mount path removed from `req.url` (Express): the plugins see the full path. */
  prefix?: string
  /** `onPluginError: 'forward'`: a plugin failure goes here instead of the fail strategy's 500. */
  pluginError?: (err: PluginFailureError) => void
}

/**
 * One request run in place (a class rather than closures: it is made per request). Ends the
 * exchange with the response: `done()` once `res` finished, `abort()` when it closed before.
 */
class InPlaceRun {
  readonly ex: Exchange
  readonly runner: RequestRunner
  response!: ResponseRunner
  #finished = false

  constructor(
    readonly pipeline: PluginPipeline,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly hooks: InPlaceHooks,
    readonly body: InPlaceBody | undefined,
    route: RouteInfo,
  ) {
    const prefix = hooks.prefix ?? ''
    this.ex = startExchange(pipeline, req, route, prefix)
    this.runner = new RequestRunner(this.ex, body?.source, req.headers['content-length'])
  }

  /** `res` emitted `finish`. */
  finished(): void {
    this.#finished = true
    this.runner.stop()
    this.ex.done()
  }

  /** `res` emitted `close`. */
  closed(): void {
    if (this.#finished) return
    this.runner.stop()
    this.ex.abort()
  }

  failed(err: Error): void {
    if (isAborted(err)) {
      this.ex.abort()
      return
    }
    this.hooks.fail(err)
  }

  started(s: RequestStart, headersBefore: number): void {
    const { ex, runner, body, req, res } = this
    const response = this.response
    if (s.kind === 'local') {
      const failure = this.hooks.pluginError && pluginFailureOf(ex, s.response)
      if (failure) {
        releaseResponse(res)
        return this.hooks.pluginError!(failure)
      }
      return void response.local(s.response)
    }
    if (s.kind === 'closed') return response.reset()
    const prefix = this.hooks.prefix ?? ''
    // Headers no plugin touched stay as Node parsed them (nothing to rebuild).
    if (body || prefix || ex.requestHeadersMap.version !== headersBefore) {
      applyRequestHeaders(req, body?.readOnly ? s.headers : frame(s.headers, s.framing, runner.flow, { chunkedHeader: true }), prefix)
    }
    if (body) {
      // A plugin may still answer from the body after the handler started: the reply replaces
      // the handler's response if no header went out yet, else the stream is reset (as Envoy).
      runner.onLate = (r) => {
        if (r.action === 'local' && r.localResponse) void response.local(r.localResponse)
        else response.reset()
      }
      const logger = this.pipeline.host.logger
      runner.pipe(body.sink).catch((err: Error) => logHost(logger, 'error', `request body failed: ${err.message}`))
    }
    this.hooks.proceed()
  }
}

/** Runs registered by response, for the listeners below (one function for every response, no closure each). */
const runs = new WeakMap<ServerResponse, InPlaceRun>()
function onFinish(this: ServerResponse): void {
  runs.get(this)?.finished()
}
function onClose(this: ServerResponse): void {
  const run = runs.get(this)
  if (run === undefined) return
  runs.delete(this)
  run.closed()
  retireResponse(this)
}

/**
 * Runs one request through `pipeline` in place: request phases before `hooks.proceed()` (method,
 * url, headers and body of `req` changed as the plugins left them), response phases on whatever is
 * written to `res`, `ex.done()` when the response finished and `ex.abort()` when the client went away.
 * @internal
 */
export function runInPlace(pipeline: PluginPipeline, req: IncomingMessage, res: ServerResponse, route: RouteInfo, hooks: InPlaceHooks): void {
  const hasBody = requestHasBody(req.headers)
  const run = new InPlaceRun(pipeline, req, res, hooks, hasBody ? interceptRequestBody(req) : undefined, route)
  const ex = run.ex
  run.response = interceptResponse(res, ex, { bodyless: req.method === 'HEAD', logger: pipeline.host.logger, lateReplies: hasBody })
  const headersBefore = ex.requestHeadersMap.version
  if (runs.has(res)) {
    // A second pipeline on this response (nested middleware): listeners of its own.
    endWithResponse(res, ex, run.runner)
  } else {
    runs.set(res, run)
    res.on('finish', onFinish)
    res.on('close', onClose)
  }
  // Without a pausing plugin the handler runs in this very tick (no promise in between).
  try {
    const s = run.runner.start()
    if (s instanceof Promise) s.then((x) => run.started(x, headersBefore)).catch((err: Error) => run.failed(err))
    else run.started(s, headersBefore)
  } catch (err) {
    run.failed(err as Error)
  }
}

/**
 * Puts the plugins of `pipeline` in front of a `node:http` request handler.
 *
 * Request phases run first: the handler sees the method, URL, headers and body the plugins left
 * (the body streams through with backpressure; it is held only while a plugin holds it, and
 * `content-length` is kept right). When a plugin answers (`proxy_send_local_response`), that answer
 * is sent and the handler is never called. Response phases run on what the handler writes (status,
 * headers and body through `writeHead`/`setHeader`/`write`/`end`), and what the plugins release is
 * written with `content-length` recomputed or dropped when a plugin changed the body. The exchange
 * ends with the response (`on_log`, `on_done`, `on_delete`), or is aborted when the client goes away.
 *
 * @param pipeline - the plugins, or a function picking a pipeline per request
 * @param handler - the application (`(req, res) => void`, e.g. an Express app)
 * @param options - route and service names, fixed or per request
 * @returns a request handler for `http.createServer()`
 * @throws `PWH_ERR_CONFIG_INVALID` when `pipeline` is not a pipeline
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { WasmPluginHost, PluginPipeline } from 'proxy-wasm-host'
 * import { handle } from 'proxy-wasm-host/node'
 *
 * const host = new WasmPluginHost()
 * const pipeline = new PluginPipeline(host, { plugins: [await host.load({ wasm: './main.wasm', config: { mockEnable: false } })] })
 * createServer(handle(pipeline, (req, res) => res.end(`hello ${req.headers.hello}`), { route: 'api' })).listen(8080)
 * ```
 */
export function handle(pipeline: PipelineSource<IncomingMessage>, handler: NodeHandler, options: HandleOptions = {}): NodeHandler {
  const source = checkPipeline(pipeline, 'handle()')
  const fixed = fixedRoute(options)
  return (req, res) => {
    const p = pipelineFor(source, req)
    const route = fixed ?? routeFor(options, req)
    // No plugin for this request: nothing to run, the handler gets the request as it is.
    if (runsNoPlugin(p, route)) return handler(req, res)
    runInPlace(p, req, res, route, new HandlerHooks(handler, req, res, p))
  }
}

/** {@link InPlaceHooks} of {@link handle}. */
class HandlerHooks implements InPlaceHooks {
  constructor(
    readonly handler: NodeHandler,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly pipeline: PluginPipeline,
  ) {}

  proceed(): void {
    this.handler(this.req, this.res)
  }

  fail(err: Error): void {
    const res = this.res
    logHost(this.pipeline.host.logger, 'error', `proxy-wasm-host: ${err.message}`)
    if (!res.headersSent) {
      res.statusCode = 500
      res.setHeader('content-type', 'text/plain')
      res.end('proxy-wasm-host: internal error')
    } else res.destroy(err)
  }
}

/** {@link InPlaceHooks} of connect-style middleware. */
class NextHooks implements InPlaceHooks {
  pluginError: ((err: PluginFailureError) => void) | undefined
  constructor(
    readonly next: (err?: unknown) => void,
    readonly prefix: string,
  ) {}

  proceed(): void {
    this.next()
  }

  fail(err: Error): void {
    this.next(err)
  }
}

/** The route of every request when `options` has no `match` (computed once). @internal */
export function fixedRoute<Req>(options: RouteOptions<Req>): RouteInfo | undefined {
  return options.match ? undefined : routeFor(options, undefined as unknown as Req)
}

/** Whether no plugin runs for a request on `route` (a second copy of the library: assume some do). @internal */
export function runsNoPlugin(pipeline: PluginPipeline, route: RouteInfo): boolean {
  return typeof pipeline.runsNoPlugin === 'function' && pipeline.runsNoPlugin(route.route, route.service)
}

/**
 * A connect-style middleware (`connect`, `polka`, Express): `next()` continues, `next(err)` fails.
 * @example
 * ```ts
 * const mw: ConnectMiddleware = proxyWasm({ pipeline })
 * ```
 */
export type ConnectMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void

/**
 * Connect-style middleware (`(req, res, next)`) that runs the plugins of a pipeline around the rest
 * of the stack; the same behaviour as {@link handle}, with `next()` in place of the handler.
 *
 * @param options - the pipeline, and route / service names (fixed, or `match(req)`)
 * @returns a middleware for connect, polka or any `(req, res, next)` stack
 * @throws `PWH_ERR_CONFIG_INVALID` when `pipeline` is not a pipeline
 * @example
 * ```ts
 * import connect from 'connect'
 * import { proxyWasm } from 'proxy-wasm-host/node'
 * connect().use(proxyWasm({ pipeline })).use((req, res) => res.end('ok')).listen(8080)
 * ```
 */
export function proxyWasm(options: ProxyWasmOptions<IncomingMessage>): ConnectMiddleware {
  const source = checkPipeline(options?.pipeline, 'proxyWasm()')
  const fixed = fixedRoute(options)
  return (req, res, next) => {
    let p: PluginPipeline
    try {
      p = pipelineFor(source, req)
    } catch (err) {
      next(err)
      return
    }
    const route = fixed ?? routeFor(options, req)
    if (runsNoPlugin(p, route)) return next()
    const prefix = (req as { baseUrl?: string }).baseUrl ?? ''
    const hooks = new NextHooks(next, prefix)
    if (options.onPluginError === 'forward') hooks.pluginError = (err) => next(err)
    runInPlace(p, req, res, route, hooks)
  }
}
