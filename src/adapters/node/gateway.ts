/**
 * Gateway mode: a reverse proxy over undici with the plugins around the upstream call, as Envoy runs
 * them (request phases → upstream → response phases).
 * @module
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { Agent, Pool, type Dispatcher } from 'undici'
import { ProxyWasmHostError } from '../../errors.js'
import { HeaderMap } from '../../host/header-map.js'
import type { PluginPipeline } from '../../pipeline/pipeline.js'
import { endpointAddress } from '../../upstream/balancer.js'
import type { Endpoint } from '../../upstream/types.js'
import { endWithResponse, frame, isAborted, PushReadable, RequestRunner, ResponseRunner, streamSource } from './flow.js'
import { declaredLength, exchangeRequest, HOP_BY_HOP, outgoingPairs, requestHasBody } from './headers.js'
import type { NodeHandler } from './handle.js'
import { checkPipeline, pipelineFor, routeFor, type PipelineSource, type RouteOptions } from './options.js'
import { logHost, serverResponseOut } from './response.js'

const EMPTY = Buffer.alloc(0)

/**
 * Options of {@link createGateway} and {@link createGatewayHandler}.
 * @example
 * ```ts
 * const options: GatewayOptions = { pipeline, upstream: 'https://api.example.com', preserveHost: false, timeoutMs: 5000, bodyTimeoutMs: 5000 }
 * ```
 */
export interface GatewayOptions extends RouteOptions<IncomingMessage> {
  /** The plugins, or a function picking a pipeline per request (hot swap: running requests keep theirs). */
  pipeline: PipelineSource<IncomingMessage>
  /**
   * Where requests go: an origin such as `http://127.0.0.1:8081` (a path prefix is kept, e.g.
   * `http://host/base`), or an upstream **name** resolved by the host's `upstreams` and `resolvers`
   * (`outbound|80||web.prod.svc.cluster.local`, `web.static`, `web.example.com:8080`), balanced
   * round-robin per request; it is then also the request's `cluster_name`. A plugin's Higress
   * `proxy_set_upstream_override_host` is honoured when it names one of the upstream's endpoints.
   */
  upstream: string | URL
  /** The undici dispatcher to use (default: a `Pool` for the upstream origin, closed with the gateway). */
  dispatcher?: Dispatcher
  /**
   * Send the client's `:authority` as `Host` (default `true`, as Envoy does without a host rewrite);
   * `false` sends the upstream's host (for virtual-hosted upstreams such as a public API).
   */
  preserveHost?: boolean
  /** Upstream response-headers timeout in ms (default 15 000, Envoy's route timeout); then 504. */
  timeoutMs?: number
  /**
   * Longest wait in ms for the next chunk of the upstream's response body (default 15 000; 0: no
   * limit). A stalled upstream then ends the response: a reset once its headers went out.
   */
  bodyTimeoutMs?: number
  /**
   * Add `x-forwarded-for` (client address appended), `x-forwarded-proto` and `x-request-id` (when
   * absent) before the plugins run, as Envoy's connection manager does (default `true`).
   */
  forwardedHeaders?: boolean
}

/**
 * A gateway request handler; `close()` closes the upstream connection pool it created.
 * @example
 * ```ts
 * const handler: GatewayHandler = createGatewayHandler({ pipeline, upstream: 'http://127.0.0.1:3000' })
 * await handler.close()
 * ```
 */
export interface GatewayHandler extends NodeHandler {
  /** Closes the undici pool created for the upstream (a `dispatcher` given in the options stays open). */
  close(): Promise<void>
}

/**
 * The request handler of {@link createGateway}, for use with your own server (or several servers).
 *
 * @param options - pipeline, upstream origin, dispatcher, host handling, timeout
 * @returns a `(req, res)` handler with a `close()` method
 * @throws `PWH_ERR_CONFIG_INVALID` when `pipeline` or `upstream` is missing or malformed
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { createGatewayHandler } from 'proxy-wasm-host/node'
 *
 * const handler = createGatewayHandler({ pipeline, upstream: 'http://127.0.0.1:3000' })
 * const server = createServer(handler).listen(8080)
 * server.on('close', () => handler.close())
 * ```
 */
export function createGatewayHandler(options: GatewayOptions): GatewayHandler {
  const source = checkPipeline(options?.pipeline, 'createGateway()')
  const cluster = clusterUpstream(options?.upstream)
  const target = cluster === undefined ? upstreamUrl(options.upstream) : undefined
  if (cluster !== undefined && typeof source !== 'function' && !(source as PluginPipeline).host.upstreams.lookup(cluster)) {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `createGateway(): upstream ${JSON.stringify(cluster)} is neither an http(s) URL nor a name the host's upstreams or resolvers know`)
  }
  const targetEndpoint: Endpoint | undefined = target && { host: target.hostname.replace(/^\[|\]$/g, ''), port: Number(target.port || (target.protocol === 'https:' ? 443 : 80)), protocol: target.protocol as 'http:' | 'https:' }
  const ownPool = options.dispatcher ? undefined : target ? new Pool(target.origin) : new Agent()
  const dispatcher: Dispatcher = options.dispatcher ?? ownPool!
  const preserveHost = options.preserveHost ?? true
  const timeoutMs = options.timeoutMs ?? 15_000
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 15_000
  const forwarded = options.forwardedHeaders ?? true

  const handler = ((req, res) => {
    const pipeline = pipelineFor(source, req)
    const logger = pipeline.host.logger
    const info = exchangeRequest(req, routeFor(options, req))
    const service = cluster === undefined ? undefined : pipeline.host.upstreams.lookup(cluster)
    if (cluster !== undefined && info.cluster === undefined && info.service === undefined) info.cluster = cluster
    // Envoy's codec consumes the connection-level headers; plugins never see them.
    let pairs = (info.headers as HeaderMap).pairs.filter(([k]) => !HOP_BY_HOP.has(k))
    if (forwarded) pairs = forwardedPairs(pairs, req)
    info.headers = HeaderMap.fromPairs(pairs)
    const ex = pipeline.exchange(info)
    const hasBody = requestHasBody(req.headers)
    const runner = new RequestRunner(ex, hasBody ? streamSource(req, () => req.trailers) : undefined, req.headers['content-length'])
    const response = new ResponseRunner(ex, serverResponseOut(res), req.method === 'HEAD')
    const ac = new AbortController()
    endWithResponse(res, ex, runner, () => ac.abort())

    const proxy = async (): Promise<void> => {
      // Resolve once before the plugins run, so that proxy_get_upstream_hosts sees the endpoints.
      if (service && service.current() === undefined) await service.endpoints().catch(() => undefined)
      const s = await runner.start()
      if (s.kind === 'local') return response.local(s.response)
      if (s.kind === 'closed') return response.reset()
      const headers = frame(s.headers, s.framing, runner.flow)
      const method = headers.get(':method') ?? 'GET'
      const authority = headers.get(':authority')
      const out: string[] = []
      for (const [k, v] of headers) if (!k.startsWith(':') && !HOP_BY_HOP.has(k) && k !== 'host') out.push(k, v)
      out.push('host', preserveHost && authority ? authority : '')
      let body: Buffer | PushReadable | undefined
      if (hasBody) {
        if (s.framing === 'complete') body = Buffer.concat(runner.flow.drain())
        else {
          const stream = new PushReadable()
          body = stream
          runner.onLate = (r) => {
            // A plugin answered from the body: the upstream call is cancelled (Envoy resets it).
            ac.abort()
            if (r.action === 'local' && r.localResponse) void response.local(r.localResponse)
            else response.reset()
          }
          runner.pipe(stream).catch((err: Error) => logHost(logger, 'error', `request body failed: ${err.message}`))
        }
      }
      let up: Dispatcher.ResponseData
      let endpoint: Endpoint | undefined
      try {
        endpoint = targetEndpoint ?? (await pickEndpoint(service, ex.upstreamOverrideHost))
        const origin = target ? target.origin : `${endpoint.protocol ?? 'http:'}//${endpointAddress(endpoint)}`
        const basePath = (target ? target.pathname : (endpoint.basePath ?? '')).replace(/\/+$/, '')
        if (!preserveHost || !authority) out[out.length - 1] = target ? target.host : endpointAddress(endpoint)
        up = await dispatcher.request({
          origin,
          path: basePath + (headers.get(':path') ?? '/'),
          method: method as Dispatcher.HttpMethod,
          headers: out,
          body: body ?? null,
          signal: ac.signal,
          headersTimeout: timeoutMs,
          bodyTimeout: bodyTimeoutMs,
        })
      } catch (err) {
        if (ac.signal.aborted || response.done) return
        runner.stop()
        const failure = upstreamFailure(err)
        if (endpoint && service && failure.status === 503 && !failure.text.endsWith('connection termination')) service.eject(endpoint)
        logHost(logger, 'warn', `upstream ${endpoint ? endpointAddress(endpoint) : cluster}: ${failure.reason}`)
        const text = Buffer.from(failure.text)
        await response.headers(failure.status, { 'content-type': 'text/plain', 'content-length': String(text.byteLength) }, false)
        await response.data(text, true)
        return
      }
      if (response.done) {
        up.body.destroy()
        return
      }
      const resHeaders = new HeaderMap(outgoingPairs(up.headers).filter(([k]) => !HOP_BY_HOP.has(k)))
      const status = up.statusCode
      const length = declaredLength(resHeaders.get('content-length'))
      if (method === 'HEAD' || status === 204 || status === 304 || status < 200 || length === 0) {
        await response.headers(status, resHeaders, true)
        await up.body.dump()
        return
      }
      await response.headers(status, resHeaders, false)
      let got = 0
      let ended = false
      for await (const chunk of up.body as AsyncIterable<Buffer>) {
        if (response.done || ended) break
        got += chunk.byteLength
        // With a declared length the last chunk carries end-of-stream, as Envoy's codec does.
        ended = length !== undefined && got >= length
        await response.data(chunk, ended)
      }
      if (response.done || ended) return
      const trailers = up.trailers
      if (trailers && Object.keys(trailers).length) await response.trailers(outgoingPairs(trailers))
      else await response.data(EMPTY, true)
    }

    proxy().catch((err: unknown) => {
      if (isAborted(err) || ac.signal.aborted) {
        ex.abort()
        return
      }
      const code = (err as { code?: string }).code
      if (code === 'UND_ERR_BODY_TIMEOUT') logHost(logger, 'warn', `upstream ${target ? target.origin : cluster}: no response body data for ${bodyTimeoutMs} ms (bodyTimeoutMs); the response is reset`)
      else logHost(logger, 'error', `gateway: ${(err as Error).message}`)
      response.reset()
    })
  }) as GatewayHandler
  handler.close = async () => {
    await ownPool?.close()
  }
  return handler
}

/**
 * A reverse proxy with the plugins of `pipeline` around every upstream call, as a `node:http`
 * server (not yet listening). Request phases run first (a local reply never reaches the upstream);
 * the request goes upstream as the plugins left it (hop-by-hop headers removed, `Host` from
 * `:authority`); the upstream response goes through the response phases to the client. An upstream
 * that cannot be reached answers 503 (`upstream connect error …`), a timeout 504, other failures 502;
 * these go through the response phases too, as Envoy's router replies do. When the client goes away
 * the exchange is aborted (`on_log`/`on_done` still run) and the upstream call cancelled. Closing
 * the server closes the upstream pool.
 *
 * @param options - pipeline, upstream origin, dispatcher, host handling, timeout
 * @returns an `http.Server`; call `listen()`
 * @throws `PWH_ERR_CONFIG_INVALID` when `pipeline` or `upstream` is missing or malformed
 * @example
 * ```ts
 * import { createGateway } from 'proxy-wasm-host/node'
 *
 * const gateway = createGateway({ pipeline, upstream: 'http://127.0.0.1:3000' })
 * gateway.listen(8080, '127.0.0.1')
 * ```
 */
export function createGateway(options: GatewayOptions): Server {
  const handler = createGatewayHandler(options)
  const server = createServer(handler)
  server.on('close', () => {
    void handler.close()
  })
  return server
}

/** The upstream as a name for the resolvers, when it is not a URL. */
function clusterUpstream(upstream: string | URL | undefined): string | undefined {
  if (typeof upstream !== 'string' || upstream === '' || /^[a-z][a-z0-9+.-]*:\/\//i.test(upstream)) return undefined
  return upstream
}

/** The endpoint of a cluster upstream for one request: the plugin's pinned one when it belongs to the cluster. */
async function pickEndpoint(service: ReturnType<PluginPipeline['host']['upstreams']['lookup']>, override: string | undefined): Promise<Endpoint> {
  if (!service) throw Object.assign(new Error('the upstream name is unknown to this host'), { code: 'PWH_NO_HEALTHY_UPSTREAM' })
  if (override !== undefined) {
    const list = await service.endpoints()
    const pinned = list.find((e) => endpointAddress(e) === override)
    if (pinned) return pinned
  }
  let e: Endpoint | undefined
  try {
    e = await service.pick()
  } catch (err) {
    throw Object.assign(new Error((err as Error).message), { code: 'PWH_NO_HEALTHY_UPSTREAM' })
  }
  if (!e) throw Object.assign(new Error(`${service.key} lists no endpoint`), { code: 'PWH_NO_HEALTHY_UPSTREAM' })
  return e
}

function upstreamUrl(upstream: string | URL | undefined): URL {
  let u: URL
  try {
    if (upstream === undefined) throw new Error('missing')
    u = upstream instanceof URL ? upstream : new URL(upstream)
  } catch {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `createGateway(): "upstream" must be an http(s) URL such as http://127.0.0.1:3000, got ${JSON.stringify(String(upstream))}`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `createGateway(): "upstream" must use http: or https:, got ${u.protocol}`)
  }
  return u
}

function forwardedPairs(pairs: Array<[string, string]>, req: IncomingMessage): Array<[string, string]> {
  const out = pairs.slice()
  const addr = req.socket?.remoteAddress
  if (addr) {
    const i = out.findIndex(([k]) => k === 'x-forwarded-for')
    if (i >= 0) out[i] = ['x-forwarded-for', `${out[i]![1]}, ${addr}`]
    else out.push(['x-forwarded-for', addr])
  }
  if (!out.some(([k]) => k === 'x-forwarded-proto')) out.push(['x-forwarded-proto', (req.socket as { encrypted?: boolean } | undefined)?.encrypted ? 'https' : 'http'])
  if (!out.some(([k]) => k === 'x-request-id')) out.push(['x-request-id', randomUUID()])
  return out
}

/** Envoy's answers for upstream failures before response headers. */
function upstreamFailure(err: unknown): { status: number; text: string; reason: string } {
  const e = err as { code?: string; message?: string; cause?: { code?: string } }
  const code = e?.code ?? e?.cause?.code ?? ''
  const reason = `${code ? `${code}: ` : ''}${e?.message ?? String(err)}`
  if (code === 'PWH_NO_HEALTHY_UPSTREAM') return { status: 503, text: 'no healthy upstream', reason: e?.message ?? '' }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { status: 504, text: 'upstream request timeout', reason }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'].includes(code)) {
    return { status: 503, text: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure', reason }
  }
  if (['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(code)) {
    return { status: 503, text: 'upstream connect error or disconnect/reset before headers. reset reason: connection termination', reason }
  }
  return { status: 502, text: 'bad gateway', reason }
}
