/**
 * Root and stream contexts (cpp-host `ContextBase`), and the per-request state that every plugin of
 * one request shares (header maps, filter state), as Envoy's filter chain shares one stream.
 * @module
 */
import type { HeaderPair } from '../abi/pairs.js'
import type { Clock, ClockTimer } from './clock.js'
import { HeaderMap } from './header-map.js'
import type { PropertyValue } from './properties.js'
import type { Plugin } from './plugin.js'
import type { HttpCallResponse } from './hostcalls/http-calls.js'
import type { WasmVm } from './vm.js'

/** Facts about a request that plugins read as properties, given by the embedder. */
export interface StreamInfo {
  /** Client address `ip` or `ip:port` (property `source.address` is always `ip:port`). */
  remoteAddress?: string
  /** Client port, when not part of `remoteAddress`. */
  remotePort?: number
  /** Local (listener) address and port, for `destination.*`. */
  localAddress?: string
  /** Local port. */
  localPort?: number
  /** `HTTP/1.0`, `HTTP/1.1` (default), `HTTP/2`, `HTTP/3`. */
  protocol?: string
  /** Route name (property `route_name`; Higress `_match_route_`). */
  route?: string
  /** Upstream cluster (property `cluster_name`, e.g. `outbound|80||svc.default.svc.cluster.local`). */
  cluster?: string
  /** Connection id (property `connection.id`); a fresh one is drawn when absent. */
  connectionId?: number
  /** Whether the client presented a certificate (`connection.mtls`). */
  mtls?: boolean
  /** Extra properties by dotted path (`'node.id'`, `'my_key'`), overriding built-in ones. */
  properties?: Record<string, PropertyValue>
}

/** A local response requested by `proxy_send_local_response`. */
export interface LocalResponse {
  /** HTTP status. */
  status: number
  /** Response details (`response.code_details`), whitespace replaced with `_` as Envoy does. */
  details: string
  /** Body bytes. */
  body: Buffer
  /** Headers given by the plugin (repeated names stay repeated). */
  headers: HeaderPair[]
  /** gRPC status, or -1 for none. */
  grpcStatus: number
}

let nextConnectionId = 1

/** State of one HTTP request shared by every plugin that handles it. @internal */
export class HttpState {
  requestHeaders: HeaderMap
  requestTrailers: HeaderMap | undefined
  responseHeaders: HeaderMap | undefined
  responseTrailers: HeaderMap | undefined
  /** Whether the request / response headers left the chain (writes are then refused, ABI §2.6). */
  requestHeadersSent = false
  responseHeadersSent = false
  requestTrailersSent = false
  responseTrailersSent = false
  #filterState: Map<string, Buffer> | undefined
  #spanTags: Map<string, string> | undefined
  /** Request start, ms since the epoch (kept as a number: BigInt math per request is costly). */
  readonly startMs: number
  requestBodyBytes = 0
  responseBodyBytes = 0
  requestComplete = false
  endMs: number | undefined
  responseCodeDetails: string | undefined
  readonly connectionId: number
  decoderBufferLimit: number
  encoderBufferLimit: number
  clearRouteCache = true
  needRebuild = false
  upstreamOverrideHost: string | undefined

  /** Values stored with `proxy_set_property` (Envoy filter state), shared by the plugins of the request. */
  get filterState(): Map<string, Buffer> {
    return (this.#filterState ??= new Map())
  }

  /** Higress `trace_span_tag.*` values. */
  get spanTags(): Map<string, string> {
    return (this.#spanTags ??= new Map())
  }

  constructor(
    readonly info: StreamInfo,
    headers: HeaderMap,
    bufferLimit: number,
    readonly clock: Clock,
  ) {
    this.startMs = clock.now()
    this.requestHeaders = headers
    this.connectionId = info.connectionId ?? nextConnectionId++
    this.decoderBufferLimit = bufferLimit
    this.encoderBufferLimit = bufferLimit
  }
}

/** Fields common to root and stream contexts. @internal */
export abstract class ContextBase {
  abstract readonly isRoot: boolean
  /** Whether `proxy_on_context_create` ran. */
  created = false
  /** Whether `proxy_on_delete` ran. */
  deleted = false
  constructor(
    readonly id: number,
    readonly plugin: Plugin,
    readonly vm: WasmVm,
  ) {}
  abstract get root(): RootContext
}

/** A plugin's root context. @internal */
export class RootContext extends ContextBase {
  readonly isRoot = true
  /** Plugin configuration is readable only inside `proxy_on_configure` (ABI §2.5). */
  inConfigure = false
  tickPeriod = 0
  tickTimer: ClockTimer | undefined
  /** Set when `proxy_on_done` returned false; `proxy_done` then completes shutdown. */
  pendingDone = false
  lastStatus: { code: number; message: string } = { code: 0, message: '' }
  /**
   * Outstanding async operations of this root (HTTP/gRPC/Redis callouts) by token: cancelled, with
   * no callback, when the root shuts down (ABI §6.5).
   */
  readonly pending = new Map<number, PendingCall>()
  /** The HTTP callout response visible (maps 6/7, buffer 4) only inside `proxy_on_http_call_response`. */
  httpCallResponse: HttpCallResponse | undefined
  get root(): RootContext {
    return this
  }
}

/** An outstanding async operation of a root context (see {@link RootContext.pending}). @internal */
export interface PendingCall {
  /** Stops the operation; its completion must not reach the guest any more. */
  cancel(): void
}

/** Listener told, after the guest call returns, that a stream context has deferred work. @internal */
export type StreamListener = (ctx: StreamContext) => void

/** A plugin's context for one HTTP request. @internal */
export class StreamContext extends ContextBase {
  readonly isRoot = false
  /** Body visible through buffers 0 / 1 during body callbacks (and while paused there). */
  requestBody: Buffer | undefined
  responseBody: Buffer | undefined
  /** Deferred actions, acted on after the guest call returns (ABI §2.7). */
  localResponse: LocalResponse | undefined
  continueRequest = false
  continueResponse = false
  closeRequested = false
  listener: StreamListener | undefined

  constructor(
    id: number,
    plugin: Plugin,
    vm: WasmVm,
    readonly rootContext: RootContext,
    readonly http: HttpState,
  ) {
    super(id, plugin, vm)
  }
  get root(): RootContext {
    return this.rootContext
  }
}
