/** Buffer hostcalls (ABI §2.5). @module */
import { BufferType, WasmResult } from '../../abi/enums.js'
import type { ContextBase, RootContext, StreamContext } from '../context.js'
import type { WasmVm } from '../vm.js'
import { refuse } from './refuse.js'
import { httpCallResponseBody } from './http-calls.js'
import { redisReplyBuffer } from './extensions/redis.js'
import { asStream, type Hostcall } from './util.js'

const EMPTY = Buffer.alloc(0)
/** Bytes each stream context added to its request / response body with `proxy_set_buffer_bytes`. */
const added = new WeakMap<StreamContext, [request: number, response: number]>()

/** Reads buffer `type` for `ctx`; `null` → NotFound, `undefined` → BadArgument. @internal */
export function readableBuffer(vm: WasmVm, ctx: ContextBase | undefined, type: number): Buffer | null | undefined {
  const s = asStream(ctx)
  switch (type) {
    case BufferType.HttpRequestBody:
      // Outside body callbacks Envoy answers Ok with 0 bytes, not NotFound.
      return s?.requestBody ?? EMPTY
    case BufferType.HttpResponseBody:
      return s?.responseBody ?? EMPTY
    case BufferType.VmConfiguration:
      return vm.plugin.vmConfigBytes
    case BufferType.PluginConfiguration:
      return (ctx?.root as RootContext | undefined)?.inConfigure ? vm.plugin.pluginConfigBytes : null
    case BufferType.HttpCallResponseBody:
      return httpCallResponseBody(ctx?.root as RootContext | undefined)
    case BufferType.DownstreamData:
    case BufferType.UpstreamData:
    case BufferType.GrpcReceiveBuffer:
    case BufferType.CallData:
      return null
    case BufferType.RedisCallResponse:
      // Higress: the raw RESP reply, only inside proxy_on_redis_call_response (§2.5).
      return redisReplyBuffer(ctx)
    default:
      return undefined
  }
}

/** @internal */
export function buffersHostcalls(vm: WasmVm): Record<string, Hostcall> {
  return {
    proxy_get_buffer_bytes: (type: number, start: number, max: number, ptrPtr: number, sizePtr: number) => {
      const buf = readableBuffer(vm, vm.effective, type >>> 0)
      if (buf === undefined) return WasmResult.BadArgument
      if (buf === null) return WasmResult.NotFound
      // Go passes max 0x7fffffff, Rust usize::MAX (-1 here): read both as unsigned.
      const s = start >>> 0
      const end = Math.min(buf.byteLength, s + (max >>> 0))
      return vm.copyOut(s >= end ? EMPTY : buf.subarray(s, end), ptrPtr, sizePtr)
    },
    proxy_get_buffer_status: (type: number, sizePtr: number, flagsPtr: number) => {
      const buf = readableBuffer(vm, vm.effective, type >>> 0)
      if (buf === undefined) return WasmResult.BadArgument
      if (buf === null) return WasmResult.NotFound
      if (!vm.memory.setU32(sizePtr, buf.byteLength) || !vm.memory.setU32(flagsPtr, 0)) return WasmResult.InvalidMemoryAccess
      return WasmResult.Ok
    },
    proxy_set_buffer_bytes: (type: number, start: number, size: number, ptr: number, len: number) => {
      type >>>= 0
      if (type > BufferType.RedisCallResponse) return WasmResult.BadArgument
      const data = vm.memory.copy(ptr, len)
      if (data === undefined) return WasmResult.InvalidMemoryAccess
      const s = asStream(vm.effective)
      if (type !== BufferType.HttpRequestBody && type !== BufferType.HttpResponseBody) return WasmResult.BadArgument
      if (!s) return WasmResult.NotFound
      const req = type === BufferType.HttpRequestBody
      const key = req ? 'requestBody' : 'responseBody'
      const cur = s[key] ?? EMPTY
      start >>>= 0
      size >>>= 0
      // Envoy: start 0 → drop `size` bytes and prepend; start ≥ length → append; no edits in the middle.
      if (start !== 0 && start < cur.byteLength) return WasmResult.BadArgument
      const length = start === 0 ? data.byteLength + Math.max(0, cur.byteLength - size) : cur.byteLength + data.byteLength
      // The buffer limit holds for what plugins add too: per body and over the whole stream.
      const limit = req ? s.http.decoderBufferLimit : s.http.encoderBufferLimit
      const grown = added.get(s) ?? [0, 0]
      const total = grown[req ? 0 : 1] + Math.max(0, length - cur.byteLength)
      if (length > limit || total > limit) {
        return refuse(vm, 'proxy_set_buffer_bytes', `the ${req ? 'request' : 'response'} body would grow to ${length} bytes (${total} added by this plugin in this stream), over the buffer limit of ${limit} bytes; the body is left unchanged`)
      }
      grown[req ? 0 : 1] = total
      added.set(s, grown)
      s[key] = start === 0 ? Buffer.concat([data, cur.subarray(Math.min(size, cur.byteLength))]) : Buffer.concat([cur, data])
      return WasmResult.Ok
    },
  }
}
