/** Shared queue hostcalls (ABI §2.11); `proxy_on_queue_ready` goes to the registering root. @module */
import { WasmResult } from '../../abi/enums.js'
import type { RootContext } from '../context.js'
import { warnStateLimit } from '../state-limits.js'
import type { WasmVm } from '../vm.js'
import { STORE_FAILED, storeCall } from './shared-data.js'
import type { Hostcall } from './util.js'

/** @internal */
export function sharedQueueHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  const attempt = storeCall(vm, 'shared queue')
  const store = () => vm.plugin.services.sharedQueues!
  return {
    proxy_register_shared_queue: (np: number, nl: number, idPtr: number) => {
      const name = mem.latin1(np, nl)
      if (name === undefined || !mem.inBounds(idPtr, 4)) return WasmResult.InvalidMemoryAccess
      // The receiver is the root of the caller, also when a stream context registers (§2.11).
      const root = vm.effective?.root as RootContext | undefined
      if (!root) return WasmResult.BadArgument
      const plugin = vm.plugin
      const limits = plugin.services.limits
      const id = attempt(() => store().register(plugin.vmId, name, (queueId) => void plugin.deliver(root, 'proxy_on_queue_ready', [queueId]), limits?.sharedQueues))
      if (id === STORE_FAILED) return WasmResult.InternalFailure
      if (typeof id === 'string') {
        // A new queue over a cap: the Rust SDK tolerates only Ok here, so nothing is safe for it;
        // InternalFailure is the error the other SDKs hand the plugin.
        if (limits) warnStateLimit(plugin, limits, id === 'queues' ? 'maxSharedQueues' : 'maxSharedQueueBytes', `for vm_id ${JSON.stringify(plugin.vmId)}: proxy_register_shared_queue answers InternalFailure for new queues`, vm.effective?.id ?? 0)
        return WasmResult.InternalFailure
      }
      mem.setU32(idPtr, id)
      return WasmResult.Ok
    },
    proxy_resolve_shared_queue: (vp: number, vl: number, np: number, nl: number, idPtr: number) => {
      const vmId = mem.latin1(vp, vl)
      const name = mem.latin1(np, nl)
      if (vmId === undefined || name === undefined || !mem.inBounds(idPtr, 4)) return WasmResult.InvalidMemoryAccess
      // An empty vm_id means the caller's own.
      const id = attempt(() => store().resolve(vmId || vm.plugin.vmId, name))
      if (id === STORE_FAILED) return WasmResult.InternalFailure
      if (id === undefined) return WasmResult.NotFound
      mem.setU32(idPtr, id)
      return WasmResult.Ok
    },
    proxy_enqueue_shared_queue: (id: number, vp: number, vl: number) => {
      const value = mem.copy(vp, vl)
      if (value === undefined) return WasmResult.InvalidMemoryAccess
      const limits = vm.plugin.services.limits
      const ok = attempt(() => store().enqueue(id >>> 0, value, limits?.sharedQueues))
      if (ok === STORE_FAILED) return WasmResult.InternalFailure
      if (typeof ok === 'string') {
        // A full queue: NotFound is the only failure every SDK hands the plugin as an error (the
        // Rust SDK panics on any other); the warn line says what it means.
        if (limits) warnStateLimit(vm.plugin, limits, ok === 'items' ? 'maxSharedQueueItems' : 'maxSharedQueueBytes', `for the vm_id of queue ${id >>> 0}: proxy_enqueue_shared_queue answers NotFound until items are dequeued`, vm.effective?.id ?? 0)
        return WasmResult.NotFound
      }
      return ok ? WasmResult.Ok : WasmResult.NotFound
    },
    proxy_dequeue_shared_queue: (id: number, ptrPtr: number, sizePtr: number) => {
      if (!mem.inBounds(ptrPtr, 4) || !mem.inBounds(sizePtr, 4)) return WasmResult.InvalidMemoryAccess
      const item = attempt(() => store().dequeue(id >>> 0))
      if (item === STORE_FAILED) return WasmResult.InternalFailure
      if (item === undefined) return WasmResult.NotFound
      if (item === null) return WasmResult.Empty
      return vm.copyOut(item, ptrPtr, sizePtr)
    },
  }
}
