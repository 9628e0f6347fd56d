/** `createPipelineTester`: a whole gateway configuration, in gateway order, with fakes around it. @module */
import type { Plugin } from '../host/plugin.js'
import { loadDeclaration, readPipelineConfig, type ConfigLoadOptions } from '../pipeline/config.js'
import { PluginPipeline, type PlanQuery } from '../pipeline/pipeline.js'
import { BaseTester } from './base-tester.js'
import { Harness, type TesterOptions } from './harness.js'
import { withLogs } from './plugin-tester.js'

/** Options of {@link createPipelineTester}. */
export interface PipelineTesterOptions extends TesterOptions, Omit<ConfigLoadOptions, 'pauseTimeoutMs'> {}

/**
 * The plugins of a declarative configuration (Higress/Istio `WasmPlugin` resources, Kong
 * `filter_chains`, or a pipeline file), loaded from their real binaries and run in gateway order
 * (phase, priority; match rules delivered as Higress does), with the same fakes as
 * {@link PluginTester}.
 *
 * @example
 * ```ts
 * const t = await createPipelineTester('gateway.yaml')
 * t.plan({ route: 'api' }) // ['auth', 'stamp']
 * ```
 */
export class PipelineTester extends BaseTester {
  /** The pipeline built from the configuration. */
  readonly pipeline: PluginPipeline

  /** @internal use {@link createPipelineTester}. */
  constructor(harness: Harness, pipeline: PluginPipeline) {
    super(harness)
    this.pipeline = pipeline
  }

  /** Every loaded plugin, in request order (Kong chains: those outside chains). */
  get plugins(): Plugin[] {
    return this.pipeline.plan()
  }

  /**
   * Names of the plugins planned for a request, in request order (Kong: service chain, then route chain).
   * @param query - route, service and host
   * @returns plugin names
   */
  plan(query: PlanQuery = {}): string[] {
    return this.pipeline.plan(query).map((p) => p.name)
  }
}

/**
 * Loads a whole configuration for tests: the same shapes `PluginPipeline.fromConfig` reads.
 * @param config - a YAML/JSON file path, or the parsed object
 * @param options - clock, log level, known upstreams, limits (over the file's `limits:`); base
 * directory, Kong filters directory, schemas
 * @returns the started tester; call `close()` after the test
 * @throws `PWH_ERR_CONFIG_FILE`, `PWH_ERR_CONFIG_INVALID`, `PWH_ERR_CONFIG_SCHEMA` and every code
 * of `WasmPluginHost.load`, with the plugins' log lines appended
 * @example
 * ```ts
 * const t = await createPipelineTester('gateway.yaml')
 * const r = await t.request({ path: '/', headers: { host: 'example.com' }, route: 'api' })
 * ```
 */
export async function createPipelineTester(config: string | object, options: PipelineTesterOptions = {}): Promise<PipelineTester> {
  const load: ConfigLoadOptions = {}
  for (const k of ['baseDir', 'filtersDir', 'schemas', 'responseOrder', 'allowHeaderStopIteration'] as const) {
    if (options[k] !== undefined) (load as Record<string, unknown>)[k] = options[k]
  }
  if (options.pauseTimeoutMs !== undefined) load.pauseTimeoutMs = options.pauseTimeoutMs
  const decl = await readPipelineConfig(config, load)
  // The file's limits make the host, as serve --config makes it; the test's own win.
  const fileLimits = decl.host?.limits
  const harness = new Harness(fileLimits ? { ...options, limits: { ...fileLimits, ...options.limits } } : options)
  try {
    const pipeline = new PluginPipeline(harness.host, await loadDeclaration(harness.host, decl, config, load))
    harness.onClose(() => pipeline.close())
    return new PipelineTester(harness, pipeline)
  } catch (err) {
    harness.close()
    throw withLogs(err, harness)
  }
}
