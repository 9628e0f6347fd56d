/** One whole request through a pipeline, as a test gives it and sees it. @module */
import type { PluginFailureError } from '../errors.js'
import { HeaderMap, type HeadersInit } from '../host/header-map.js'
import type { PropertyValue } from '../host/properties.js'
import type { Exchange, FinalResponse, PhaseResult } from '../pipeline/exchange.js'
import type { PluginPipeline } from '../pipeline/pipeline.js'

/** A request for {@link PluginTester.request}. */
export interface TestRequest {
  /** `:method` (default `GET`). */
  method?: string
  /** `:path` with query (default `/`). */
  path?: string
  /** `:authority`; a `host` header gives it too. */
  authority?: string
  /** `:scheme` (default `http`). */
  scheme?: string
  /** Request headers (a `host` header becomes `:authority`). */
  headers?: HeadersInit
  /** Request body (none by default: the headers end the request). */
  body?: string | Uint8Array
  /** Request trailers. */
  trailers?: HeadersInit
  /** Route name (property `route_name`; Higress `_match_route_`, Kong route chains). */
  route?: string
  /** Service name (property `cluster_name` `outbound|80||<service>`; Kong service chains). */
  service?: string
  /** Upstream cluster (property `cluster_name`), overriding `service`. */
  cluster?: string
  /** Client address (`ip` or `ip:port`). */
  remoteAddress?: string
  /** Extra properties by dotted path. */
  properties?: Record<string, PropertyValue>
  /** What the upstream answers when the request reaches it (default 200, no headers, empty body). */
  upstreamResponse?: UpstreamResponse
}

/** The upstream's answer in a {@link TestRequest}. */
export interface UpstreamResponse {
  /** Status (default 200). */
  status?: number
  /** Headers. */
  headers?: HeadersInit
  /** Body. */
  body?: string | Uint8Array
  /** Trailers. */
  trailers?: HeadersInit
}

/** A message as a test sees it: headers, body bytes and the body as text. */
export interface TestMessage {
  /** Headers, pseudo-headers first (`:method` … on requests, `:status` on responses). */
  headers: HeaderMap
  /** Body bytes. */
  body: Buffer
  /** The body as UTF-8 text. */
  text: string
  /** Trailers, when there were any. */
  trailers?: HeaderMap
}

/** The response the client gets. */
export interface TestResponse extends TestMessage {
  /** HTTP status (0 when a plugin reset the stream). */
  status: number
}

/** A local reply a plugin sent (`proxy_send_local_response`), after the response phases ran on it. */
export interface TestLocalResponse extends TestResponse {
  /** gRPC status the plugin gave, -1 for none. */
  grpcStatus: number
  /** `response.code_details` (the details the plugin gave, whitespace as `_`). */
  details: string
}

/** What {@link PluginTester.request} returns. */
export interface RequestResult {
  /** The plugin's local reply, when one answered (the upstream was then not called, or its answer was replaced). */
  localResponse?: TestLocalResponse
  /** The request as the upstream received it; absent when a plugin answered or reset first. */
  upstreamRequest?: TestMessage
  /** What the client gets after the response phases. */
  response: TestResponse
  /** Whether a plugin reset the stream (`proxy_close_stream`, or a local reply after the headers left). */
  closed: boolean
  /** Plugin failures (traps) seen during the request, whatever their fail strategy. */
  failures: PluginFailureError[]
}

const EMPTY = Buffer.alloc(0)

/**
 * Runs `req` through `pipeline`: request headers, body, trailers, the fake upstream, then the
 * response phases. The request headers reach the plugins before this function returns its
 * promise, so callouts they make are already recorded.
 * @internal
 */
export function runRequest(pipeline: PluginPipeline, req: TestRequest): Promise<RequestResult> {
  const ex = pipeline.exchange({
    ...pick(req, ['method', 'path', 'authority', 'scheme', 'headers', 'route', 'service', 'cluster', 'remoteAddress', 'properties']),
  })
  return drive(ex, req).finally(() => ex.done())
}

async function drive(ex: Exchange, req: TestRequest): Promise<RequestResult> {
  const body = req.body === undefined ? undefined : toBuffer(req.body)
  const hasBody = body !== undefined || req.trailers !== undefined
  const up: Collected = { body: [] }
  const local = (r: PhaseResult, upstreamRequest?: TestMessage): RequestResult => {
    const lr = r.localResponse
    if (!lr) return { response: { status: 0, headers: new HeaderMap(), body: EMPTY, text: '' }, closed: true, failures: ex.failures, ...(upstreamRequest ? { upstreamRequest } : {}) }
    const response = finalToResponse(lr)
    return { localResponse: { ...response, grpcStatus: lr.grpcStatus ?? -1, details: lr.details }, response, closed: false, failures: ex.failures, ...(upstreamRequest ? { upstreamRequest } : {}) }
  }
  // Request phase. The first call runs synchronously up to the first pause.
  let r = await ex.requestHeaders(!hasBody)
  if (r.action === 'local' || r.action === 'closed') return local(r)
  collect(up, r)
  if (body !== undefined) {
    r = await ex.requestBody(body, req.trailers === undefined)
    if (r.action === 'local' || r.action === 'closed') return local(r)
    collect(up, r)
  }
  if (req.trailers !== undefined) {
    r = await ex.requestTrailers(req.trailers)
    if (r.action === 'local' || r.action === 'closed') return local(r)
    collect(up, r)
  }
  const upstreamRequest = message(up.headers ?? ex.requestHeadersMap, up)
  // Response phase.
  const u = req.upstreamResponse ?? {}
  const ubody = u.body === undefined ? undefined : toBuffer(u.body)
  const down: Collected = { body: [] }
  const uHasBody = (ubody !== undefined && ubody.byteLength > 0) || u.trailers !== undefined
  let s = await ex.responseHeaders(u.status ?? 200, u.headers ?? {}, !uHasBody)
  if (s.action === 'local' || s.action === 'closed') return local(s, upstreamRequest)
  collect(down, s)
  if (uHasBody) {
    s = await ex.responseBody(ubody ?? EMPTY, u.trailers === undefined)
    if (s.action === 'local' || s.action === 'closed') return local(s, upstreamRequest)
    collect(down, s)
  }
  if (u.trailers !== undefined) {
    s = await ex.responseTrailers(u.trailers)
    if (s.action === 'local' || s.action === 'closed') return local(s, upstreamRequest)
    collect(down, s)
  }
  const headers = down.headers ?? ex.responseHeadersMap ?? new HeaderMap()
  const response: TestResponse = { status: Number(headers.get(':status') ?? 0), ...message(headers, down) }
  return { upstreamRequest, response, closed: false, failures: ex.failures }
}

interface Collected {
  headers?: HeaderMap
  body: Buffer[]
  trailers?: HeaderMap
}

function collect(c: Collected, r: PhaseResult): void {
  if (r.headers) c.headers = r.headers
  c.body.push(...r.body)
  if (r.trailers) c.trailers = r.trailers
}

function message(headers: HeaderMap, c: Collected): TestMessage {
  const body = c.body.length === 1 ? c.body[0]! : Buffer.concat(c.body)
  const m: TestMessage = { headers: headers.clone(), body, text: body.toString('utf8') }
  if (c.trailers) m.trailers = c.trailers.clone()
  return m
}

function finalToResponse(f: FinalResponse): TestResponse {
  return { status: f.status, headers: f.headers.clone(), body: f.body, text: f.body.toString('utf8') }
}

function toBuffer(b: string | Uint8Array): Buffer {
  return typeof b === 'string' ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k]
  return out
}
