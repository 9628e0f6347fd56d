/** Buffer hostcalls (ABI §2.5). @module */
import { BufferType, WasmResult } from '../../abi/enums.js'
import type { ContextBase, RootContext } from '../context.js'
import type { WasmVm } from '../vm.js'
import { httpCallResponseBody } from './http-calls.js'
import { redisReplyBuffer } from './extensions/redis.js'
import { asStream, type Hostcall } from './util.js'

const EMPTY = Buffer.alloc(0)

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
      const key = type === BufferType.HttpRequestBody ? 'requestBody' : 'responseBody'
      const cur = s[key] ?? EMPTY
      start >>>= 0
      size >>>= 0
      // Envoy: start 0 → drop `size` bytes and prepend; start ≥ length → append; no edits in the middle.
      if (start === 0) s[key] = Buffer.concat([data, cur.subarray(Math.min(size, cur.byteLength))])
      else if (start >= cur.byteLength) s[key] = Buffer.concat([cur, data])
      else return WasmResult.BadArgument
      return WasmResult.Ok
    },
  }
}
