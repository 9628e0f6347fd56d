/** Configuration hostcall of ABI 0.1.0 (later versions read buffers 6/7). @module */
import type { RootContext } from '../context.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

/** @internal */
export function configurationHostcalls(vm: WasmVm): Record<string, Hostcall> {
  return {
    proxy_get_configuration: (ptrPtr: number, sizePtr: number) => {
      const root = vm.effective?.root as RootContext | undefined
      const p = vm.plugin
      return vm.copyOut(root?.inConfigure ? p.pluginConfigBytes : p.vmConfigBytes, ptrPtr, sizePtr)
    },
  }
}
