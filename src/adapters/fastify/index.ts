/**
 * `proxy-wasm-host/fastify`: proxy-wasm plugins as a Fastify plugin (Fastify 4 and 5). Fastify is
 * an optional peer dependency and is only used for types here.
 *
 * Registered like `@fastify/cors` or `@fastify/helmet` (the plugin carries fastify-plugin's
 * `skip-override`), its hooks apply to the context it is registered in: on the root, to every
 * route. To guard only some routes, pass them as `routes` (with `prefix`), pass a `prefix` alone,
 * or register the plugin inside a context of your own. A plugin that ends up guarding no route
 * logs a warning when the app is ready.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify'
 * import { proxyWasmFastify } from 'proxy-wasm-host/fastify'
 *
 * const app = Fastify()
 * await app.register(proxyWasmFastify, { pipeline })   // every route of the app
 * app.get('/hello', async (req) => ({ hello: req.headers.hello }))
 * ```
 * @module proxy-wasm-host/fastify
 */
import { parse as parseQuery } from 'node:querystring'
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { HeaderMap } from '../../host/header-map.js'
import type { Exchange, FinalResponse, PhaseResult } from '../../pipeline/exchange.js'
import { endWithResponse, feedResponse, frame, isAborted, PushReadable, RequestRunner, ResponseRunner, streamSource, type Maybe, type RequestStart, type ResponseOut } from '../node/flow.js'
import { fixedRoute, runsNoPlugin } from '../node/handle.js'
import { groupHeaders, requestHasBody, responseHeaderMap, startExchange } from '../node/headers.js'
import { applyRequestHeaders } from '../node/in-place.js'
import { checkPipeline, pipelineFor, routeFor, type PipelineSource, type ProxyWasmOptions as Options } from '../node/options.js'
import { pluginFailureOf } from '../node/plugin-errors.js'
import { logHost } from '../node/response.js'


/**
 * Options of {@link proxyWasmFastify}; `match` receives the Fastify request.
 * @example
 * ```ts
 * const options: ProxyWasmOptions = { pipeline, match: (req) => ({ route: req.routeOptions.url }) }
 * ```
 */
export interface ProxyWasmOptions extends Options<FastifyRequest> {
  /**
   * Routes that get the plugins, and only they: registered in a context of their own (under
   * `prefix`), with the hooks. Without `routes`, the hooks apply to the context the plugin is
   * registered in (the whole app on the root).
   */
  routes?: (instance: FastifyInstance) => void | Promise<void>
  /**
   * With `routes`: their prefix. Without: only routes whose URL starts with it get the plugins
   * (`'/api'` guards `/api` and `/api/...`, not `/apix`).
   */
  prefix?: string
}

/** The exchange of one request and what the hooks learned about it (a class: made per request). */
class State {
  runner: RequestRunner | undefined = undefined
  /** The reply is a plugin's (sent from a request hook): no response phase. */
  answered = false
  /** A local reply or reset from the request body after the handler started. */
  late: PhaseResult | undefined = undefined
  constructor(
    readonly ex: Exchange,
    readonly hasBody: boolean,
    /** `onPluginError: 'forward'`. */
    readonly forward: boolean,
  ) {}
}

const kState = Symbol('proxy-wasm-host')
const stateOf = (request: FastifyRequest): State | undefined => (request as unknown as { [kState]?: State })[kState]

/**
 * A Fastify plugin that runs the plugins of a pipeline on the routes of its encapsulation context.
 *
 * Hooks: `onRequest` starts the exchange (and runs the request phases of a body-less request);
 * `preParsing` runs the request phases with the body and hands Fastify the body as the plugins left
 * it (streamed with backpressure); headers, method and URL are rewritten before the body parser and
 * handler run (routing was done already: a rewritten path does not change the route, the query is
 * parsed again). A plugin's local reply is sent from the hook, the handler never runs. `onSend`
 * runs the response phases on the status, headers and payload (string, Buffer, stream), and
 * `onResponse` / `onRequestAbort` end or abort the exchange.
 *
 * @param fastify - the encapsulation context (given by `register`)
 * @param options - the pipeline, route / service names, and the routes to protect
 * @returns a promise that resolves when the hooks (and `routes`) are registered
 * @throws `PWH_ERR_CONFIG_INVALID` when `pipeline` is not a pipeline
 * @example
 * ```ts
 * await app.register(proxyWasmFastify, { pipeline, route: 'api', prefix: '/api', routes: apiRoutes })
 * // or, inside a context of your own:
 * await app.register(async (api) => {
 *   await proxyWasmFastify(api, { pipeline })
 *   api.get('/hello', async () => 'hi')
 * })
 * ```
 */
export const proxyWasmFastify: FastifyPluginAsync<ProxyWasmOptions> = async function proxyWasmFastify(fastify, options) {
  const source = checkPipeline(options?.pipeline, 'proxyWasmFastify')
  // A name of its own per registration: the ready check finds this registration's hook on routes.
  const hookName = `proxyWasmOnRequest${++registrations}`
  const prefix = options.prefix ? options.prefix.replace(/\/+$/, '') : undefined
  if (options.routes) {
    const routes = options.routes
    await fastify.register(async (scope) => {
      addHooks(scope, source, options, hookName, undefined)
      await routes(scope)
    }, prefix ? { prefix } : {})
  } else {
    addHooks(fastify, source, options, hookName, prefix)
  }
  fastify.addHook('onReady', async function proxyWasmReadyCheck() {
    if (guardsSomeRoute(fastify, hookName, options.routes ? undefined : prefix) !== false) return
    const where = prefix ? `under ${prefix}` : 'in the context it was registered in'
    const message = `proxyWasmFastify: the plugins guard no route ${where}. Register it on the root (app.register(proxyWasmFastify, { pipeline })), pass the routes as "routes", or register it in the context that declares the routes`
    if (typeof source === 'function') fastify.log.warn(message)
    else logHost(source.host.logger, 'warn', message)
  })
}
;(proxyWasmFastify as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')] = true
;(proxyWasmFastify as unknown as Record<symbol, unknown>)[Symbol.for('fastify.display-name')] = 'proxy-wasm-host'
;(proxyWasmFastify as unknown as Record<symbol, unknown>)[Symbol.for('plugin-meta')] = { name: 'proxy-wasm-host', fastify: '>=4' }

let registrations = 0

/**
 * Whether a route of the app carries the hook named `hookName` (under `prefix`), read from
 * `printRoutes({ includeHooks: true })`: a tree of route lines (each path the rest of its parent's,
 * nested by column), each followed by its hook lines. `undefined` when Fastify cannot say.
 */
function guardsSomeRoute(fastify: FastifyInstance, hookName: string, prefix: string | undefined): boolean | undefined {
  let text: string
  try {
    text = fastify.printRoutes({ includeHooks: true, commonPrefix: false })
  } catch {
    return undefined
  }
  const stack: Array<{ col: number; path: string }> = []
  let current: string | undefined
  for (const line of text.split('\n')) {
    const route = /^([\s│├└─]*)([^\s•]\S*) \(/.exec(line)
    if (route) {
      const col = route[1]!.length
      while (stack.length && stack[stack.length - 1]!.col >= col) stack.pop()
      current = (stack[stack.length - 1]?.path ?? '') + route[2]!
      stack.push({ col, path: current })
    } else if (current !== undefined && /•\s*\(onRequest\)/.test(line) && line.includes(`"${hookName}()"`)) {
      if (prefix === undefined || current === prefix || current.startsWith(`${prefix}/`)) return true
    }
  }
  return false
}

function addHooks(fastify: FastifyInstance, source: PipelineSource<FastifyRequest>, options: ProxyWasmOptions, hookName: string, prefix: string | undefined): void {
  const fixed = fixedRoute(options)
  const forward = options.onPluginError === 'forward'
  // Declared up front, so that every request object has the field from its constructor on.
  if (!fastify.hasRequestDecorator(kState as unknown as string)) fastify.decorateRequest(kState as unknown as string, null)
  // Callback-style hooks: a request that no plugin pauses goes through without a promise per hook.
  const onRequest = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    let st: State
    try {
      if (prefix !== undefined && !underPrefix(request, prefix)) return done()
      const pipeline = pipelineFor(source, request)
      const route = fixed ?? routeFor(options, request)
      // No plugin for this request: the hooks below find no state and let everything through.
      if (runsNoPlugin(pipeline, route)) return done()
      const raw = request.raw
      st = new State(startExchange(pipeline, raw, route), requestHasBody(raw.headers), forward)
      ;(request as unknown as { [kState]: State })[kState] = st
      endWithResponse(reply.raw, st.ex, () => st.runner)
      if (st.hasBody) return done()
      // A body-less request runs its request phases here, before anything else looks at it.
      st.runner = new RequestRunner(st.ex, undefined)
    } catch (err) {
      return done(err as Error)
    }
    const s = startNow(st)
    if (s instanceof Promise) s.then((x) => proceed(request, reply, st, x, done), done)
    else proceed(request, reply, st, s, done)
  }
  Object.defineProperty(onRequest, 'name', { value: hookName })
  fastify.addHook('onRequest', onRequest)

  fastify.addHook('preParsing', (request, reply, payload, done) => {
    const st = stateOf(request)
    if (!st?.hasBody || reply.sent) return done(null, payload)
    parseWithPlugins(request, reply, st, payload, source).then((body) => {
      // A reply went out from the hook: Fastify goes no further (no done()).
      if (body !== undefined) done(null, body)
    }, done)
  })

  fastify.addHook('onSend', (request, reply, payload, done) => {
    const st = stateOf(request)
    if (!st || st.answered || st.ex.finished) return done(null, payload)
    if (st.late) {
      st.answered = true
      const late = st.late
      if (late.action === 'local' && late.localResponse) return done(null, replyWith(reply, late.localResponse.headers, late.localResponse.body))
      reply.raw.destroy()
      return done(null, null)
    }
    let r: unknown
    try {
      r = runResponse(request, reply, st, payload)
    } catch (err) {
      return done(err as Error)
    }
    if (r instanceof Promise) r.then((x: unknown) => done(null, x), done)
    else done(null, r)
  })

  fastify.addHook('onResponse', (request, _reply, done) => {
    stateOf(request)?.ex.done()
    done()
  })

  fastify.addHook('onRequestAbort', async (request) => {
    const st = stateOf(request)
    st?.runner?.stop()
    st?.ex.abort()
  })

}

/** Runs the request phases with the body (preParsing); resolves to the body Fastify parses, or `undefined` when a reply went out. */
async function parseWithPlugins(request: FastifyRequest, reply: FastifyReply, st: State, payload: unknown, source: PipelineSource<FastifyRequest>): Promise<Readable | undefined> {
  const logger = pipelineFor(source, request).host.logger
  // The declared length only describes the raw request (an earlier preParsing hook may have decoded it).
  const length = payload === (request.raw as unknown) ? request.raw.headers['content-length'] : undefined
  const runner = new RequestRunner(st.ex, streamSource(payload as Readable, () => request.raw.trailers), length)
  st.runner = runner
  const s = await start(st)
  if (afterStart(request, reply, st, s)) return undefined
  const body = new PushReadable()
  runner.onLate = (r) => {
    st.late = r
  }
  runner.pipe(body).catch((err: Error) => logHost(logger, 'error', `request body failed: ${err.message}`))
  return body
}

/** After the request phases of onRequest: on to Fastify (`done()`), or not when a reply went out. */
function proceed(request: FastifyRequest, reply: FastifyReply, st: State, s: RequestStart | undefined, done: (err?: Error) => void): void {
  let sent: FastifyReply | undefined
  try {
    sent = afterStart(request, reply, st, s)
  } catch (err) {
    return done(err as Error)
  }
  if (!sent) done()
}

/**
 * Same plugin as {@link proxyWasmFastify}, under the name every adapter exports.
 * @example
 * ```ts
 * import { proxyWasm } from 'proxy-wasm-host/fastify'
 * await app.register(proxyWasm, { pipeline, routes: async (api) => { api.get('/', async () => 'ok') } })
 * ```
 */
export const proxyWasm: FastifyPluginAsync<ProxyWasmOptions> = proxyWasmFastify

/** Whether the request's route is `prefix` or under it. */
function underPrefix(request: FastifyRequest, prefix: string): boolean {
  const r = request as FastifyRequest & { routeOptions?: { url?: string }; routerPath?: string }
  const url = r.routeOptions?.url ?? r.routerPath ?? request.url
  return url === prefix || url.startsWith(`${prefix}/`)
}

async function start(st: State): Promise<RequestStart | undefined> {
  return startNow(st)
}

/** The request phases; the outcome at once when no plugin pauses. `undefined`: the client went away. */
function startNow(st: State): Maybe<RequestStart | undefined> {
  const aborted = (err: unknown) => {
    if (!isAborted(err)) throw err
    st.ex.abort()
    return undefined
  }
  try {
    const s = st.runner!.start()
    return s instanceof Promise ? s.catch(aborted) : s
  } catch (err) {
    return aborted(err)
  }
}

/** Applies the request-phase outcome: a reply (returned, for the hook to return) or the rewritten request. */
function afterStart(request: FastifyRequest, reply: FastifyReply, st: State, s: RequestStart | undefined): FastifyReply | undefined {
  if (!s || s.kind === 'closed') {
    st.answered = true
    reply.hijack()
    reply.raw.destroy()
    return reply
  }
  if (s.kind === 'local') {
    st.answered = true
    const failure = st.forward ? pluginFailureOf(st.ex, s.response) : undefined
    // `onPluginError: 'forward'`: Fastify's error handler answers (onSend lets its reply through).
    if (failure) throw failure
    sendLocal(reply, s.response)
    return reply
  }
  const before = request.raw.url
  applyRequestHeaders(request.raw, frame(s.headers, s.framing, st.runner!.flow, { chunkedHeader: true }))
  const url = request.raw.url ?? '/'
  if (url !== before) {
    const q = url.indexOf('?')
    ;(request as { query: unknown }).query = q < 0 ? {} : { ...parseQuery(url.slice(q + 1)) }
  }
  return undefined
}

function sendLocal(reply: FastifyReply, response: FinalResponse): void {
  setReplyHeaders(reply, response.headers)
  reply.send(response.body.byteLength ? response.body : undefined)
}

function setReplyHeaders(reply: FastifyReply, headers: HeaderMap): void {
  reply.code(Number(headers.get(':status')) || 200)
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
  reply.headers(groupHeaders(headers))
}

function replyWith(reply: FastifyReply, headers: HeaderMap, body: Buffer): Buffer | null {
  setReplyHeaders(reply, headers)
  return body.byteLength ? body : null
}

/** Runs the response phases on the payload; resolves to the payload Fastify sends. */
function runResponse(request: FastifyRequest, reply: FastifyReply, st: State, payload: unknown): unknown {
  const head = request.raw.method === 'HEAD'
  let buf: Buffer | undefined
  let stream: Readable | undefined
  if (payload === null || payload === undefined) {
    // no body
  } else if (typeof payload === 'string') buf = Buffer.from(payload)
  else if (Buffer.isBuffer(payload)) buf = payload
  else if (typeof (payload as Readable).pipe === 'function') stream = payload as Readable
  else if (typeof (payload as { getReader?: unknown }).getReader === 'function') stream = Readable.fromWeb(payload as import('node:stream/web').ReadableStream)
  else return payload
  if (head) {
    // Fastify sends no body for HEAD; the plugins see none either.
    stream?.resume()
    stream = undefined
  }
  const headers = responseHeaderMap(reply.statusCode, reply.getHeaders())
  // Fastify adds the length after onSend; the plugins see the response as it goes on the wire.
  if (buf && !head && !headers.has('content-length')) headers.kv.push('content-length', String(buf.byteLength))
  let result: unknown = payload
  let out: PushReadable | undefined
  const target: ResponseOut = {
    full(headers, body) {
      result = replyWith(reply, headers, head && buf ? buf : body)
    },
    head(headers) {
      setReplyHeaders(reply, headers)
      out = new PushReadable()
      result = out
    },
    write(chunk) {
      return out?.write(chunk)
    },
    end() {
      out?.end()
    },
    destroy() {
      st.answered = true
      out?.destroy()
      reply.raw.destroy()
      result = null
    },
  }
  const response = new ResponseRunner(st.ex, target, head)
  const eos = head || (stream === undefined && (buf === undefined || buf.byteLength === 0))
  const fed = feedResponse(response, headers, eos, { buf, stream: stream as AsyncIterable<Buffer | string> | undefined })
  if (fed instanceof Promise) return fed.then(() => result)
  return result
}
