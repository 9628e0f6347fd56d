/**
 * Options every adapter accepts. @module
 */
import type { IncomingMessage } from 'node:http'
import { ProxyWasmHostError } from '../../errors.js'
import { PluginPipeline } from '../../pipeline/pipeline.js'
import type { RouteInfo } from './headers.js'
import type { PluginErrorMode } from './plugin-errors.js'

export type { RouteInfo } from './headers.js'
export type { PluginErrorMode } from './plugin-errors.js'

/**
 * The pipeline of an adapter: one pipeline, or a function that picks one per request (to swap a
 * pipeline at run time: requests already running finish on the pipeline they started with).
 * @typeParam Req - the request type of the framework
 * @example
 * ```ts
 * let current = await PluginPipeline.fromConfig(host, 'gateway.yaml')
 * app.use(proxyWasm({ pipeline: () => current }))
 * // later: current = await PluginPipeline.fromConfig(host, 'gateway.yaml')
 * ```
 */
export type PipelineSource<Req = IncomingMessage> = PluginPipeline | ((req: Req) => PluginPipeline)

/**
 * Route and service of the requests an adapter handles: fixed names, or a function of the request.
 * `route` feeds property `route_name`, Higress `_match_route_` rules and Kong route chains;
 * `service` feeds Kong service chains and property `cluster_name`.
 * @typeParam Req - the request type of the framework
 * @example
 * ```ts
 * handle(pipeline, app, { service: 'orders', match: (req) => ({ route: req.url?.startsWith('/admin') ? 'admin' : 'public' }) })
 * ```
 */
export interface RouteOptions<Req = IncomingMessage> {
  /** Route name for every request (overridden by `match`). */
  route?: string
  /** Service name for every request (overridden by `match`). */
  service?: string
  /** Route and service per request; fields it leaves undefined fall back to `route` / `service`. */
  match?: (req: Req) => RouteInfo | undefined
}

/**
 * Options of the middleware (`proxyWasm` of every adapter).
 * @typeParam Req - the request type of the framework
 * @example
 * ```ts
 * const options: ProxyWasmOptions = { pipeline, route: 'api' }
 * ```
 */
export interface ProxyWasmOptions<Req = IncomingMessage> extends RouteOptions<Req> {
  /** The plugins to run, in gateway order. */
  pipeline: PipelineSource<Req>
  /**
   * When a plugin fails in the request phases (a trap, FAIL_CLOSE or FAIL_RELOAD): `respond`
   * (default) sends the fail strategy's 500, as a gateway does; `forward` hands the
   * `PluginFailureError` to the framework instead — Express / connect `next(err)`, Koa
   * `ctx.throw(500, err)`, Fastify's error handler — so that your error handling sees it.
   */
  onPluginError?: PluginErrorMode
}

/** Checks an adapter's pipeline option. @internal */
export function checkPipeline<Req>(pipeline: PipelineSource<Req> | undefined, where: string): PipelineSource<Req> {
  if (pipeline instanceof PluginPipeline || typeof pipeline === 'function') return pipeline
  // Two copies of the library break instanceof: accept anything that can start an exchange.
  if (pipeline && typeof (pipeline as { exchange?: unknown }).exchange === 'function') return pipeline
  throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${where}: "pipeline" must be a PluginPipeline (new PluginPipeline(host, { plugins }) or PluginPipeline.fromConfig()) or a function returning one`)
}

/** The pipeline for one request. @internal */
export function pipelineFor<Req>(source: PipelineSource<Req>, req: Req): PluginPipeline {
  return typeof source === 'function' ? source(req) : source
}

/** Route and service for one request. @internal */
export function routeFor<Req>(options: RouteOptions<Req>, req: Req): RouteInfo {
  const m = options.match?.(req)
  const out: RouteInfo = {}
  const route = m?.route ?? options.route
  const service = m?.service ?? options.service
  if (route !== undefined) out.route = route
  if (service !== undefined) out.service = service
  return out
}
