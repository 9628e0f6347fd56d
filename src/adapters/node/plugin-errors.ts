/**
 * `onPluginError: 'forward'`: a plugin failure handed to the framework's error handling (Express
 * `next(err)`, Koa `ctx.throw`) instead of the fail strategy's 500 reply. @internal
 * @module
 */
import type { PluginFailureError } from '../../errors.js'
import type { Exchange, FinalResponse } from '../../pipeline/exchange.js'

/**
 * What an adapter does when a plugin fails (FAIL_CLOSE / FAIL_RELOAD) before the app ran: `respond`
 * sends the 500, `forward` hands the error to the framework.
 * @example
 * ```ts
 * app.use(proxyWasm({ pipeline, onPluginError: "forward" satisfies PluginErrorMode }))
 * ```
 */
export type PluginErrorMode = 'respond' | 'forward'

/**
 * The failure behind a local reply, when the reply is the fail strategy's 500 (`wasm_fail_stream`):
 * the failure of this exchange, or the earlier one of a plugin whose VM is down.
 * @internal
 */
export function pluginFailureOf(ex: Exchange, response: FinalResponse): PluginFailureError | undefined {
  if (response.details !== 'wasm_fail_stream') return undefined
  const own = ex.failures[ex.failures.length - 1]
  if (own) return own
  for (const p of ex.plugins) if (p.failure && p.failStrategy !== 'FAIL_OPEN') return p.failure
  return undefined
}
