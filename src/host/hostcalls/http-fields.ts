/** Header map hostcalls (ABI §2.6). @module */
import { MapType, WasmResult } from '../../abi/enums.js'
import { decodePairs } from '../../abi/pairs.js'
import { HeaderMap } from '../header-map.js'
import type { ContextBase } from '../context.js'
import type { GuestMemory } from '../../abi/memory.js'
import type { WasmVm } from '../vm.js'
import { BAD_FIELD, fieldProblem, fieldText } from './field-check.js'
import { refuse, shown } from './refuse.js'
import { asStream, type Hostcall } from './util.js'

interface MapRef {
  map: HeaderMap | undefined
  writable: boolean
  create?: () => HeaderMap
}

/** The map `type` for `ctx`, or `undefined` when `type` is out of range. @internal */
export function headerMap(ctx: ContextBase | undefined, type: number): MapRef | undefined {
  if (type > MapType.HttpCallResponseTrailers) return undefined
  const s = asStream(ctx)
  if (!s) return { map: ctx?.plugin.calloutMap(ctx, type), writable: false }
  const h = s.http
  switch (type) {
    case MapType.HttpRequestHeaders:
      return { map: h.requestHeaders, writable: !h.requestHeadersSent }
    case MapType.HttpRequestTrailers:
      // Trailers can be created from the last body callback when the request had none.
      return { map: h.requestTrailers, writable: !h.requestTrailersSent, create: () => (h.requestTrailers = new HeaderMap()) }
    case MapType.HttpResponseHeaders:
      return { map: h.responseHeaders, writable: h.responseHeaders !== undefined && !h.responseHeadersSent }
    case MapType.HttpResponseTrailers:
      return { map: h.responseTrailers, writable: h.responseHeaders !== undefined && !h.responseTrailersSent, create: () => (h.responseTrailers = new HeaderMap()) }
    default:
      return { map: s.plugin.calloutMap(s, type), writable: false }
  }
}

/** The map `type` for reading (no allocation on the hot path); `null` when out of range. */
function readMap(ctx: ContextBase | undefined, type: number): HeaderMap | undefined | null {
  if (type > MapType.HttpCallResponseTrailers) return null
  const s = asStream(ctx)
  if (s) {
    const h = s.http
    if (type === MapType.HttpRequestHeaders) return h.requestHeaders
    if (type === MapType.HttpResponseHeaders) return h.responseHeaders
    if (type === MapType.HttpRequestTrailers) return h.requestTrailers
    if (type === MapType.HttpResponseTrailers) return h.responseTrailers
  }
  return ctx?.plugin.calloutMap(ctx, type)
}

const NO_ENTRIES: readonly string[] = []

/** @internal */
export function httpFieldsHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  const writableMap = (type: number): HeaderMap | WasmResult => {
    const ref = headerMap(vm.effective, type >>> 0)
    if (!ref || !ref.writable) return WasmResult.BadArgument
    const map = ref.map ?? ref.create?.()
    return map ?? WasmResult.BadArgument
  }
  return {
    proxy_get_header_map_value: (type: number, kp: number, kl: number, ptrPtr: number, sizePtr: number) => {
      const key = mem.latin1(kp, kl)
      if (key === undefined) return WasmResult.InvalidMemoryAccess
      const map = readMap(vm.effective, type >>> 0)
      if (!map) return WasmResult.BadArgument
      const v = map.get(key)
      if (v === undefined) {
        // ABI 0.1.0 answers Ok with an empty value (§1.2).
        if (vm.plugin.abi === '0.1.0') return vm.copyOut('', ptrPtr, sizePtr)
        return WasmResult.NotFound
      }
      return vm.copyOutLatin1(v, ptrPtr, sizePtr)
    },
    proxy_get_header_map_pairs: (type: number, ptrPtr: number, sizePtr: number) => {
      const map = readMap(vm.effective, type >>> 0)
      if (map === null) return WasmResult.BadArgument
      return vm.copyFlatPairsOut(map?.kv ?? NO_ENTRIES, ptrPtr, sizePtr)
    },
    proxy_set_header_map_pairs: (type: number, ptr: number, size: number) => {
      const bytes = mem.view(ptr, size)
      if (bytes === undefined) return WasmResult.InvalidMemoryAccess
      const map = writableMap(type)
      if (typeof map === 'number') return map
      // A malformed buffer decodes to an empty list in cpp-host: the map is cleared.
      const pairs = decodePairs(bytes) ?? []
      for (const [k, v] of pairs) {
        const problem = fieldProblem(k, v)
        if (problem) return refuse(vm, 'proxy_set_header_map_pairs', `header ${shown(k)}: ${shown(v)}: ${problem}; the map is left unchanged`)
      }
      map.pairs = pairs.map(([k, v]) => [k.toLowerCase(), v])
      map.version++
      return WasmResult.Ok
    },
    proxy_add_header_map_value: (type: number, kp: number, kl: number, vp: number, vl: number) => {
      const key = fieldText(mem, kp, kl, true)
      const value = fieldText(mem, vp, vl, false)
      if (key === undefined || value === undefined) return WasmResult.InvalidMemoryAccess
      if (key === BAD_FIELD || value === BAD_FIELD) return badField(vm, 'proxy_add_header_map_value', mem, kp, kl, vp, vl)
      const map = writableMap(type)
      if (typeof map === 'number') return map
      map.add(key, value)
      return WasmResult.Ok
    },
    proxy_replace_header_map_value: (type: number, kp: number, kl: number, vp: number, vl: number) => {
      const key = fieldText(mem, kp, kl, true)
      const value = fieldText(mem, vp, vl, false)
      if (key === undefined || value === undefined) return WasmResult.InvalidMemoryAccess
      if (key === BAD_FIELD || value === BAD_FIELD) return badField(vm, 'proxy_replace_header_map_value', mem, kp, kl, vp, vl)
      const map = writableMap(type)
      if (typeof map === 'number') return map
      map.set(key, value)
      return WasmResult.Ok
    },
    proxy_remove_header_map_value: (type: number, kp: number, kl: number) => {
      const key = mem.latin1(kp, kl)
      if (key === undefined) return WasmResult.InvalidMemoryAccess
      const map = writableMap(type)
      if (typeof map === 'number') return map
      map.delete(key)
      return WasmResult.Ok
    },
    // Envoy answers the map's byte size (sum of key and value lengths), not the serialized size.
    proxy_get_header_map_size: (type: number, sizePtr: number) => {
      const ref = headerMap(vm.effective, type >>> 0)
      if (!ref?.map) return WasmResult.BadArgument
      let n = 0
      const kv = ref.map.kv
      for (let i = 0; i < kv.length; i++) n += kv[i]!.length
      return mem.setU32(sizePtr, n) ? WasmResult.Ok : WasmResult.InvalidMemoryAccess
    },
  }
}

/** Refuses a name or value that may not be written, showing both as the guest gave them. */
function badField(vm: WasmVm, hostcall: string, mem: GuestMemory, kp: number, kl: number, vp: number, vl: number): WasmResult {
  const k = mem.latin1(kp, kl)!
  const v = mem.latin1(vp, vl)!
  return refuse(vm, hostcall, `header ${shown(k)}: ${shown(v)}: ${fieldProblem(k, v) ?? 'the name is not an HTTP token'}; the map is left unchanged`)
}
