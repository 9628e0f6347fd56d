/** Merges every hostcall table into the import object of one VM. @module */
import type { WasmVm } from '../vm.js'
import { buffersHostcalls } from './buffers.js'
import { clocksHostcalls } from './clocks.js'
import { configurationHostcalls } from './configuration.js'
import { ffiHostcalls } from './ffi.js'
import { upstreamHostcalls } from './extensions/upstream.js'
import { httpCallsHostcalls } from './http-calls.js'
import { httpFieldsHostcalls } from './http-fields.js'
import { lifecycleHostcalls } from './lifecycle.js'
import { loggingHostcalls } from './logging.js'
import { propertiesHostcalls } from './properties.js'
import { redisHostcalls } from './extensions/redis.js'
import { metricsHostcalls } from './metrics.js'
import { sharedDataHostcalls } from './shared-data.js'
import { sharedQueueHostcalls } from './shared-queue.js'
import { streamsHostcalls } from './streams.js'
import { timersHostcalls } from './timers.js'
import { unimplementedHostcalls } from './unimplemented.js'
import type { Hostcall } from './util.js'

/** Every `env` hostcall for `vm`, by ABI import name. @internal */
export function envHostcalls(vm: WasmVm): Record<string, Hostcall> {
  return {
    ...unimplementedHostcalls(),
    ...lifecycleHostcalls(vm),
    ...configurationHostcalls(vm),
    ...loggingHostcalls(vm),
    ...clocksHostcalls(vm),
    ...timersHostcalls(vm),
    ...buffersHostcalls(vm),
    ...httpFieldsHostcalls(vm),
    ...streamsHostcalls(vm),
    ...propertiesHostcalls(vm),
    ...ffiHostcalls(vm),
    ...httpCallsHostcalls(vm),
    ...upstreamHostcalls(vm),
    ...redisHostcalls(vm),
    ...sharedDataHostcalls(vm),
    ...sharedQueueHostcalls(vm),
    ...metricsHostcalls(vm),
  }
}

/** Names of every implemented or listed `env` hostcall (for `inspect` and docs). @internal */
export { UNIMPLEMENTED } from './unimplemented.js'
