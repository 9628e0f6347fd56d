/**
 * Plugin metrics (ABI §2.12) kept as Envoy keeps them — one stat per name, shared by every VM that
 * defines it — and exported through a prom-client registry under the names Envoy's Prometheus
 * endpoint shows. prom-client is loaded the first time a plugin defines a metric or the registry
 * is read.
 * @module
 */
import type { Registry, Counter, Gauge, Histogram } from 'prom-client'
import { requireModule } from './require.js'

/** Metric types (ABI §4.7). */
export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2 } as const
/** A {@link MetricType} value. */
export type MetricType = (typeof MetricType)[keyof typeof MetricType]

/**
 * Envoy's default histogram buckets (`HistogramSettingsImpl::defaultBuckets`), so that
 * `_bucket{le=…}` lines match what Envoy prints.
 */
export const ENVOY_HISTOGRAM_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000]

/**
 * The Prometheus name Envoy shows for a plugin metric: Envoy stores it as `wasmcustom.<name>`, a
 * custom stat namespace that its Prometheus output strips (no `envoy_` prefix), then replaces every
 * character outside `[a-zA-Z0-9_]` with `_`; an empty name or one starting with a digit is not shown.
 * @param name - the name the plugin defined
 * @returns the exported name, or `undefined` when Envoy would not export it
 */
export function prometheusName(name: string): string | undefined {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_')
  return s === '' || /^[0-9]/.test(s) ? undefined : s
}

/** One stat. @internal */
export interface MetricEntry {
  readonly type: MetricType
  readonly name: string
  /** Counter / gauge value (gauges may go below 0; read back as u64 two's complement, as Envoy wraps). */
  value: number
  /** Histograms: number of samples recorded. */
  count: number
  /** Histograms: sum of the samples. */
  sum: number
  /** Number of ids (over all VMs) that refer to it; at 0 it leaves the registry. */
  refs: number
  prom: Counter | Gauge | Histogram | undefined
  /** A stat past `limits.maxMetrics`: it counts nothing and is not exported (Envoy's null stats). */
  readonly dropped?: true
}

/**
 * A stat that counts nothing and is not exported: what a metric defined past `limits.maxMetrics`
 * refers to, as Envoy hands out null stats for the names its stats matcher rejects.
 * @internal
 */
export function nullMetric(type: MetricType, name: string): MetricEntry {
  return { type, name, value: 0, count: 0, sum: 0, refs: 0, prom: undefined, dropped: true }
}

/** Options of {@link PluginMetrics}. @internal */
export interface PluginMetricsOptions {
  /** Registry to export into (default: a new one, created on first use). */
  registry?: Registry
  /** Histogram buckets (default {@link ENVOY_HISTOGRAM_BUCKETS}). */
  buckets?: number[]
  /** Told when a metric cannot be exported (a name clash, a name Envoy would not export). */
  warn?: (message: string) => void
}

const byRegistry = new WeakMap<Registry, PluginMetrics>()

/** Every metric of one host, or of every host given the same registry. @internal */
export class PluginMetrics {
  /**
   * The metrics of `registry`: hosts given the same registry share their stats (one stat per
   * name, as Envoy keeps it across plugin reloads), so a hot reload keeps counting.
   */
  static of(registry: Registry, options: Omit<PluginMetricsOptions, 'registry'> = {}): PluginMetrics {
    let m = byRegistry.get(registry)
    if (!m) byRegistry.set(registry, (m = new PluginMetrics({ ...options, registry })))
    return m
  }

  readonly #byName = new Map<string, MetricEntry>()
  readonly #byProm = new Map<string, MetricEntry>()
  readonly #options: PluginMetricsOptions
  #registry: Registry | undefined

  constructor(options: PluginMetricsOptions = {}) {
    this.#options = options
    this.#registry = options.registry
  }

  /** The prom-client registry (created, and prom-client loaded, on first use). */
  get registry(): Registry {
    if (!this.#registry) {
      const prom = requireModule('prom-client') as typeof import('prom-client')
      this.#registry = new prom.Registry()
    }
    return this.#registry
  }

  /**
   * Looks up or creates stat `name` of `type` (Envoy: the same name is the same stat).
   * @param maxStats - most stats kept (0: no cap)
   * @returns the stat, or `undefined` when it would be a new one past `maxStats`
   */
  define(type: MetricType, name: string, maxStats = 0): MetricEntry | undefined {
    const key = `${type}:${name}`
    let e = this.#byName.get(key)
    if (!e) {
      if (maxStats > 0 && this.#byName.size >= maxStats) return undefined
      e = { type, name, value: 0, count: 0, sum: 0, refs: 0, prom: undefined }
      this.#byName.set(key, e)
      e.prom = this.#export(e)
    }
    e.refs++
    return e
  }

  /**
   * The stat a plugin defined as `name`, whether or not it is exported, read synchronously.
   * @param type - the stat's type; by default a counter, else a gauge, else a histogram of that name
   * @returns the stat, or `undefined` when no plugin defined it (or it got a null stat past a cap)
   */
  find(name: string, type?: MetricType): MetricEntry | undefined {
    const m = this.#byName
    if (type !== undefined) return m.get(`${type}:${name}`)
    return m.get(`${MetricType.Counter}:${name}`) ?? m.get(`${MetricType.Gauge}:${name}`) ?? m.get(`${MetricType.Histogram}:${name}`)
  }

  #export(e: MetricEntry): MetricEntry['prom'] {
    const pname = prometheusName(e.name)
    if (!pname) {
      this.#options.warn?.(`metric ${JSON.stringify(e.name)} is not exported to Prometheus: Envoy shows no name that is empty or starts with a digit`)
      return undefined
    }
    if (this.#byProm.has(pname)) {
      this.#options.warn?.(`metric ${JSON.stringify(e.name)} is not exported to Prometheus: ${pname} is already exported for ${JSON.stringify(this.#byProm.get(pname)!.name)}`)
      return undefined
    }
    const registry = this.registry
    const prom = requireModule('prom-client') as typeof import('prom-client')
    const base = { name: pname, help: `wasmcustom.${e.name}`, registers: [registry] }
    let m
    try {
      m = e.type === MetricType.Counter ? new prom.Counter(base)
        : e.type === MetricType.Gauge ? new prom.Gauge(base)
          : new prom.Histogram({ ...base, buckets: this.#options.buckets ?? ENVOY_HISTOGRAM_BUCKETS })
    } catch (err) {
      // The registry already has that name (an embedder's own metric).
      this.#options.warn?.(`metric ${JSON.stringify(e.name)} is not exported to Prometheus: ${(err as Error).message}`)
      return undefined
    }
    this.#byProm.set(pname, e)
    return m
  }

  /** Adds `delta` to a counter (> 0) or a gauge. */
  add(e: MetricEntry, delta: number): void {
    if (e.dropped) return
    e.value += delta
    if (e.type === MetricType.Counter) (e.prom as Counter | undefined)?.inc(delta)
    else (e.prom as Gauge | undefined)?.set(e.value)
  }

  /** Counter: adds; gauge: sets; histogram: records a sample. */
  record(e: MetricEntry, value: number): void {
    if (e.dropped) return
    if (e.type === MetricType.Counter) this.add(e, value)
    else if (e.type === MetricType.Gauge) {
      e.value = value
      ;(e.prom as Gauge | undefined)?.set(value)
    } else {
      e.count++
      e.sum += value
      ;(e.prom as Histogram | undefined)?.observe(value)
    }
  }

  /** Drops one reference; the last one removes the stat and its Prometheus series. */
  release(e: MetricEntry): void {
    if (e.dropped || --e.refs > 0) return
    this.#byName.delete(`${e.type}:${e.name}`)
    const pname = prometheusName(e.name)
    if (e.prom && pname && this.#byProm.get(pname) === e) {
      this.#byProm.delete(pname)
      this.#registry?.removeSingleMetric(pname)
    }
  }
}
