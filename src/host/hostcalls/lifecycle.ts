/** Context lifecycle hostcalls (spec v0.2.1 "Context lifecycle"). @module */
import { WasmResult } from '../../abi/enums.js'
import type { RootContext } from '../context.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

/** @internal */
export function lifecycleHostcalls(vm: WasmVm): Record<string, Hostcall> {
  return {
    proxy_set_effective_context: (id: number) => {
      const ctx = vm.contexts.get(id >>> 0)
      if (!ctx || ctx.deleted) return WasmResult.BadArgument
      vm.effective = ctx
      return WasmResult.Ok
    },
    // proxy_on_delete(root) runs after the current guest call returns, never from inside (ABI §2.1).
    proxy_done: () => {
      const root = vm.effective?.root as RootContext | undefined
      if (!root?.pendingDone) return WasmResult.NotFound
      root.pendingDone = false
      vm.pendingDelete.add(root)
      return WasmResult.Ok
    },
  }
}
