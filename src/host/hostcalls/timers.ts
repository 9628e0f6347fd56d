/** Timer hostcall: the tick of the root context (ABI §2.4). @module */
import { WasmResult } from '../../abi/enums.js'
import type { RootContext } from '../context.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

/** @internal */
export function timersHostcalls(vm: WasmVm): Record<string, Hostcall> {
  return {
    proxy_set_tick_period_milliseconds: (period: number) => {
      const root = vm.effective?.root as RootContext | undefined
      if (!root) return WasmResult.BadArgument
      vm.plugin.setTickPeriod(root, period >>> 0)
      return WasmResult.Ok
    },
  }
}
