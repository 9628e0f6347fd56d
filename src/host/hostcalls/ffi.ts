/** Foreign functions (ABI §2.14, Higress §8.6). @module */
import { WasmResult } from '../../abi/enums.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

/** @internal */
export function ffiHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  return {
    proxy_call_foreign_function: (np: number, nl: number, ap: number, al: number, ptrPtr: number, sizePtr: number) => {
      const name = mem.utf8(np, nl)
      const args = mem.copy(ap, al)
      if (name === undefined || args === undefined) return WasmResult.InvalidMemoryAccess
      const fn = vm.plugin.foreignFunction(name)
      if (!fn) return WasmResult.NotFound
      let out: Uint8Array | number | void
      try {
        out = fn(args, { plugin: vm.plugin.name, contextId: vm.effective?.id ?? 0 })
      } catch {
        return WasmResult.InternalFailure
      }
      if (typeof out === 'number') return out
      if (ptrPtr === 0) return WasmResult.Ok
      return vm.copyOut(out ?? new Uint8Array(0), ptrPtr, sizePtr)
    },
  }
}
