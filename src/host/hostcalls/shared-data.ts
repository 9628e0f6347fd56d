/** Shared data hostcalls (ABI §2.10): a key-value store per `vm_id` with compare-and-swap. @module */
import { WasmResult } from '../../abi/enums.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

/** @internal */
export function sharedDataHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  let failing = false
  // A store that cannot answer (Redis down) is an InternalFailure for the plugin, logged once per outage.
  const failed = (err: unknown) => {
    if (!failing) vm.plugin.emitLog('error', `shared data store failed: ${(err as Error).message}`, vm.effective?.id ?? 0, 'host')
    failing = true
    return WasmResult.InternalFailure
  }
  return {
    proxy_get_shared_data: (kp: number, kl: number, valuePtrPtr: number, valueSizePtr: number, casPtr: number) => {
      // Keys are bytes: latin1 keeps each byte as one character.
      const key = mem.latin1(kp, kl)
      if (key === undefined || !mem.inBounds(valuePtrPtr, 4) || !mem.inBounds(valueSizePtr, 4) || !mem.inBounds(casPtr, 4)) return WasmResult.InvalidMemoryAccess
      const store = vm.plugin.services.sharedData!
      let entry
      try {
        entry = store.get(vm.plugin.vmId, key)
      } catch (err) {
        return failed(err)
      }
      failing = false
      // NotFound writes nothing (Go then sees cas 0).
      if (!entry) return WasmResult.NotFound
      const r = vm.copyOut(entry.value, valuePtrPtr, valueSizePtr)
      if (r !== WasmResult.Ok) return r
      mem.setU32(casPtr, entry.cas)
      return WasmResult.Ok
    },
    proxy_set_shared_data: (kp: number, kl: number, vp: number, vl: number, cas: number) => {
      const key = mem.latin1(kp, kl)
      // Empty values are allowed (Go passes ptr 0, len 0).
      const value = mem.copy(vp, vl)
      if (key === undefined || value === undefined) return WasmResult.InvalidMemoryAccess
      let ok
      try {
        ok = vm.plugin.services.sharedData!.set(vm.plugin.vmId, key, value, cas >>> 0)
      } catch (err) {
        return failed(err)
      }
      failing = false
      return ok ? WasmResult.Ok : WasmResult.CasMismatch
    },
  }
}
