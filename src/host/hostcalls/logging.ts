/** Logging hostcalls. @module */
import { LOG_LEVEL_NAMES, WasmResult } from '../../abi/enums.js'
import { LOG_MESSAGE_MAX_BYTES } from '../../abi/limits.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

/** @internal */
export function loggingHostcalls(vm: WasmVm): Record<string, Hostcall> {
  return {
    proxy_log: (level: number, ptr: number, len: number) => {
      level >>>= 0
      if (level > 5) return WasmResult.BadArgument
      if (!vm.memory.inBounds(ptr, len)) return WasmResult.InvalidMemoryAccess
      const p = vm.plugin
      if (level < p.logLevel) return WasmResult.Ok
      const msg = vm.memory.utf8(ptr, Math.min(len >>> 0, LOG_MESSAGE_MAX_BYTES))!
      p.emitLog(LOG_LEVEL_NAMES[level]!, msg, vm.effective?.id ?? 0, 'proxy_log')
      return WasmResult.Ok
    },
    proxy_get_log_level: (ptr: number) =>
      vm.memory.setU32(ptr, vm.plugin.logLevel) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess,
  }
}
