/**
 * What a test reads of the host's own state: plugin metrics (by the name the plugin defined, from
 * the host's stats; and as prom-client exports them) and shared data (the tester's in-memory store).
 * @module
 */
import type { WasmPluginHost } from '../host/host.js'
import type { SharedDataStore } from '../host/services.js'
import { MetricType, prometheusName } from '../state/metrics.js'

/** A histogram as a test reads it. */
export interface TestHistogram {
  /** Number of samples recorded. */
  count: number
  /** Sum of the samples. */
  sum: number
}

/**
 * The plugins' metrics (`proxy_define_metric` …), read by the name the plugin defined. `get` and
 * `histogram` read the host's stats synchronously, names Envoy does not export included; `exported`
 * and `text` read what the host's prom-client registry (`host.metricsRegistry`) exports, under the
 * names Envoy's Prometheus endpoint shows.
 *
 * @example
 * ```ts
 * await t.request({ path: '/' })
 * expect(t.metrics.get('demo.requests_total')).toBe(1)
 * ```
 */
export class TestMetrics {
  readonly #host: WasmPluginHost

  /** @internal */
  constructor(host: WasmPluginHost) {
    this.#host = host
  }

  /**
   * The value of a counter or gauge (for a histogram: its number of samples), read synchronously
   * from the host's stats, whether Envoy would export the name or not.
   * @param name - the name the plugin defined, e.g. `demo.requests_total` (or `9lives`)
   * @returns the value, or `undefined` when no plugin defined it (or it got a null stat past
   * `limits.maxMetrics`)
   * @example
   * ```ts
   * expect(t.metrics.get('demo.requests_total')).toBe(3)
   * ```
   */
  get(name: string): number | undefined {
    const e = this.#host.pluginMetrics.find(name)
    if (!e) return undefined
    return e.type === MetricType.Histogram ? e.count : e.value
  }

  /**
   * A histogram's sample count and sum, read synchronously from the host's stats.
   * @param name - the name the plugin defined
   * @returns count and sum, or `undefined` when there is no such histogram
   * @example
   * ```ts
   * expect(t.metrics.histogram('demo.latency_ms')).toEqual({ count: 2, sum: 10 })
   * ```
   */
  histogram(name: string): TestHistogram | undefined {
    const e = this.#host.pluginMetrics.find(name, MetricType.Histogram)
    return e && { count: e.count, sum: e.sum }
  }

  /**
   * The value as prom-client exports it (a histogram: its sample count), through the host's registry.
   * @param name - the name the plugin defined
   * @returns the exported value, or `undefined` when it is not exported (no plugin defined it, or
   * Envoy would not show the name: empty, or starting with a digit)
   * @example
   * ```ts
   * expect(await t.metrics.exported('9lives')).toBeUndefined()
   * ```
   */
  async exported(name: string): Promise<number | undefined> {
    const m = await this.#read(name)
    if (!m) return undefined
    if (m.type === 'histogram') return m.values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0
    return m.values[0]?.value ?? 0
  }

  /**
   * Every plugin metric in the Prometheus text format, as `/metrics` would serve it.
   * @returns the text
   */
  text(): Promise<string> {
    return this.#host.metricsRegistry.metrics()
  }

  async #read(name: string) {
    const pname = prometheusName(name)
    if (!pname) return undefined
    const metric = this.#host.metricsRegistry.getSingleMetric(pname)
    if (!metric) return undefined
    const m = await metric.get()
    return { type: String(m.type), values: m.values as Array<{ value: number; metricName?: string }> }
  }
}

/** A shared-data entry as a test reads it. */
export interface TestSharedDataEntry {
  /** The bytes. */
  value: Buffer
  /** The bytes as UTF-8 text. */
  text: string
  /** The CAS the plugin would get. */
  cas: number
}

/**
 * Shared data (`proxy_get/set_shared_data`) of the tester's host, per `vm_id`.
 *
 * @example
 * ```ts
 * t.sharedData.set('hits', '41')
 * await t.request({ path: '/' })
 * t.sharedData.get('hits')?.text // what the plugin wrote
 * ```
 */
export class TestSharedData {
  readonly #store: SharedDataStore
  readonly #vmId: string

  /** @internal */
  constructor(store: SharedDataStore, vmId: string) {
    this.#store = store
    this.#vmId = vmId
  }

  /**
   * Reads a key.
   * @param key - the key
   * @param vmId - the VM id whose store to read (default: the plugin's)
   * @returns value, text and CAS, or `undefined` when the key does not exist
   */
  get(key: string, vmId = this.#vmId): TestSharedDataEntry | undefined {
    const e = this.#store.get(vmId, key)
    return e && { value: e.value, text: e.value.toString('utf8'), cas: e.cas }
  }

  /**
   * Writes a key unconditionally (a new CAS), e.g. to seed state before a request.
   * @param key - the key
   * @param value - text or bytes
   * @param vmId - the VM id whose store to write (default: the plugin's)
   */
  set(key: string, value: string | Uint8Array, vmId = this.#vmId): void {
    this.#store.set(vmId, key, Buffer.from(typeof value === 'string' ? Buffer.from(value) : value), 0)
  }
}
