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
    // The host's call enforces its own timeout; a resolution it gave up on still fills the cache.
    endpoint = await svc.pick(typeof (call as { whenAborted?: unknown }).whenAborted === 'function' ? undefined : call.signal)
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
  // undici's dispatch() with a handler: no response stream, async iterator or promise per chunk
  // (bench/callout.mjs: a third of the transport's CPU went to those with request()).
  return new Promise<HttpCalloutResult>((resolve) => {
    // The host's own call object offers whenAborted(), which spares an AbortSignal and its listener.
    const own = call as HttpCallout & { whenAborted?: (fn: () => void) => void; aborted?: boolean }
    let controller: { abort(reason?: Error): void } | undefined
    let status = 0
    let out: HeaderPair[] = []
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    let aborted = false
    const onAbort = () => {
      aborted = true
      controller?.abort(new Error('aborted'))
    }
    let signal: AbortSignal | undefined
    const finish = (r: HttpCalloutResult) => {
      if (done) return
      done = true
      signal?.removeEventListener('abort', onAbort)
      resolve(r)
    }
    if (typeof own.whenAborted === 'function') {
      own.whenAborted(onAbort)
    } else {
      signal = call.signal
      if (signal.aborted) return finish({ kind: 'reset', reason: 'aborted' })
      signal.addEventListener('abort', onAbort, { once: true })
    }
    if (aborted) return finish({ kind: 'reset', reason: 'aborted' })
    agent.dispatch(
      {
        origin,
        path: (endpoint.basePath ?? '') + path,
        method: method as Dispatcher.HttpMethod,
        headers,
        body: call.body.byteLength > 0 ? call.body : null,
        // The host enforces the plugin's timeout (0 = none, as in Envoy).
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      {
        onRequestStart(c) {
          controller = c
          if (aborted) c.abort(new Error('aborted'))
        },
        onResponseStart(c, statusCode, resHeaders) {
          status = statusCode
          out = [[':status', String(statusCode)]]
          for (const k in resHeaders) {
            const v = resHeaders[k]
            if (v === undefined || HOP_BY_HOP.has(k)) continue
            if (Array.isArray(v)) for (const x of v) out.push([k, String(x)])
            else out.push([k, String(v)])
          }
          const declared = Number(resHeaders['content-length'])
          if (declared > call.maxResponseBytes) {
            finish({ kind: 'reset', reason: `response body of ${declared} bytes is over ${call.maxResponseBytes}` })
            c.abort(new Error('response too large'))
          }
        },
        onResponseData(c, chunk) {
          size += chunk.byteLength
          if (size > call.maxResponseBytes) {
            finish({ kind: 'reset', reason: `response body over ${call.maxResponseBytes} bytes` })
            c.abort(new Error('response too large'))
            return
          }
          chunks.push(chunk)
        },
        onResponseEnd(_c, resTrailers) {
          const trailers: HeaderPair[] = []
          for (const k in resTrailers ?? {}) {
            const v = resTrailers[k]
            if (Array.isArray(v)) for (const x of v) trailers.push([k.toLowerCase(), String(x)])
            else if (v !== undefined) trailers.push([k.toLowerCase(), String(v)])
          }
          finish({ kind: 'response', headers: out, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), trailers })
        },
        onResponseError(_c, err) {
          if (done) return
          if (aborted) return finish({ kind: 'reset', reason: 'aborted' })
          // A failure after the response started is a reset for the plugin; before, Envoy's router
          // answers with a 503 local reply.
          if (status !== 0) return finish({ kind: 'reset', reason: (err as Error)?.message ?? String(err) })
          const code = errorCode(err)
          if (CONNECT_ERRORS.has(code)) svc.eject(endpoint)
          finish({ kind: 'connect-failure', reason: `${code || 'error'}: ${(err as Error)?.message ?? String(err)} (${origin})` })
        },
      },
    )
  })
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string; errors?: Array<{ code?: string }> } }
  return e?.code && e.code !== 'UND_ERR_SOCKET' ? e.code : (e?.cause?.code ?? e?.cause?.errors?.[0]?.code ?? e?.code ?? '')
}
