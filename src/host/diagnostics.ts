/**
 * `node:diagnostics_channel` channels: every guest callback, the action the pipeline takes from
 * it, and every hostcall, for tracing tools and `proxy-wasm-host serve --log-level trace`. Nothing
 * is built or published while a channel has no subscriber.
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel'
 * import { DIAGNOSTICS_CHANNELS, type CallbackMessage } from 'proxy-wasm-host'
 *
 * subscribe(DIAGNOSTICS_CHANNELS.callback, (m) => {
 *   const c = m as CallbackMessage
 *   console.log(c.plugin, c.requestId, c.callback, c.result, c.durationMs)
 * })
 * ```
 * @module
 */
import { channel } from 'node:diagnostics_channel'
import { performance } from 'node:perf_hooks'
import type { ContextBase, StreamContext } from './context.js'
import { requestIdOf } from './logger.js'
import type { WasmVm } from './vm.js'

/** Names of the channels (stable, public). */
export const DIAGNOSTICS_CHANNELS = {
  /** One {@link CallbackMessage} per call into the guest (`proxy_on_*`, `_initialize`, …). */
  callback: 'proxy-wasm-host:callback',
  /** One {@link ActionMessage} per decision taken from a stream callback (continue, stop, local reply …). */
  action: 'proxy-wasm-host:action',
  /** One {@link HostcallMessage} per `env` hostcall of a VM started while the channel had a subscriber. */
  hostcall: 'proxy-wasm-host:hostcall',
} as const

/** What the `proxy-wasm-host:callback` channel publishes. */
export interface CallbackMessage {
  /** Plugin name. */
  plugin: string
  /** The export called. */
  callback: string
  /** The context it ran for (0 for start-up code). */
  contextId: number
  /** The request, for a stream context (see {@link LogSource.requestId}). */
  requestId?: string
  /** The arguments passed (context id first). */
  args: number[]
  /** What the guest returned; `undefined` when it trapped. */
  result: number | undefined
  /** Time in the guest, milliseconds. */
  durationMs: number
  /** The trap or `proc_exit`, when the call failed. */
  error?: unknown
}

/** Actions a stream callback leads to. */
export type ActionName =
  | 'continue'
  | 'stop_iteration'
  | 'continue_and_end_stream'
  | 'stop_all_iteration_and_buffer'
  | 'stop_all_iteration_and_watermark'
  | 'stop_iteration_and_buffer'
  | 'stop_iteration_and_watermark'
  | 'stop_iteration_no_buffer'
  | 'local_response'
  | 'close_stream'
  | 'continue_stream'
  | 'failed'

/** What the `proxy-wasm-host:action` channel publishes. */
export interface ActionMessage {
  /** Plugin name. */
  plugin: string
  /** Stream context id. */
  contextId: number
  /** The request (see {@link LogSource.requestId}). */
  requestId: string
  /** The callback the action came from (`proxy_on_request_headers` …), or `async` for a resumption or reply outside one. */
  callback: string
  /** What happens next. */
  action: ActionName
  /** `local_response`: the status; `failed`: the error code. */
  detail?: number | string
}

/** What the `proxy-wasm-host:hostcall` channel publishes. */
export interface HostcallMessage {
  /** Plugin name. */
  plugin: string
  /** The effective context when the hostcall ran. */
  contextId: number
  /** The request, for a stream context. */
  requestId?: string
  /** The hostcall (`proxy_get_header_map_value` …). */
  name: string
  /** Its raw arguments (pointers and sizes). */
  args: number[]
  /** What it returned (a `WasmResult` for most). */
  result: unknown
}

/** @internal */
export const callbackChannel = channel(DIAGNOSTICS_CHANNELS.callback)
/** @internal */
export const actionChannel = channel(DIAGNOSTICS_CHANNELS.action)
/** @internal */
export const hostcallChannel = channel(DIAGNOSTICS_CHANNELS.hostcall)

/** @internal a start time for {@link publishCallback}, 0 when nobody listens. */
export function callbackStart(): number {
  return callbackChannel.hasSubscribers ? performance.now() : 0
}

function requestOf(ctx: ContextBase | undefined): string | undefined {
  return ctx && !ctx.isRoot ? requestIdOf((ctx as StreamContext).http) : undefined
}

/** @internal publishes one callback (call only when `callbackChannel.hasSubscribers`). */
export function publishCallback(vm: WasmVm, ctx: ContextBase | undefined, callback: string, args: ReadonlyArray<number | undefined>, result: number | undefined, start: number, error?: unknown): void {
  const m: CallbackMessage = {
    plugin: vm.plugin.name,
    callback,
    contextId: ctx?.id ?? 0,
    args: args.filter((a): a is number => a !== undefined),
    result,
    durationMs: performance.now() - start,
  }
  const id = requestOf(ctx)
  if (id !== undefined) m.requestId = id
  if (error !== undefined) m.error = error
  callbackChannel.publish(m)
}

const HEADER_ACTIONS: readonly ActionName[] = ['continue', 'stop_iteration', 'continue_and_end_stream', 'stop_all_iteration_and_buffer', 'stop_all_iteration_and_watermark']
const DATA_ACTIONS: readonly ActionName[] = ['continue', 'stop_iteration_and_buffer', 'stop_iteration_and_watermark', 'stop_iteration_no_buffer']

/** The action a stream callback's return value asks for. @internal */
export function actionOf(callback: string, result: number): ActionName {
  if (callback.endsWith('_headers')) return HEADER_ACTIONS[result] ?? 'stop_all_iteration_and_watermark'
  if (callback.endsWith('_body')) return DATA_ACTIONS[result] ?? 'stop_iteration_no_buffer'
  return result === 0 ? 'continue' : 'stop_iteration'
}

/** @internal publishes one action (call only when `actionChannel.hasSubscribers`). */
export function publishAction(ctx: StreamContext, callback: string, action: ActionName, detail?: number | string): void {
  const m: ActionMessage = { plugin: ctx.plugin.name, contextId: ctx.id, requestId: requestIdOf(ctx.http), callback, action }
  if (detail !== undefined) m.detail = detail
  actionChannel.publish(m)
}

/**
 * Wraps a VM's `env` hostcalls so that each call is published (only when the channel has a
 * subscriber as the VM starts: an unwrapped table costs nothing).
 * @internal
 */
export function traceHostcalls<T extends Record<string, (...args: never[]) => unknown>>(table: T, vm: WasmVm): T {
  if (!hostcallChannel.hasSubscribers) return table
  const out: Record<string, (...args: number[]) => unknown> = {}
  for (const [name, fn] of Object.entries(table)) {
    const f = fn as unknown as (...args: number[]) => unknown
    out[name] = (...args: number[]) => {
      const result = f(...args)
      if (hostcallChannel.hasSubscribers) {
        const ctx = vm.effective
        const m: HostcallMessage = { plugin: vm.plugin.name, contextId: ctx?.id ?? 0, name, args, result }
        const id = requestOf(ctx)
        if (id !== undefined) m.requestId = id
        hostcallChannel.publish(m)
      }
      return result
    }
  }
  return out as unknown as T
}
