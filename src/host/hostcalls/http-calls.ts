/**
 * HTTP callouts (ABI §2.8): `proxy_http_call` (0.2.x) and its 0.1.0 / api7 name
 * `proxy_dispatch_http_call`. Every Envoy rule lives here, on the host side of
 * {@link HttpCallDispatcher}: pseudo-header and header-value checks, the timeout (a 504 as Envoy's
 * router answers it), connect failures as Envoy's 503 replies, a reset as the (0, 0, 0) failure,
 * exactly one `proxy_on_http_call_response` delivered to the **root** context (§6.6), never while
 * the guest runs.
 * @module
 */
import { WasmResult } from '../../abi/enums.js'
import { decodePairs, type HeaderPair } from '../../abi/pairs.js'
import type { RootContext } from '../context.js'
import { HeaderMap } from '../header-map.js'
import type { Plugin } from '../plugin.js'
import type { HttpCallout, HttpCalloutResult } from '../services.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

/** What a root context sees inside `proxy_on_http_call_response`: maps 6/7 and buffer 4. @internal */
export interface HttpCallResponse {
  headers: HeaderMap
  body: Buffer
  trailers: HeaderMap
}

/** Envoy stores `timeout_ms` in an `int`: 2^31 and above are negative there and refused. */
const MAX_TIMEOUT_MS = 2 ** 31
const BAD_FIELD = /[\r\n\0]/
/** Names already warned about, per plugin (one warn line per plugin and name). */
const warnedNames = new WeakMap<Plugin, Set<string>>()

// Envoy's router local replies (source/common/router/router.cc, Http::Utility::resetReasonToString;
// `transport failure reason` is the socket's `delayed connect error: <strerror>`).
const RESET_PREFIX = 'upstream connect error or disconnect/reset before headers. reset reason: '
const STRERROR: Record<string, string> = {
  ECONNREFUSED: 'Connection refused',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ECONNRESET: 'Connection reset by peer',
  ETIMEDOUT: 'Connection timed out',
}

/**
 * The body Envoy's router sends for a connect failure whose cause is `reason` (a Node/undici error
 * code such as `ECONNREFUSED`, or free text). @internal
 */
export function connectFailureText(reason: string | undefined): string {
  const code = /\b(E[A-Z]+|UND_ERR_[A-Z_]+)\b/.exec(reason ?? '')?.[1]
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return `${RESET_PREFIX}connection timeout`
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET') return `${RESET_PREFIX}connection termination`
  const err = code ? STRERROR[code] : undefined
  return `${RESET_PREFIX}remote connection failure${err ? `, transport failure reason: delayed connect error: ${err}` : ''}`
}

/** A response Envoy generated itself (503, 504): `:status`, `content-length`, `content-type: text/plain`. */
function localReply(status: number, text: string): HttpCalloutResult {
  const body = Buffer.from(text)
  return { kind: 'response', headers: [[':status', String(status)], ['content-length', String(body.byteLength)], ['content-type', 'text/plain']], body, trailers: [] }
}

/** The answer the plugin sees for `result` (transport failures become Envoy's local replies). @internal */
export function pluginView(result: HttpCalloutResult): HttpCalloutResult {
  switch (result.kind) {
    case 'connect-failure':
      return localReply(503, connectFailureText(result.reason))
    case 'no-healthy-upstream':
      return localReply(503, 'no healthy upstream')
    default:
      return result
  }
}

/**
 * The call handed to the dispatcher. Its `signal` is made on first use: an `AbortController` costs
 * ~5 µs and a listener on it ~7 µs more (bench/callout.mjs), so the default transport, which knows
 * this class, listens through {@link CalloutRequest.whenAborted} instead. @internal
 */
export class CalloutRequest implements HttpCallout {
  #ac: AbortController | undefined
  #listener: (() => void) | undefined
  #listeners: Array<() => void> | undefined
  #aborted = false

  constructor(
    readonly upstream: string,
    readonly headers: readonly HeaderPair[],
    readonly body: Buffer,
    readonly trailers: readonly HeaderPair[],
    readonly timeoutMs: number,
    readonly maxResponseBytes: number,
    readonly plugin: string,
    readonly token: number,
  ) {}

  get signal(): AbortSignal {
    if (!this.#ac) {
      this.#ac = new AbortController()
      if (this.#aborted) this.#ac.abort()
    }
    return this.#ac.signal
  }

  /** Whether the host gave up on the call. */
  get aborted(): boolean {
    return this.#aborted
  }

  /** Runs `fn` once when the host gives up on the call (timeout, root context gone). */
  whenAborted(fn: () => void): void {
    if (this.#aborted) fn()
    else if (!this.#listener) this.#listener = fn
    else (this.#listeners ??= []).push(fn)
  }

  /** Gives up on the call. */
  abort(): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#ac?.abort()
    const first = this.#listener
    const l = this.#listeners
    this.#listener = undefined
    this.#listeners = undefined
    first?.()
    if (l) for (const fn of l) fn()
  }
}

/** Lower-cased pairs, or `undefined` when a name or value holds CR, LF or NUL. */
function checkedPairs(pairs: HeaderPair[]): HeaderPair[] | undefined {
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i]!
    const k = p[0]
    if (k === '' || BAD_FIELD.test(k) || BAD_FIELD.test(p[1])) return undefined
    // decodePairs made these pairs for this call alone: lower-case in place.
    const lower = k.toLowerCase()
    if (lower !== k) p[0] = lower
  }
  return pairs
}

// Bits of the pseudo-headers a callout must carry with a value (Envoy refuses the call otherwise).
const REQUIRED: Readonly<Record<string, number>> = { ':method': 1, ':path': 2, ':authority': 4 }

/** Whether `:method`, `:path` and `:authority` are all present with a value. */
function hasRequired(headers: HeaderPair[]): boolean {
  let seen = 0
  for (let i = 0; i < headers.length; i++) {
    const [k, v] = headers[i]!
    if (k[0] === ':' && v !== '') seen |= REQUIRED[k] ?? 0
  }
  return seen === 7
}

/** @internal */
export function httpCallsHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  const httpCall = (up: number, ul: number, hp: number, hl: number, bp: number, bl: number, tp: number, tl: number, timeout: number, tokenPtr: number) => {
    // 1. The root of the effective context owns the call (§6.6).
    const upstream = mem.utf8(up, ul)
    const headerBytes = mem.view(hp, hl)
    const body = mem.copy(bp, bl)
    const trailerBytes = mem.view(tp, tl)
    if (upstream === undefined || headerBytes === undefined || body === undefined || trailerBytes === undefined || !mem.inBounds(tokenPtr, 4)) {
      return WasmResult.InvalidMemoryAccess
    }
    const root = vm.effective?.root as RootContext | undefined
    if (!root || root.deleted) return WasmResult.InternalFailure
    // 2. Envoy's checks: :method, :path, :authority present; no CR/LF/NUL; timeout fits an int.
    const headers = checkedPairs(decodePairs(headerBytes) ?? [])
    const trailers = checkedPairs(decodePairs(trailerBytes) ?? [])
    if (!headers || !trailers || !hasRequired(headers)) return WasmResult.BadArgument
    const timeoutMs = timeout >>> 0
    if (timeoutMs >= MAX_TIMEOUT_MS) return WasmResult.BadArgument
    const plugin = vm.plugin
    const dispatcher = plugin.services.http
    // 3. Hand it to the transport; an unknown name is BadArgument at once (Envoy: unknown cluster).
    const token = vm.nextToken(0)
    const call = new CalloutRequest(upstream, headers, body, trailers, timeoutMs, plugin.maxCalloutResponseBytes, plugin.name, token)
    let promise: Promise<HttpCalloutResult> | undefined
    try {
      promise = dispatcher?.dispatch(call)
    } catch (err) {
      plugin.emitLog('error', `http call to "${upstream}" could not start: ${(err as Error).message}`, root.id, 'host')
      return WasmResult.InternalFailure
    }
    if (!promise) {
      let seen = warnedNames.get(plugin)
      if (!seen) warnedNames.set(plugin, (seen = new Set()))
      if (!seen.has(upstream)) {
        seen.add(upstream)
        plugin.emitLog('warn', `http call to unknown upstream "${upstream}" answered BadArgument; name it in the host's upstreams or give a resolver that knows it (docs/upstreams.md)`, root.id, 'host')
      }
      return WasmResult.BadArgument
    }
    mem.setU32(tokenPtr, token)
    // 4. Exactly one completion: the first of response, failure, timeout; none once cancelled.
    let finished = false
    const timer = timeoutMs > 0
      ? plugin.clock.setTimer(() => {
          complete(localReply(504, 'upstream request timeout'))
          call.abort()
        }, timeoutMs)
      : undefined
    const complete = (result: HttpCalloutResult) => {
      if (finished) return
      finished = true
      timer?.cancel()
      root.pending.delete(token)
      deliver(plugin, root, token, pluginView(result), plugin.maxCalloutResponseBytes)
    }
    root.pending.set(token, {
      cancel: () => {
        finished = true
        timer?.cancel()
        call.abort()
      },
    })
    promise.then(complete, (err: unknown) => complete({ kind: 'reset', reason: (err as Error)?.message ?? String(err) }))
    return WasmResult.Ok
  }
  return {
    proxy_http_call: httpCall,
    proxy_dispatch_http_call: httpCall,
  }
}

/** Runs `proxy_on_http_call_response(root, token, n_headers, body_size, n_trailers)` with maps 6/7 and buffer 4 visible. */
function deliver(plugin: Plugin, root: RootContext, token: number, result: HttpCalloutResult, maxBytes: number): void {
  let response: HttpCallResponse | undefined
  if (result.kind === 'response' && result.body.byteLength <= maxBytes) {
    response = { headers: HeaderMap.fromPairs(lowerCased(result.headers)), body: result.body, trailers: HeaderMap.fromPairs(lowerCased(result.trailers)) }
  }
  // A reset (or a body over the cap, Envoy's ExceedResponseBufferLimit) is the (0, 0, 0) failure.
  const args = response ? [token, response.headers.size, response.body.byteLength, response.trailers.size] : [token, 0, 0, 0]
  plugin.deliver(root, 'proxy_on_http_call_response', args, () => {
    root.httpCallResponse = response
    root.lastStatus = response ? { code: WasmResult.Ok, message: '' } : { code: WasmResult.BrokenConnection, message: 'reset' }
    return () => {
      root.httpCallResponse = undefined
    }
  })
}

/** `pairs` with lower-case names: the same array when they already are (the host's transport sends them so). */
function lowerCased(pairs: HeaderPair[]): HeaderPair[] {
  for (let i = 0; i < pairs.length; i++) {
    const k = pairs[i]![0]
    if (k.toLowerCase() !== k) return pairs.map(([n, v]) => [n.toLowerCase(), v])
  }
  return pairs
}

/** The body the plugin reads from buffer 4, when inside the callback. @internal */
export function httpCallResponseBody(root: RootContext | undefined): Buffer | null {
  const r = root?.httpCallResponse
  return r ? r.body : null
}
