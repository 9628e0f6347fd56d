/** Clock hostcalls. @module */
import { WasmResult } from '../../abi/enums.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

const origin = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint()

/** @internal */
export function clocksHostcalls(vm: WasmVm): Record<string, Hostcall> {
  return {
    proxy_get_current_time_nanoseconds: (ptr: number) =>
      vm.memory.setU64(ptr, process.hrtime.bigint() + origin) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess,
  }
}
