/** Property hostcalls (ABI §2.13, §7, Higress §8.5). @module */
import { WasmResult } from '../../abi/enums.js'
import { getProperty } from '../properties.js'
import type { WasmVm } from '../vm.js'
import { asStream, type Hostcall } from './util.js'

/** @internal */
export function propertiesHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  return {
    proxy_get_property: (pp: number, pl: number, ptrPtr: number, sizePtr: number) => {
      const path = mem.utf8(pp, pl)
      if (path === undefined) return WasmResult.InvalidMemoryAccess
      const ctx = vm.effective
      if (!ctx) return WasmResult.NotFound
      const v = getProperty(ctx, path)
      return v === undefined ? WasmResult.NotFound : vm.copyOut(v, ptrPtr, sizePtr)
    },
    proxy_set_property: (pp: number, pl: number, vp: number, vl: number) => {
      const rawPath = mem.utf8(pp, pl)
      const value = mem.copy(vp, vl)
      if (rawPath === undefined || value === undefined) return WasmResult.InvalidMemoryAccess
      const s = asStream(vm.effective)
      if (!s) return WasmResult.NotFound
      const path = rawPath.endsWith('\0') ? rawPath.slice(0, -1) : rawPath
      const text = value.toString('utf8')
      const h = s.http
      switch (path) {
        case 'clear_route_cache':
          h.clearRouteCache = text !== 'off'
          return WasmResult.Ok
        case 'set_decoder_buffer_limit':
        case 'set_encoder_buffer_limit': {
          if (!/^\d+$/.test(text)) return WasmResult.BadArgument
          if (path === 'set_decoder_buffer_limit') h.decoderBufferLimit = Number(text)
          else h.encoderBufferLimit = Number(text)
          return WasmResult.Ok
        }
        case 'wasm_need_rebuild':
          if (text === 'true') vm.plugin.requestRebuild()
          return WasmResult.Ok
      }
      if (path.startsWith('trace_span_tag.')) {
        h.spanTags.set(path.slice('trace_span_tag.'.length), text)
        return WasmResult.Ok
      }
      // Envoy stores it in the stream's filter state; a single-segment get reads it back.
      h.filterState.set(path, value)
      return WasmResult.Ok
    },
  }
}
