/** Stream control hostcalls: continue, close, local response, status (ABI §2.7). @module */
import { StreamType, WasmResult } from '../../abi/enums.js'
import { decodePairs } from '../../abi/pairs.js'
import type { RootContext } from '../context.js'
import type { WasmVm } from '../vm.js'
import { asStream, type Hostcall } from './util.js'

/** @internal */
export function streamsHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  // Continue and close take effect after the current guest call returns (Envoy defers them).
  const resume = (type: number, close: boolean) => {
    type >>>= 0
    if (type > StreamType.Upstream) return WasmResult.BadArgument
    const s = asStream(vm.effective)
    if (!s) return WasmResult.NotFound
    if (type >= StreamType.Downstream) return WasmResult.Unimplemented
    if (close) s.closeRequested = true
    else if (type === StreamType.HttpRequest) s.continueRequest = true
    else s.continueResponse = true
    vm.touch(s)
    return WasmResult.Ok
  }
  return {
    proxy_continue_stream: (type: number) => resume(type, false),
    proxy_close_stream: (type: number) => resume(type, true),
    proxy_continue_request: () => resume(StreamType.HttpRequest, false),
    proxy_continue_response: () => resume(StreamType.HttpResponse, false),
    proxy_clear_route_cache: () => WasmResult.Ok,
    proxy_send_local_response: (status: number, dp: number, dl: number, bp: number, bl: number, hp: number, hl: number, grpc: number) => {
      const details = mem.utf8(dp, dl)
      const body = mem.copy(bp, bl)
      const headerBytes = mem.view(hp, hl)
      if (details === undefined || body === undefined || headerBytes === undefined) return WasmResult.InvalidMemoryAccess
      const s = asStream(vm.effective)
      // From a root context with no stream the call is ignored (Ok), as in Envoy.
      if (!s) return WasmResult.Ok
      s.localResponse = {
        status: status >>> 0,
        details: details.replace(/\s/g, '_'),
        body,
        headers: (decodePairs(headerBytes) ?? []).map(([k, v]) => [k.toLowerCase(), v]),
        grpcStatus: grpc | 0,
      }
      vm.touch(s)
      return WasmResult.Ok
    },
    proxy_get_status: (codePtr: number, msgPtrPtr: number, msgSizePtr: number) => {
      const root = vm.effective?.root as RootContext | undefined
      const st = root?.lastStatus ?? { code: 0, message: '' }
      if (!mem.setU32(codePtr, st.code)) return WasmResult.InvalidMemoryAccess
      return vm.copyOut(st.message, msgPtrPtr, msgSizePtr)
    },
  }
}
