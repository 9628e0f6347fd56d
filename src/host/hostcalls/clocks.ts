/** Clock hostcalls. @module */
import { WasmResult } from '../../abi/enums.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

/** @internal */
export function clocksHostcalls(vm: WasmVm): Record<string, Hostcall> {
  return {
    proxy_get_current_time_nanoseconds: (ptr: number) =>
      vm.memory.setU64(ptr, vm.plugin.clock.realtimeNs()) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess,
  }
}
