/** Timer hostcall: the tick of the root context (ABI §2.4). @module */
import { WasmResult } from '../../abi/enums.js'
import type { RootContext } from '../context.js'
import type { WasmVm } from '../vm.js'
import { refuse } from './refuse.js'
import type { Hostcall } from './util.js'

/** @internal */
export function timersHostcalls(vm: WasmVm): Record<string, Hostcall> {
  return {
    proxy_set_tick_period_milliseconds: (period: number) => {
      const root = vm.effective?.root as RootContext | undefined
      if (!root) return WasmResult.BadArgument
      period >>>= 0
      // Envoy reads the period as a signed int; Node's timers fire after 1 ms from 2^31 on.
      if (period >= 2 ** 31) return refuse(vm, 'proxy_set_tick_period_milliseconds', `period ${period} ms is 2^31 or more; the tick is unchanged`)
      vm.plugin.setTickPeriod(root, period)
      return WasmResult.Ok
    },
  }
}
