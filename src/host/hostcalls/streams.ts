/** Stream control hostcalls: continue, close, local response, status (ABI §2.7). @module */
import { StreamType, WasmResult } from '../../abi/enums.js'
import { PAIRS_MAX_BYTES, PAIRS_MAX_COUNT } from '../../abi/limits.js'
import { decodePairs, type HeaderPair } from '../../abi/pairs.js'
import type { RootContext } from '../context.js'
import type { WasmVm } from '../vm.js'
import { fieldProblem } from './field-check.js'
import { note, refuse, shown } from './refuse.js'
import { asStream, type Hostcall } from './util.js'

/**
 * Headers of a local reply the host drops: it frames the reply itself (RFC 9110 §7.6.1, Envoy's
 * codec); `content-length` is replaced by the body's length, as Envoy does.
 */
const LOCAL_REPLY_DROPS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'])

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
      const hostcall = 'proxy_send_local_response'
      status >>>= 0
      // A final response status: 1xx are interim, others are not HTTP statuses (Node would throw).
      if (status < 200 || status > 599) return refuse(vm, hostcall, `status ${status} is not a final HTTP status (200–599); no local response`)
      const decoded = decodePairs(headerBytes)
      if (decoded === undefined) {
        const n = headerBytes.byteLength >= 4 ? new DataView(headerBytes.buffer, headerBytes.byteOffset, 4).getUint32(0, true) : 0
        return refuse(vm, hostcall, n > PAIRS_MAX_COUNT
          ? `${n} headers, more than ${PAIRS_MAX_COUNT}; no local response`
          : headerBytes.byteLength > PAIRS_MAX_BYTES ? `headers larger than ${PAIRS_MAX_BYTES} bytes; no local response` : 'the headers are not a valid pairs encoding; no local response')
      }
      const headers: HeaderPair[] = []
      for (const [k, v] of decoded) {
        const name = k.toLowerCase()
        const problem = fieldProblem(name, v)
        if (problem) return refuse(vm, hostcall, `header ${shown(k)}: ${shown(v)}: ${problem}; no local response`)
        // The host frames the reply itself (content-length); connection-level headers are not the plugin's.
        if (name.startsWith(':') || LOCAL_REPLY_DROPS.has(name)) note(vm, hostcall, `header ${shown(k)}: ${shown(v)} is ${name.startsWith(':') ? 'a pseudo-header' : 'a hop-by-hop or framing header'}; dropped (the host frames the reply)`)
        else headers.push([name, v])
      }
      s.localResponse = {
        status,
        details: details.replace(/\s/g, '_'),
        body,
        headers,
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
