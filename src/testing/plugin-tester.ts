/** `createPluginTester`: one plugin, its real `.wasm`, with fakes around it. @module */
import { isProxyWasmHostError, ProxyWasmHostError } from '../errors.js'
import type { PluginOptions, WasmSource } from '../host/host.js'
import type { Plugin } from '../host/plugin.js'
import { PluginPipeline } from '../pipeline/pipeline.js'
import { BaseTester } from './base-tester.js'
import { Harness, type TesterOptions } from './harness.js'
import { formatLogLine } from './logs.js'
import { StreamTester, type StreamOptions } from './stream.js'

/** Options of {@link createPluginTester}: the plugin's settings and the tester's. */
export interface PluginTesterOptions
  extends TesterOptions,
    Pick<PluginOptions, 'config' | 'vmConfig' | 'properties' | 'rootId' | 'vmId' | 'name' | 'env' | 'args' | 'failStrategy' | 'phase' | 'priority' | 'rebuildAfterRequests' | 'rebuildMaxMemoryBytes' | 'sha256'> {}

/**
 * One plugin loaded from its real binary, with a fake outside world: recorded callouts and Redis
 * calls, captured logs, and (with `clock: 'fake'`) a clock the test moves.
 *
 * @example
 * ```ts
 * const t = await createPluginTester('./main.wasm', { clock: 'fake' })
 * const pending = t.request({ path: '/' })
 * await t.tick(t.tickPeriodMs)
 * ```
 */
export class PluginTester extends BaseTester {
  /** The loaded plugin. */
  readonly plugin: Plugin
  /** A pipeline of this one plugin. */
  readonly pipeline: PluginPipeline
  readonly #streams = new Set<StreamTester>()

  /** @internal use {@link createPluginTester}. */
  constructor(harness: Harness, plugin: Plugin) {
    super(harness)
    this.plugin = plugin
    this.pipeline = new PluginPipeline(harness.host, { plugins: [plugin], pauseTimeoutMs: harness.pauseTimeoutMs })
    harness.onClose(() => {
      for (const s of this.#streams) s.done()
    })
  }

  /** @internal */
  protected override get defaultVmId(): string {
    return this.plugin.vmId
  }

  /** The tick period the plugin set (`proxy_set_tick_period_milliseconds`), 0 for none. */
  get tickPeriodMs(): number {
    return this.plugin.tickPeriodMs
  }

  /**
   * A new stream context, driven one callback at a time with exact inputs.
   * @param options - route, cluster, addresses and properties the stream reads
   * @returns the {@link StreamTester}
   * @throws `PWH_ERR_PLUGIN_FAILED` when the plugin's VM failed and cannot serve;
   * `PWH_ERR_TESTING_CLOSED` after {@link BaseTester.close}
   * @example
   * ```ts
   * const s = t.stream()
   * expect(await s.requestHeaders([[':authority', 'a.com'], [':path', '/']])).toBe('Continue')
   * s.done()
   * ```
   */
  stream(options: StreamOptions = {}): StreamTester {
    this.harness.check('stream()')
    const s = new StreamTester(this.plugin, this.harness.clock, options)
    this.#streams.add(s)
    return s
  }
}

/**
 * Loads a plugin's real `.wasm` (Go, Rust, C++, AssemblyScript, WAT) into a host whose outside
 * world is fake, for unit tests under any test runner (vitest, node:test, jest).
 * @param wasm - path, URL or bytes of the plugin binary
 * @param options - plugin configuration, VM configuration, properties, ids, rebuild settings; clock,
 * log level, known upstreams; host limits and `strictHostcalls`
 * @returns the started tester; call `close()` after the test
 * @throws every code of `WasmPluginHost.load` (e.g. `PWH_ERR_PLUGIN_CONFIGURE_FAILED`), with the
 * plugin's log lines appended to the message
 * @example
 * ```ts
 * import { createPluginTester } from 'proxy-wasm-host/testing'
 * const t = await createPluginTester('./main.wasm', { config: { mockEnable: true } })
 * const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
 * r.localResponse?.status // 200
 * t.close()
 * ```
 */
export async function createPluginTester(wasm: WasmSource, options: PluginTesterOptions = {}): Promise<PluginTester> {
  const harness = new Harness(options)
  const load: PluginOptions = { wasm }
  for (const k of ['config', 'vmConfig', 'properties', 'rootId', 'vmId', 'name', 'env', 'args', 'failStrategy', 'phase', 'priority', 'rebuildAfterRequests', 'rebuildMaxMemoryBytes', 'sha256'] as const) {
    if (options[k] !== undefined) (load as unknown as Record<string, unknown>)[k] = options[k]
  }
  try {
    return new PluginTester(harness, await harness.host.load(load))
  } catch (err) {
    harness.close()
    throw withLogs(err, harness)
  }
}

/** The error with the plugin's log lines appended, so that a failed start says why. @internal */
export function withLogs(err: unknown, harness: Harness): unknown {
  if (!isProxyWasmHostError(err) || harness.logs.length === 0) return err
  const text = harness.logs.map(formatLogLine).join('\n')
  return new ProxyWasmHostError(err.code, `${err.message}\nplugin logs:\n${text}`, { cause: err })
}
