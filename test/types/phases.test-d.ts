// Type-level checks, run by `npm run typecheck` (tsc): MSE phase names are accepted, typos are not.
import type { PluginOptions, PluginPhaseName } from '../../src/index.js'

const mse: PluginPhaseName[] = ['authentication', 'authorization', 'statistics', 'default', 'AUTHN', 'UNSPECIFIED_PHASE', 'authn']
export const options: PluginOptions = { wasm: 'a.wasm', phase: 'authorization' }
// @ts-expect-error a typo of "authentication"
export const typo: PluginOptions = { wasm: 'a.wasm', phase: 'authentcation' }
export { mse }
