/** Shared data hostcalls (ABI §2.10): a key-value store per `vm_id` with compare-and-swap. @module */
import { WasmResult } from '../../abi/enums.js'
import { warnStateLimit } from '../state-limits.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

/** What {@link storeCall} returns when the store threw. @internal */
export const STORE_FAILED = Symbol('store failed')

/**
 * Runs calls into a shared store for hostcalls: a store that cannot answer (Redis down) throws,
 * which the plugin sees as `InternalFailure`; logged once per outage.
 * @internal
 */
export function storeCall(vm: WasmVm, what: string): <T>(fn: () => T) => T | typeof STORE_FAILED {
  let failing = false
  return (fn) => {
    try {
      const r = fn()
      failing = false
      return r
    } catch (err) {
      if (!failing) vm.plugin.emitLog('error', `${what} store failed: ${(err as Error).message}`, vm.effective?.id ?? 0, 'host')
      failing = true
      return STORE_FAILED
    }
  }
}

/** @internal */
export function sharedDataHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  const attempt = storeCall(vm, 'shared data')
  return {
    proxy_get_shared_data: (kp: number, kl: number, valuePtrPtr: number, valueSizePtr: number, casPtr: number) => {
      // Keys are bytes: latin1 keeps each byte as one character.
      const key = mem.latin1(kp, kl)
      if (key === undefined || !mem.inBounds(valuePtrPtr, 4) || !mem.inBounds(valueSizePtr, 4) || !mem.inBounds(casPtr, 4)) return WasmResult.InvalidMemoryAccess
      const entry = attempt(() => vm.plugin.services.sharedData!.get(vm.plugin.vmId, key))
      if (entry === STORE_FAILED) return WasmResult.InternalFailure
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
      const { services, vmId } = vm.plugin
      const ok = attempt(() => services.sharedData!.set(vmId, key, value, cas >>> 0, services.limits?.sharedData))
      if (ok === STORE_FAILED) return WasmResult.InternalFailure
      if (typeof ok === 'string') {
        // Over a cap. The Rust SDK tolerates only Ok and CasMismatch here, but CasMismatch would
        // spin every CAS-retry loop (Go's and Rust's alike) until the CPU limit: InternalFailure
        // is an error Go, C++ and AssemblyScript plugins handle, and a Rust plugin panics on.
        if (services.limits) {
          warnStateLimit(vm.plugin, services.limits, ok === 'keys' ? 'maxSharedDataKeys' : 'maxSharedDataBytes',
            `for vm_id ${JSON.stringify(vmId)}: proxy_set_shared_data answers InternalFailure for ${ok === 'keys' ? 'new keys' : 'writes that grow the store'}`, vm.effective?.id ?? 0)
        }
        return WasmResult.InternalFailure
      }
      return ok ? WasmResult.Ok : WasmResult.CasMismatch
    },
  }
}
