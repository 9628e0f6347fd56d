/**
 * Metric hostcalls (ABI §2.12) with Envoy's ids and rules: ids per VM with the type in the low two
 * bits (counters 4, 8 …; gauges 5, 9 …; histograms 6, 10 …), one stat per name, and the Java
 * host's `proxy_remove_metric`.
 * @module
 */
import { WasmResult } from '../../abi/enums.js'
import { METRIC_NAME_MAX_BYTES } from '../../abi/limits.js'
import { MetricType, nullMetric, type MetricEntry } from '../../state/metrics.js'
import { warnOnce, warnStateLimit } from '../state-limits.js'
import type { WasmVm } from '../vm.js'
import type { Hostcall } from './util.js'

const toNumber = (v: bigint | number) => Number(BigInt.asUintN(64, BigInt(v)))

/** @internal */
export function metricsHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  const ids = new Map<number, MetricEntry>()
  const next = [0, 0, 0]
  const metrics = () => vm.plugin.services.metrics!
  /** The first id this VM got for each `type:name`, and its one null-stat id per type (past the caps). */
  const firstIds = new Map<string, number>()
  const nullIds: Array<number | undefined> = [undefined, undefined, undefined]
  const newId = (type: MetricType, e: MetricEntry) => {
    const id = (++next[type]! * 4 + type) >>> 0
    ids.set(id, e)
    return id
  }
  /** Past a cap: the id this VM has for the name, else its stat of that type that counts nothing. */
  const capped = (type: MetricType, name: string | undefined) => {
    const known = name === undefined ? undefined : firstIds.get(`${type}:${name}`)
    return known ?? (nullIds[type] ??= newId(type, nullMetric(type, name ?? '')))
  }
  return {
    proxy_define_metric: (type: number, np: number, nl: number, idPtr: number) => {
      type >>>= 0
      if (type > MetricType.Histogram) return WasmResult.BadArgument
      if (!mem.inBounds(np, nl) || !mem.inBounds(idPtr, 4)) return WasmResult.InvalidMemoryAccess
      // Every answer but Ok makes the Go and Rust SDKs panic: past a cap the plugin gets Ok and a
      // stat that counts nothing and is not exported, as Envoy hands out null stats past its stats
      // matcher. The VM's own ids are capped too (a new id per define, even of a known name).
      const t = type as MetricType
      const plugin = vm.plugin
      const limits = plugin.services.limits
      const max = limits?.maxMetrics ?? 0
      let id: number
      if ((nl >>> 0) > METRIC_NAME_MAX_BYTES) {
        warnOnce(plugin, 'metric-name', `a metric name of ${nl >>> 0} bytes is longer than ${METRIC_NAME_MAX_BYTES}: proxy_define_metric answers Ok with a stat that counts nothing and is not exported`, vm.effective?.id ?? 0)
        id = capped(t, undefined)
      } else {
        const name = mem.utf8(np, nl)!
        const e = max > 0 && ids.size >= max ? undefined : metrics().define(t, name, max)
        if (e) {
          id = newId(t, e)
          if (!firstIds.has(`${t}:${name}`)) firstIds.set(`${t}:${name}`, id)
        } else {
          if (limits) warnStateLimit(plugin, limits, 'maxMetrics', `for the host's metrics: proxy_define_metric answers Ok with a stat that counts nothing and is not exported for ${JSON.stringify(name)} and later new names`, vm.effective?.id ?? 0)
          id = capped(t, name)
        }
      }
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
      // Forget the id where the caps would hand it out again.
      if (e.dropped) nullIds[e.type] = undefined
      else if (firstIds.get(`${e.type}:${e.name}`) === id >>> 0) firstIds.delete(`${e.type}:${e.name}`)
      metrics().release(e)
      return WasmResult.Ok
    },
  }
}
