/**
 * Header conversions between Node's HTTP objects and {@link HeaderMap}, and the request description
 * a {@link PluginPipeline} needs. @internal
 * @module
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { HeaderMap } from '../../host/header-map.js'
import type { Exchange } from '../../pipeline/exchange.js'
import type { ExchangeRequest, PluginPipeline } from '../../pipeline/pipeline.js'
import { socketTls } from './tls.js'

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1 plus the usual extras): a proxy never forwards them, and
 * undici refuses several of them.
 * @internal
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
])

/** Headers Node keeps only once in `req.headers` (first value wins), as `IncomingMessage` does. */
const SINGLE = new Set([
  'content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization', 'proxy-authorization',
  'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag',
  'last-modified', 'server', 'age', 'expires',
])

/** Request pairs from `req.rawHeaders` (order and repetition kept, names lower-cased). @internal */
export function rawPairs(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), raw[i + 1]!])
  return out
}

/** Builds a Node `req.headers`-style object from pairs, with Node's rules for repeated names. @internal */
export function nodeHeaderObject(pairs: Iterable<readonly [string, string]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [k, v] of pairs) {
    const cur = out[k]
    if (cur === undefined) {
      out[k] = k === 'set-cookie' ? [v] : v
    } else if (k === 'set-cookie') {
      ;(cur as string[]).push(v)
    } else if (SINGLE.has(k)) {
      continue
    } else {
      out[k] = `${cur as string}${k === 'cookie' ? '; ' : ', '}${v}`
    }
  }
  return out
}

/** Non-pseudo entries grouped by name (repeated names become arrays), for `setHeader` or undici. @internal */
export function groupHeaders(map: HeaderMap, skip?: ReadonlySet<string>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [k, v] of map) {
    if (k.startsWith(':') || skip?.has(k)) continue
    const cur = out[k]
    if (cur === undefined) out[k] = v
    else if (Array.isArray(cur)) cur.push(v)
    else out[k] = [cur, v]
  }
  return out
}

/** Headers of an outgoing response (`res.getHeaders()` or a framework's header record) as pairs. @internal */
export function outgoingPairs(headers: OutgoingHttpHeaders | Record<string, unknown>): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || v === null) continue
    const key = k.toLowerCase()
    if (Array.isArray(v)) for (const x of v) out.push([key, String(x)])
    else out.push([key, String(v)])
  }
  return out
}

/**
 * A response header map from `status` and a header record (`res.getHeaders()`, a Fastify reply's
 * headers): `:status` first, names lower-cased, arrays as repeated entries.
 * @internal
 */
export function responseHeaderMap(status: number, headers: OutgoingHttpHeaders | Record<string, unknown>): HeaderMap {
  const kv = [':status', String(status)]
  const keys = Object.keys(headers)
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!
    const v = headers[k]
    if (v === undefined || v === null) continue
    const key = k.toLowerCase()
    if (Array.isArray(v)) for (const x of v) kv.push(key, String(x))
    else kv.push(key, String(v))
  }
  return HeaderMap.fromFlat(kv)
}

/** Whether a request carries a body, from its framing headers. @internal */
export function requestHasBody(headers: IncomingMessage['headers']): boolean {
  if (headers['transfer-encoding'] !== undefined) return true
  const cl = headers['content-length']
  return cl !== undefined && cl !== '0' && cl.trim() !== '0'
}

/** The declared content length of a request or response, when it is a plain number. @internal */
export function declaredLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return undefined
  return Number(value)
}

/** Route and service of a request: Higress `_match_route_` / Kong chains, and property `cluster_name`. */
export interface RouteInfo {
  /** Route name (property `route_name`, Higress `_match_route_`, Kong route chain). */
  route?: string
  /** Service name (Kong service chain; `cluster_name` as `outbound|<port>||<service>`). */
  service?: string
}

/**
 * Describes a Node request for {@link PluginPipeline.exchange}: method, path, authority, scheme and
 * headers from the request line and `rawHeaders` (order and repetition kept), client and local
 * address from the socket. An absolute-form target (`GET http://host/path`) is split into
 * `:authority` and `:path`.
 * @internal
 */
export function exchangeRequest(req: IncomingMessage, route: RouteInfo, extra?: Array<[string, string]>): ExchangeRequest {
  const r = requestInfo(req, route)
  const headers = rawPairs(req.rawHeaders)
  if (extra) headers.push(...extra)
  r.headers = HeaderMap.fromPairs(headers) // already lower-cased: no second copy
  return r
}

/**
 * Starts the exchange of a Node request: the request header map is built once, straight from
 * `req.rawHeaders` (pseudo-headers first, names lower-cased), without the intermediate copies of
 * {@link PluginPipeline.exchange}.
 * @param prefix - a mount path Express removed from `req.url`: the plugins see the full path
 * @internal
 */
export function startExchange(pipeline: PluginPipeline, req: IncomingMessage, route: RouteInfo, prefix = ''): Exchange {
  const r = requestInfo(req, route)
  if (prefix) r.path = prefix + (r.path === '/' ? '' : r.path)
  // A second copy of the library has no exchangeWith.
  if (typeof pipeline.exchangeWith !== 'function') {
    r.headers = HeaderMap.fromPairs(rawPairs(req.rawHeaders))
    return pipeline.exchange(r)
  }
  const raw = req.rawHeaders
  const kv = [':method', r.method!, ':scheme', r.scheme!, ':authority', r.authority ?? '', ':path', r.path!]
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase()
    if (k === 'host' || k.charCodeAt(0) === 58 /* ':' */) continue
    kv.push(k, raw[i + 1]!)
  }
  return pipeline.exchangeWith(HeaderMap.fromFlat(kv), r)
}

/** The request line, addresses and route of a Node request (no headers). */
function requestInfo(req: IncomingMessage, route: RouteInfo): ExchangeRequest {
  let path = req.url ?? '/'
  let authority = req.headers.host ?? (req.headers[':authority'] as string | undefined)
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    try {
      const u = new URL(path)
      path = `${u.pathname}${u.search}`
      authority = u.host
    } catch {
      // keep the raw target
    }
  }
  const socket = req.socket as (TLSSocket & { encrypted?: boolean }) | undefined
  const r: ExchangeRequest = {
    method: req.method ?? 'GET',
    path,
    scheme: socket?.encrypted ? 'https' : 'http',
    protocol: req.httpVersion === '1.1' ? 'HTTP/1.1' : `HTTP/${req.httpVersion}`,
  }
  if (authority !== undefined) r.authority = authority
  if (socket?.remoteAddress) r.remoteAddress = socket.remoteAddress
  if (socket?.remotePort !== undefined) r.remotePort = socket.remotePort
  if (socket?.localAddress) r.localAddress = socket.localAddress
  if (socket?.localPort !== undefined) r.localPort = socket.localPort
  if (route.route !== undefined) r.route = route.route
  if (route.service !== undefined) r.service = route.service
  if (socket?.encrypted) r.tls = socketTls(socket)
  return r
}
