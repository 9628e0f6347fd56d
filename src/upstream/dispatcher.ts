/**
 * The production HTTP callout transport: names resolved by {@link Upstreams}, requests over undici.
 * It reports transport outcomes only (`connect-failure`, `no-healthy-upstream`, `reset`); the host's
 * hostcall turns them into what Envoy shows a plugin.
 * @module
 */
import { Agent, type Dispatcher } from 'undici'
import type { HttpCallDispatcher, HttpCallout, HttpCalloutResult } from '../host/services.js'
import type { HeaderPair } from '../abi/pairs.js'
import { NOT_FRESH, type Upstreams, type UpstreamService } from './upstreams.js'
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
      let authority: string | undefined
      for (const [k, v] of call.headers) {
        if (k === ':authority') {
          authority = v
          break
        }
      }
      const svc = upstreams.lookupFor(call.upstream, authority)
      if (!svc) return undefined
      // A fixed or freshly cached list is picked from at once; otherwise the registry is asked.
      const now = svc.pickNow()
      if (now !== NOT_FRESH) return send(agent, svc, now, call)
      return pickLater(agent, svc, call)
    },
    async close() {
      await own?.close()
    },
  }
}

async function pickLater(agent: Dispatcher, svc: UpstreamService, call: HttpCallout): Promise<HttpCalloutResult> {
  let endpoint: Endpoint | undefined
  try {
    // The host's call enforces its own timeout; a resolution it gave up on still fills the cache.
    endpoint = await svc.pick(typeof (call as Partial<HostCall>).whenAborted === 'function' ? undefined : call.signal)
  } catch (err) {
    return { kind: 'no-healthy-upstream', reason: (err as Error)?.message ?? String(err) }
  }
  return send(agent, svc, endpoint, call)
}

/** What the host's own call object offers besides {@link HttpCallout}: an abort hook without an AbortSignal. */
interface HostCall extends HttpCallout {
  whenAborted(fn: () => void): void
}

/** `http://host:port` of an endpoint, made once per endpoint object. */
const origins = new WeakMap<Endpoint, string>()
function originOf(e: Endpoint): string {
  let o = origins.get(e)
  if (o === undefined) {
    o = `${e.protocol ?? 'http:'}//${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`
    origins.set(e, o)
  }
  return o
}

function send(agent: Dispatcher, svc: UpstreamService, endpoint: Endpoint | undefined, call: HttpCallout): Promise<HttpCalloutResult> {
  if (!endpoint) return Promise.resolve({ kind: 'no-healthy-upstream', reason: `${svc.key} lists no endpoint` })
  let method = 'GET'
  let path = '/'
  const headers: string[] = []
  for (const [k, v] of call.headers) {
    if (k === ':method') method = v
    else if (k === ':path') path = v
    else if (k === ':authority') headers.push('host', v)
    else if (k[0] !== ':' && k !== 'host' && !HOP_BY_HOP.has(k)) headers.push(k, v)
  }
  const origin = originOf(endpoint)
  return new Promise<HttpCalloutResult>((resolve) => {
    const handler = new CalloutHandler(resolve, svc, endpoint, origin, call.maxResponseBytes)
    // The host's own call object offers whenAborted(), which spares an AbortSignal and its listener.
    if (typeof (call as Partial<HostCall>).whenAborted === 'function') {
      ;(call as HostCall).whenAborted(() => handler.abort())
    } else {
      const signal = call.signal
      if (signal.aborted) return handler.finish({ kind: 'reset', reason: 'aborted' })
      const onAbort = () => handler.abort()
      signal.addEventListener('abort', onAbort, { once: true })
      handler.cleanup = () => signal.removeEventListener('abort', onAbort)
    }
    if (handler.aborted) return handler.finish({ kind: 'reset', reason: 'aborted' })
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
      handler,
    )
  })
}

/**
 * One callout's undici handler, with undici's own (raw-header) hooks: the response headers arrive
 * as raw name/value buffers and become pairs in wire order, without the header object, the
 * wrapper handler and the closures per call that the controller-style hooks cost
 * (docs/adr/0008-callout-transport.md, measured section).
 */
class CalloutHandler {
  #abort: ((err?: Error) => void) | undefined
  #status = 0
  #headers: HeaderPair[] = []
  #chunks: Buffer[] = []
  #size = 0
  #done = false
  aborted = false
  cleanup: (() => void) | undefined

  constructor(
    readonly resolve: (r: HttpCalloutResult) => void,
    readonly svc: UpstreamService,
    readonly endpoint: Endpoint,
    readonly origin: string,
    readonly maxBytes: number,
  ) {}

  finish(r: HttpCalloutResult): void {
    if (this.#done) return
    this.#done = true
    this.cleanup?.()
    this.resolve(r)
  }

  abort(): void {
    this.aborted = true
    this.#abort?.(new Error('aborted'))
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort
    if (this.aborted) abort(new Error('aborted'))
  }

  onHeaders(statusCode: number, raw: Buffer[] | string[] | null, _resume: () => void): boolean {
    this.#status = statusCode
    const out: HeaderPair[] = [[':status', String(statusCode)]]
    let declared = -1
    if (raw) {
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const k = latin1(raw[i]!).toLowerCase()
        if (HOP_BY_HOP.has(k)) continue
        const v = latin1(raw[i + 1]!)
        if (k === 'content-length') declared = Number(v)
        out.push([k, v])
      }
    }
    this.#headers = out
    if (declared > this.maxBytes) {
      this.finish({ kind: 'reset', reason: `response body of ${declared} bytes is over ${this.maxBytes}` })
      this.#abort?.(new Error('response too large'))
      return false
    }
    return true
  }

  onData(chunk: Buffer): boolean {
    this.#size += chunk.byteLength
    if (this.#size > this.maxBytes) {
      this.finish({ kind: 'reset', reason: `response body over ${this.maxBytes} bytes` })
      this.#abort?.(new Error('response too large'))
      return false
    }
    this.#chunks.push(chunk)
    return true
  }

  onComplete(raw: Buffer[] | string[] | null): void {
    const trailers: HeaderPair[] = []
    if (raw) for (let i = 0; i + 1 < raw.length; i += 2) trailers.push([latin1(raw[i]!).toLowerCase(), latin1(raw[i + 1]!)])
    const chunks = this.#chunks
    this.finish({ kind: 'response', headers: this.#headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), trailers })
  }

  onError(err: Error): void {
    if (this.#done) return
    if (this.aborted) return this.finish({ kind: 'reset', reason: 'aborted' })
    // A failure after the response started is a reset for the plugin; before, Envoy's router
    // answers with a 503 local reply.
    if (this.#status !== 0) return this.finish({ kind: 'reset', reason: err?.message ?? String(err) })
    const code = errorCode(err)
    if (CONNECT_ERRORS.has(code)) this.svc.eject(this.endpoint)
    this.finish({ kind: 'connect-failure', reason: `${code || 'error'}: ${err?.message ?? String(err)} (${this.origin})` })
  }
}

function latin1(b: Buffer | string): string {
  return typeof b === 'string' ? b : b.toString('latin1')
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string; errors?: Array<{ code?: string }> } }
  return e?.code && e.code !== 'UND_ERR_SOCKET' ? e.code : (e?.cause?.code ?? e?.cause?.errors?.[0]?.code ?? e?.code ?? '')
}
