/**
 * The production HTTP callout transport: names resolved by {@link Upstreams}, requests over undici.
 * It reports transport outcomes only (`connect-failure`, `no-healthy-upstream`, `reset`); the host's
 * hostcall turns them into what Envoy shows a plugin.
 * @module
 */
import { Agent, type Dispatcher } from 'undici'
import type { HttpCallDispatcher, HttpCallout, HttpCalloutResult } from '../host/services.js'
import type { HeaderPair } from '../abi/pairs.js'
import type { Upstreams, UpstreamService } from './upstreams.js'
import type { Endpoint } from './types.js'

/** Options of {@link createHttpDispatcher}. */
export interface HttpDispatcherOptions {
  /** The undici dispatcher to send with (default: an `Agent` created, and closed, by this dispatcher). */
  dispatcher?: Dispatcher
  /** TCP connect timeout in ms for the default agent (default 5 000, Envoy's cluster `connect_timeout`). */
  connectTimeoutMs?: number
}

/** An {@link HttpCallDispatcher} that can be closed. */
export interface ClosableHttpDispatcher extends HttpCallDispatcher {
  /** Closes the connections of the agent it created. */
  close(): Promise<void>
}

// Errors that mean "no connection could be made": the endpoint is skipped for a while.
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'EADDRNOTAVAIL'])
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te'])

/**
 * The default callout transport: resolves `call.upstream` with `upstreams`, picks an endpoint
 * round-robin, sends the request with undici, and buffers the response up to `maxResponseBytes`.
 *
 * @param upstreams - the names it knows
 * @param options - undici dispatcher, connect timeout
 * @returns a dispatcher for `new WasmPluginHost({ httpDispatcher })`
 * @example
 * ```ts
 * const upstreams = new Upstreams({ upstreams: { 'outbound|80||auth.static': 'http://127.0.0.1:8081' } })
 * const host = new WasmPluginHost({ httpDispatcher: createHttpDispatcher(upstreams) })
 * ```
 */
export function createHttpDispatcher(upstreams: Upstreams, options: HttpDispatcherOptions = {}): ClosableHttpDispatcher {
  const own = options.dispatcher ? undefined : new Agent({ connect: { timeout: options.connectTimeoutMs ?? 5000 } })
  const agent = options.dispatcher ?? own!
  return {
    dispatch(call) {
      const authority = call.headers.find(([k]) => k === ':authority')?.[1]
      const svc = upstreams.lookup(call.upstream, authority === undefined ? {} : { authority })
      if (!svc) return undefined
      return send(agent, svc, call)
    },
    async close() {
      await own?.close()
    },
  }
}

async function send(agent: Dispatcher, svc: UpstreamService, call: HttpCallout): Promise<HttpCalloutResult> {
  let endpoint: Endpoint | undefined
  try {
    endpoint = await svc.pick(call.signal)
  } catch (err) {
    return { kind: 'no-healthy-upstream', reason: (err as Error)?.message ?? String(err) }
  }
  if (!endpoint) return { kind: 'no-healthy-upstream', reason: `${svc.key} lists no endpoint` }
  let method = 'GET'
  let path = '/'
  const headers: string[] = []
  for (const [k, v] of call.headers) {
    if (k === ':method') method = v
    else if (k === ':path') path = v
    else if (k === ':authority') headers.push('host', v)
    else if (k[0] !== ':' && k !== 'host' && !HOP_BY_HOP.has(k)) headers.push(k, v)
  }
  const origin = `${endpoint.protocol ?? 'http:'}//${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`
  let res: Dispatcher.ResponseData
  try {
    res = await agent.request({
      origin,
      path: (endpoint.basePath ?? '') + path,
      method: method as Dispatcher.HttpMethod,
      headers,
      body: call.body.byteLength > 0 ? call.body : null,
      signal: call.signal,
      // The host enforces the plugin's timeout (0 = none, as in Envoy).
      headersTimeout: 0,
      bodyTimeout: 0,
    })
  } catch (err) {
    const code = errorCode(err)
    if (CONNECT_ERRORS.has(code)) svc.eject(endpoint)
    if (call.signal.aborted) return { kind: 'reset', reason: 'aborted' }
    // Before response headers, Envoy's router answers a failure with a 503 local reply.
    return { kind: 'connect-failure', reason: `${code || 'error'}: ${(err as Error)?.message ?? String(err)} (${origin})` }
  }
  const out: HeaderPair[] = [[':status', String(res.statusCode)]]
  for (const [k, v] of Object.entries(res.headers)) {
    if (v === undefined || HOP_BY_HOP.has(k)) continue
    if (Array.isArray(v)) for (const x of v) out.push([k, x])
    else out.push([k, String(v)])
  }
  const declared = Number(res.headers['content-length'])
  if (declared > call.maxResponseBytes) {
    discard(res.body)
    return { kind: 'reset', reason: `response body of ${declared} bytes is over ${call.maxResponseBytes}` }
  }
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.byteLength
      if (size > call.maxResponseBytes) {
        discard(res.body)
        return { kind: 'reset', reason: `response body over ${call.maxResponseBytes} bytes` }
      }
      chunks.push(chunk)
    }
  } catch (err) {
    // Reset after the response started: the plugin sees a failed call.
    return { kind: 'reset', reason: (err as Error)?.message ?? String(err) }
  }
  const trailers: HeaderPair[] = []
  for (const [k, v] of Object.entries(res.trailers ?? {})) {
    if (Array.isArray(v)) for (const x of v) trailers.push([k.toLowerCase(), String(x)])
    else if (v !== undefined) trailers.push([k.toLowerCase(), String(v)])
  }
  return { kind: 'response', headers: out, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), trailers }
}

/** Drops a response body we will not read (an error after destroy is expected, not a crash). */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined)
  body.destroy()
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string; errors?: Array<{ code?: string }> } }
  return e?.code && e.code !== 'UND_ERR_SOCKET' ? e.code : (e?.cause?.code ?? e?.cause?.errors?.[0]?.code ?? e?.code ?? '')
}
