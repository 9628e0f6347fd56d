/**
 * Metric hostcalls (ABI §2.12) with Envoy's ids and rules: ids per VM with the type in the low two
 * bits (counters 4, 8 …; gauges 5, 9 …; histograms 6, 10 …), one stat per name, and the Java
 * host's `proxy_remove_metric`.
 * @module
 */
import { WasmResult } from '../../abi/enums.js'
import { MetricType, type MetricEntry } from '../../state/metrics.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

const toNumber = (v: bigint | number) => Number(BigInt.asUintN(64, BigInt(v)))

/** @internal */
export function metricsHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  const ids = new Map<number, MetricEntry>()
  const next = [0, 0, 0]
  const metrics = () => vm.plugin.services.metrics!
  return {
    proxy_define_metric: (type: number, np: number, nl: number, idPtr: number) => {
      type >>>= 0
      if (type > MetricType.Histogram) return WasmResult.BadArgument
      const name = mem.utf8(np, nl)
      if (name === undefined || !mem.inBounds(idPtr, 4)) return WasmResult.InvalidMemoryAccess
      const id = (++next[type]! * 4 + type) >>> 0
      ids.set(id, metrics().define(type as MetricType, name))
      mem.setU32(idPtr, id)
      return WasmResult.Ok
    },
    proxy_increment_metric: (id: number, delta: bigint) => {
      id >>>= 0
      const type = id & 3
      if (type !== MetricType.Counter && type !== MetricType.Gauge) return WasmResult.BadArgument
      const e = ids.get(id)
      if (!e) return WasmResult.NotFound
      const d = Number(BigInt.asIntN(64, BigInt(delta)))
      // Envoy: a counter only goes up, and an increment of 0 is refused too.
      if (type === MetricType.Counter && d <= 0) return WasmResult.BadArgument
      metrics().add(e, d)
      return WasmResult.Ok
    },
    proxy_record_metric: (id: number, value: bigint) => {
      const e = ids.get(id >>> 0)
      if (!e) return WasmResult.NotFound
      metrics().record(e, toNumber(value))
      return WasmResult.Ok
    },
    proxy_get_metric: (id: number, resultPtr: number) => {
      id >>>= 0
      const type = id & 3
      if (type !== MetricType.Counter && type !== MetricType.Gauge) return WasmResult.BadArgument
      const e = ids.get(id)
      if (!e) return WasmResult.NotFound
      // u64; a gauge below zero reads back wrapped, as Envoy's uint64 gauges do.
      if (!mem.setU64(resultPtr, BigInt(Math.trunc(e.value)))) return WasmResult.InvalidMemoryAccess
      return WasmResult.Ok
    },
    proxy_remove_metric: (id: number) => {
      const e = ids.get(id >>> 0)
      if (!e) return WasmResult.NotFound
      ids.delete(id >>> 0)
      metrics().release(e)
      return WasmResult.Ok
    },
  }
}
