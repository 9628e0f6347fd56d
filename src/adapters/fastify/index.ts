/**
 * `proxy-wasm-host/fastify`: proxy-wasm plugins as a Fastify plugin (Fastify 4 and 5). Fastify is
 * an optional peer dependency and is only used for types here.
 *
 * The plugin keeps Fastify's encapsulation (no `skip-override`): its hooks apply to the routes of
 * the context it is registered in — pass them as `routes`, or call the plugin on a context yourself.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify'
 * import { proxyWasmFastify } from 'proxy-wasm-host/fastify'
 *
 * const app = Fastify()
 * await app.register(proxyWasmFastify, {
 *   pipeline,
 *   routes: async (api) => {
 *     api.get('/hello', async (req) => ({ hello: req.headers.hello }))
 *   },
 * })
 * ```
 * @module
 */
import { parse as parseQuery } from 'node:querystring'
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { HeaderMap } from '../../host/header-map.js'
import type { Exchange, FinalResponse, PhaseResult } from '../../pipeline/exchange.js'
import { endWithResponse, feedResponse, frame, isAborted, PushReadable, RequestRunner, ResponseRunner, streamSource, type RequestStart, type ResponseOut } from '../node/flow.js'
import { exchangeRequest, groupHeaders, outgoingPairs, requestHasBody } from '../node/headers.js'
import { applyRequestHeaders } from '../node/in-place.js'
import { checkPipeline, pipelineFor, routeFor, type ProxyWasmOptions as Options } from '../node/options.js'
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
   * Routes registered inside the plugin's encapsulation context, so that the plugin's hooks apply to
   * them (registered with `instance.register(routes)`, so they may use `prefix` and nested plugins).
   */
  routes?: (instance: FastifyInstance) => void | Promise<void>
}

interface State {
  ex: Exchange
  hasBody: boolean
  runner: RequestRunner | undefined
  /** The reply is a plugin's (sent from a request hook): no response phase. */
  answered: boolean
  /** A local reply or reset from the request body after the handler started. */
  late: PhaseResult | undefined
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

  fastify.addHook('onRequest', async (request, reply) => {
    const pipeline = pipelineFor(source, request)
    const raw = request.raw
    const ex = pipeline.exchange(exchangeRequest(raw, routeFor(options, request)))
    const st: State = { ex, hasBody: requestHasBody(raw.headers), runner: undefined, answered: false, late: undefined }
    ;(request as unknown as { [kState]: State })[kState] = st
    endWithResponse(reply.raw, ex, () => st.runner)
    if (st.hasBody) return
    // A body-less request runs its request phases here, before anything else looks at it.
    st.runner = new RequestRunner(ex, undefined)
    return afterStart(request, reply, st, await start(st))
  })

  fastify.addHook('preParsing', async (request, reply, payload) => {
    const st = stateOf(request)
    if (!st?.hasBody || reply.sent) return payload
    const logger = pipelineFor(source, request).host.logger
    // The declared length only describes the raw request (an earlier preParsing hook may have decoded it).
    const length = payload === (request.raw as unknown) ? request.raw.headers['content-length'] : undefined
    const runner = new RequestRunner(st.ex, streamSource(payload as Readable, () => request.raw.trailers), length)
    st.runner = runner
    const s = await start(st)
    const sent = afterStart(request, reply, st, s)
    if (sent) return sent
    const body = new PushReadable()
    runner.onLate = (r) => {
      st.late = r
    }
    runner.pipe(body).catch((err: Error) => logHost(logger, 'error', `request body failed: ${err.message}`))
    return body
  })

  fastify.addHook('onSend', async (request, reply, payload) => {
    const st = stateOf(request)
    if (!st || st.answered || st.ex.finished) return payload
    if (st.late) {
      st.answered = true
      const late = st.late
      if (late.action === 'local' && late.localResponse) return replyWith(reply, late.localResponse.headers, late.localResponse.body)
      reply.raw.destroy()
      return null
    }
    return runResponse(request, reply, st, payload)
  })

  fastify.addHook('onResponse', async (request) => {
    stateOf(request)?.ex.done()
  })

  fastify.addHook('onRequestAbort', async (request) => {
    const st = stateOf(request)
    st?.runner?.stop()
    st?.ex.abort()
  })

  if (options.routes) await fastify.register(async (instance) => options.routes!(instance))
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

async function start(st: State): Promise<RequestStart | undefined> {
  try {
    return await st.runner!.start()
  } catch (err) {
    if (isAborted(err)) {
      st.ex.abort()
      return undefined
    }
    throw err
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
async function runResponse(request: FastifyRequest, reply: FastifyReply, st: State, payload: unknown): Promise<unknown> {
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
  const pairs = outgoingPairs(reply.getHeaders())
  // Fastify adds the length after onSend; the plugins see the response as it goes on the wire.
  if (buf && !head && !pairs.some(([k]) => k === 'content-length')) pairs.push(['content-length', String(buf.byteLength)])
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
  await feedResponse(response, reply.statusCode, pairs, eos, { buf, stream: stream as AsyncIterable<Buffer | string> | undefined })
  return result
}
