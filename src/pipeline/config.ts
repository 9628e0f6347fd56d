/**
 * Declarative configuration: one loader for YAML or JSON in three shapes (our own pipeline file,
 * Higress/Istio `WasmPlugin` resources, Kong `filter_chains`), optional JSON Schema validation of
 * each plugin's configuration, and {@link higressConfig}, which builds the JSON a Higress plugin
 * receives from `defaultConfig` and `matchRules` (proxy-wasm-abi.md §8.1).
 *
 * Everything is checked before the first plugin is loaded, so a typo never leaves a half-started
 * gateway behind.
 * @module
 */
import { readFile } from 'node:fs/promises'
import { basename, dirname, extname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { Ajv2019 } from 'ajv/dist/2019.js'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { parseAllDocuments } from 'yaml'
import { LOG_LEVEL_NAMES, type LogLevelName } from '../abi/enums.js'
import { ProxyWasmHostError, isProxyWasmHostError } from '../errors.js'
import { normalizePhase, type PluginOptions, type WasmPluginHost } from '../host/host.js'
import type { FailStrategy, Plugin } from '../host/plugin.js'
import type { PropertiesInit, PropertyValue } from '../host/properties.js'
import type { FilterChain, PipelineOptions } from './pipeline.js'
import { resolverFromSpec, type ResolverSpec } from '../upstream/spec.js'
import { checkHostLimits, hostSection, HOST_SECTION_KEYS, notThisShape, pluginIsolation, PLUGIN_ISOLATION_KEYS, type DeclaredHostSettings } from './config-isolation.js'
import { urlEndpoints, type UpstreamMap } from '../upstream/upstreams.js'

/**
 * A Higress `WasmPlugin` match rule (`spec.matchRules[i]`): where a rule config applies.
 * @example
 * ```ts
 * const rule: MatchRule = { domain: ['*.example.com'], config: { name: 'domain-rule' } }
 * ```
 */
export interface MatchRule {
  /** Route (Ingress) names → `_match_route_` (Higress: `name`, or `namespace/name` outside its namespace). */
  ingress?: string[]
  /** Domains → `_match_domain_`; `*.example.com` matches by suffix, `www.*` by prefix. */
  domain?: string[]
  /** Services → `_match_service_`: `fqdn` or `fqdn:port`, matched against `cluster_name`. */
  service?: string[]
  /** Route-name prefixes → `_match_route_prefix_` (understood by wasm-go). */
  routePrefix?: string[]
  /** Same as `routePrefix`. */
  route_prefix?: string[]
  /** The rule's configuration (default `{}`). */
  config?: Record<string, unknown>
  /** `true` leaves the rule out, as Higress does. */
  configDisable?: boolean
}

/** Which of the three accepted shapes a configuration had: pipeline file, `WasmPlugin` resources, Kong `filter_chains`. */
export type ConfigShape = 'pipeline' | 'wasm-plugin' | 'kong'

/**
 * Options of {@link readPipelineConfig}, {@link loadPipelineConfig} and `PluginPipeline.fromConfig`.
 * @example
 * ```ts
 * await PluginPipeline.fromConfig(host, 'kong.yaml', { filtersDir: './filters', responseOrder: 'reverse' })
 * await PluginPipeline.fromConfig(host, 'plugins.yaml', { schemas: { 'key-auth': './key-auth.schema.json' } })
 * ```
 */
export interface ConfigLoadOptions {
  /** Directory that relative paths start from when the source is an object (default: the working directory). */
  baseDir?: string
  /**
   * Kong: the filters directory, where filter `name` is `<dir>/<name>.wasm` (relative to the working
   * directory). Overrides the file's `wasm_filters_path`.
   */
  filtersDir?: string
  /**
   * JSON Schemas by plugin name (a path relative to the configuration's directory, or a schema
   * object); the way to give a `WasmPlugin` resource a schema, and overrides a `schema` field.
   */
  schemas?: Record<string, string | Record<string, unknown>>
  /** Response order; overrides the file. Default `reverse`, or `forward` for Kong files. */
  responseOrder?: 'reverse' | 'forward'
  /** How long a paused stream may wait (ms); overrides the file. */
  pauseTimeoutMs?: number
  /** See `PipelineOptions.allowHeaderStopIteration`; overrides the file. */
  allowHeaderStopIteration?: boolean
}

/** One plugin instance a configuration declares, ready for `host.load()`. */
export interface DeclaredPlugin {
  /** Where it was declared, for messages, e.g. `plugin "auth"` or `filter_chains[0] "svc": filter "stamp" (filters[1])`. */
  label: string
  /** The options `WasmPluginHost.load` receives (wasm resolved to an absolute path, config built). */
  options: PluginOptions
}

/** A Kong filter chain as declared; filters point into {@link PipelineDeclaration.plugins}. */
export interface DeclaredChain {
  /** Chain name. */
  name?: string
  /** Whether the chain runs. */
  enabled: boolean
  /** Filters in order: an index into `plugins` and whether the entry runs. */
  filters: Array<{ plugin: number; enabled: boolean }>
}

/** A parsed, validated configuration, before any plugin is loaded. */
export interface PipelineDeclaration {
  /** The shape that was detected. */
  shape: ConfigShape
  /** The file as given (or `<object>`), for messages. */
  file: string
  /** Every plugin instance to load, in declaration order (disabled Kong filters included). */
  plugins: DeclaredPlugin[]
  /** Kong chains by service and route name (Kong shape only). */
  chains?: { services: Record<string, DeclaredChain>; routes: Record<string, DeclaredChain> }
  /** Pipeline settings: response order, pause timeout, header StopIteration. */
  settings: Pick<PipelineOptions, 'responseOrder' | 'pauseTimeoutMs' | 'allowHeaderStopIteration'>
  /** The pipeline file's `upstreams:` section: callout names → URLs (see `docs/upstreams.md`). */
  upstreams?: UpstreamMap
  /** The pipeline file's `resolvers:` section, as written (`{ type, ...options }`). */
  resolvers?: ResolverSpec[]
  /**
   * The pipeline file's host settings (`limits:`, `strictHostcalls:`). Create the host with them:
   * `new WasmPluginHost({ limits: decl.host?.limits })` (`serve --config` and `createPipelineTester` do).
   */
  host?: DeclaredHostSettings
}

type Obj = Record<string, unknown>

const OBJECT_LABEL = '<object>'
const API_VERSIONS = ['extensions.higress.io/v1alpha1', 'extensions.istio.io/v1alpha1']
const FAIL_STRATEGIES: readonly FailStrategy[] = ['FAIL_CLOSE', 'FAIL_OPEN', 'FAIL_RELOAD']
const SHAPES_HINT =
  'expected one of: a pipeline file ({ plugins: [{ name, wasm, config, ... }] }), ' +
  'Higress/Istio WasmPlugin resources (apiVersion: extensions.higress.io/v1alpha1 or extensions.istio.io/v1alpha1, kind: WasmPlugin), ' +
  'or a Kong file with filter_chains'
/** Fields of a pipeline file's plugin entry. @internal */
export const PLUGIN_KEYS = [
  'name', 'wasm', 'config', 'vmConfig', 'phase', 'priority', 'failStrategy', 'rootId', 'vmId', 'env', 'args',
  'properties', 'logLevel', 'schema', 'defaultConfig', 'defaultConfigDisable', 'matchRules', ...PLUGIN_ISOLATION_KEYS,
]
/** Top-level fields of a pipeline file. @internal */
export const PIPELINE_KEYS = ['plugins', 'responseOrder', 'pauseTimeoutMs', 'allowHeaderStopIteration', 'upstreams', 'resolvers', ...HOST_SECTION_KEYS]
const RULE_KEYS = ['ingress', 'domain', 'service', 'routePrefix', 'route_prefix', 'config', 'configDisable']
const SPEC_KEYS = [
  'url', 'phase', 'priority', 'defaultConfig', 'defaultConfigDisable', 'matchRules', 'failStrategy', 'pluginConfig',
  'vmConfig', 'pluginName',
  // Meaningful to a gateway only (image pulling, workload selection): accepted and ignored.
  'sha256', 'imagePullPolicy', 'imagePullSecret', 'verificationKey', 'selector', 'targetRef', 'targetRefs', 'match', 'type',
]
const CHAIN_KEYS = ['name', 'enabled', 'service', 'route', 'filters', 'id', 'tags', 'created_at', 'updated_at']
const FILTER_KEYS = ['name', 'enabled', 'config', 'json_config', 'schema']

/**
 * Builds the plugin configuration Higress delivers from a `WasmPlugin`'s `defaultConfig` and
 * `matchRules` (proxy-wasm-abi.md §8.1): the default keys (unless disabled) plus
 * `_rules_: [{ ...rule.config, _match_route_, _match_domain_, _match_service_, _match_route_prefix_ }]`.
 * Only non-empty match lists are written; `configDisable` rules are left out. The plugin (wasm-go
 * `RuleMatcher`) picks the first matching rule per request, else the default config.
 *
 * @param defaultConfig - `spec.defaultConfig` (the global configuration)
 * @param matchRules - `spec.matchRules`
 * @param defaultConfigDisable - `spec.defaultConfigDisable`: deliver only the rules
 * @param context - file and plugin names used in error messages
 * @returns the JSON object to pass as `config` to `host.load()`, or `undefined` when the default
 * config is disabled and no rule is left: Higress then does not install the plugin at all, and
 * loading it with an empty configuration would run it for every request
 * @throws `PWH_ERR_CONFIG_INVALID` when a rule has none of `ingress`, `domain`, `service`,
 * `routePrefix`, has an unknown field, or a field of the wrong type (the message names file, plugin
 * and `matchRules[i]`)
 * @example
 * ```ts
 * const config = higressConfig({ name: 'global' }, [
 *   { ingress: ['api'], config: { name: 'api-rule' } },
 *   { domain: ['*.example.com'], config: { name: 'domain-rule' } },
 * ])
 * // { name: 'global', _rules_: [{ name: 'api-rule', _match_route_: ['api'] },
 * //                             { name: 'domain-rule', _match_domain_: ['*.example.com'] }] }
 * const stamp = await host.load({ wasm: './stamp.wasm', config })
 * ```
 */
export function higressConfig(
  defaultConfig: Record<string, unknown> | null | undefined,
  matchRules: readonly MatchRule[] | null | undefined = [],
  defaultConfigDisable = false,
  context: { file?: string; plugin?: string } = {},
): Record<string, unknown> | undefined {
  const where = [context.file, context.plugin].filter((s) => s !== undefined).join(': ')
  const fail = (field: string, what: string): never => {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${where ? `${where}: ` : ''}${field} ${what}`)
  }
  if (defaultConfig !== undefined && defaultConfig !== null && !isObj(defaultConfig)) {
    fail('defaultConfig', `must be an object, got ${show(defaultConfig)}`)
  }
  if (matchRules !== undefined && matchRules !== null && !Array.isArray(matchRules)) {
    fail('matchRules', `must be a list of rules, got ${show(matchRules)}`)
  }
  const rules: Obj[] = []
  ;(matchRules ?? []).forEach((rule: unknown, i) => {
    const field = `matchRules[${i}]`
    if (!isObj(rule)) return fail(field, `must be an object, got ${show(rule)}`)
    const unknown = Object.keys(rule).find((k) => !RULE_KEYS.includes(k))
    if (unknown !== undefined) fail(field, `has an unknown field ${show(unknown)}; a rule has ${RULE_KEYS.join(', ')}`)
    if (rule.configDisable !== undefined && typeof rule.configDisable !== 'boolean') {
      fail(`${field}.configDisable`, `must be true or false, got ${show(rule.configDisable)}`)
    }
    if (rule.routePrefix !== undefined && rule.route_prefix !== undefined) {
      fail(field, 'has both routePrefix and route_prefix; give one')
    }
    const lists: Array<[string, string]> = [
      ['ingress', '_match_route_'], ['domain', '_match_domain_'], ['service', '_match_service_'],
      [rule.route_prefix !== undefined ? 'route_prefix' : 'routePrefix', '_match_route_prefix_'],
    ]
    const match: Obj = {}
    for (const [from, to] of lists) {
      const v = rule[from]
      if (v === undefined || v === null) continue
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s !== '')) {
        fail(`${field}.${from}`, `must be a list of non-empty strings, got ${show(v)}`)
      }
      if ((v as string[]).length > 0) match[to] = [...(v as string[])]
    }
    if (rule.config !== undefined && rule.config !== null && !isObj(rule.config)) {
      fail(`${field}.config`, `must be an object, got ${show(rule.config)}`)
    }
    if (rule.configDisable === true) return
    if (Object.keys(match).length === 0) {
      fail(field, 'has no match condition; give at least one of ingress, domain, service or routePrefix (Higress rejects such a rule)')
    }
    rules.push({ ...((rule.config as Obj | undefined) ?? {}), ...match })
  })
  if (defaultConfigDisable && rules.length === 0) return undefined
  const out: Obj = defaultConfigDisable ? {} : { ...(defaultConfig ?? {}) }
  if (rules.length > 0) {
    if (out._rules_ !== undefined) fail('defaultConfig', 'has its own _rules_ key; write the rules as matchRules instead')
    out._rules_ = rules
  }
  return out
}

/**
 * Reads a configuration and checks everything, JSON Schemas included, without loading any plugin.
 * YAML or JSON is chosen by extension (`.json` is JSON, anything else YAML, a superset of JSON);
 * the shape is detected from the content: a pipeline file (`plugins`), `WasmPlugin` resources
 * (one or several documents, or `kind: List`), or Kong `filter_chains`.
 *
 * @param source - a file path, or the already parsed object (an array is taken as several documents)
 * @param options - base directory, Kong filters directory, schemas, pipeline overrides
 * @returns the declaration: plugin options in declaration order, Kong chains, pipeline settings
 * @throws `PWH_ERR_CONFIG_FILE` when the file (or a schema file) cannot be read or parsed (with the
 * YAML line), or has none of the three shapes; `PWH_ERR_CONFIG_INVALID` for a missing `wasm`/`url`,
 * a remote `url`, a bad phase, fail strategy, field type or match rule (naming file, plugin and
 * field); `PWH_ERR_CONFIG_SCHEMA` when a configuration fails its JSON Schema (naming file, plugin
 * and the JSON path of the first failing value)
 * @example
 * ```ts
 * const decl = await readPipelineConfig('gateway.yaml')
 * decl.plugins.map((p) => p.options.name) // ['auth', 'stamp']
 * ```
 */
export async function readPipelineConfig(source: string | object, options: ConfigLoadOptions = {}): Promise<PipelineDeclaration> {
  const { docs, file, dir } = await readSource(source, options)
  const ctx: Ctx = { file, dir, options, schemas: new Map(), schemaChecks: new Map() }
  const decl = parseShape(docs, ctx)
  for (const d of decl.plugins) await ctx.schemaChecks.get(d)?.()
  return decl
}

/**
 * Reads a configuration ({@link readPipelineConfig}) and loads every plugin it declares, in
 * declaration order, into `host`. If one plugin fails to load, those already loaded are closed.
 *
 * Kong filters that are disabled (or sit in a disabled chain) are loaded too, so that the
 * `enabled` flags of the returned `chains` can be flipped later; `plan()` reads them on every call.
 *
 * @param host - the host that loads the plugins
 * @param source - a file path, or the already parsed object
 * @param options - base directory, Kong filters directory, schemas, pipeline overrides
 * @returns options for `new PluginPipeline(host, options)`: `plugins` (pipeline and WasmPlugin
 * shapes) or `chains` (Kong), plus `responseOrder` and the other settings
 * @throws every code of {@link readPipelineConfig}, and every code of `WasmPluginHost.load`
 * (e.g. `PWH_ERR_PLUGIN_READ` for a missing `.wasm`), with file and plugin prepended to the message
 * @example
 * ```ts
 * const options = await loadPipelineConfig(host, 'kong.yaml', { filtersDir: './filters' })
 * const pipeline = new PluginPipeline(host, options)
 * ```
 */
export async function loadPipelineConfig(host: WasmPluginHost, source: string | object, options: ConfigLoadOptions = {}): Promise<PipelineOptions> {
  const decl = await readPipelineConfig(source, options)
  if (decl.host?.limits) checkHostLimits(host, decl.host.limits, decl.file)
  return loadDeclaration(host, decl, source, options)
}

/**
 * Loads the plugins of a declaration already read, into a host made for it (the file's limits are
 * not checked against the host's: the caller made the host from them).
 * @internal
 */
export async function loadDeclaration(host: WasmPluginHost, decl: PipelineDeclaration, source: string | object, options: ConfigLoadOptions = {}): Promise<PipelineOptions> {
  if (decl.upstreams || decl.resolvers) {
    // The file's names and resolvers join the host's before any plugin starts (and close with it).
    const dir = typeof source === 'string' ? dirname(resolve(source)) : resolve(options.baseDir ?? '.')
    const resolvers = (decl.resolvers ?? []).map((r, i) => resolverFromSpec(r, `${decl.file}: resolvers[${i}]`, dir))
    try {
      host.upstreams.add({ ...(decl.upstreams ? { upstreams: decl.upstreams } : {}), resolvers })
    } catch (err) {
      if (!isProxyWasmHostError(err)) throw err
      throw new ProxyWasmHostError(err.code, `${decl.file}: ${err.message}`, { cause: err })
    }
  }
  const loaded: Plugin[] = []
  for (const d of decl.plugins) {
    try {
      loaded.push(await host.load(d.options))
    } catch (err) {
      for (const p of loaded) p.close()
      if (!isProxyWasmHostError(err)) throw err
      throw new ProxyWasmHostError(err.code, `${decl.file}: ${d.label}: ${err.message}`, { cause: err })
    }
  }
  const out: PipelineOptions = { ...decl.settings }
  if (!decl.chains) {
    out.plugins = loaded
    return out
  }
  const toChain = (c: DeclaredChain): FilterChain => ({
    ...(c.name !== undefined ? { name: c.name } : {}),
    enabled: c.enabled,
    filters: c.filters.map((f) => ({ plugin: loaded[f.plugin]!, enabled: f.enabled })),
  })
  out.chains = {
    services: Object.fromEntries(Object.entries(decl.chains.services).map(([k, c]) => [k, toChain(c)])),
    routes: Object.fromEntries(Object.entries(decl.chains.routes).map(([k, c]) => [k, toChain(c)])),
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Reading and parsing

interface Ctx {
  file: string
  dir: string
  options: ConfigLoadOptions
  /** Compiled schemas by resolved path. */
  schemas: Map<string, Promise<ValidateFunction>>
  /** Deferred schema checks per declared plugin (they need file reads). */
  schemaChecks: Map<DeclaredPlugin, () => Promise<void>>
}

async function readSource(source: string | object, options: ConfigLoadOptions): Promise<{ docs: unknown[]; file: string; dir: string }> {
  if (typeof source === 'string') {
    const abs = resolve(source)
    return { docs: await readDocuments(abs, source), file: source, dir: dirname(abs) }
  }
  if (source === null || typeof source !== 'object') {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_FILE', `configuration must be a file path or an object, got ${show(source)}`)
  }
  return { docs: Array.isArray(source) ? source : [source], file: OBJECT_LABEL, dir: resolve(options.baseDir ?? '.') }
}

/** Reads a YAML or JSON file into its documents (empty YAML documents dropped). */
async function readDocuments(abs: string, label: string): Promise<unknown[]> {
  let text: string
  try {
    text = await readFile(abs, 'utf8')
  } catch (err) {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_FILE', `${label}: cannot read the file (${(err as Error).message})`, { cause: err })
  }
  if (extname(abs).toLowerCase() === '.json') {
    try {
      return [JSON.parse(text)]
    } catch (err) {
      const msg = (err as Error).message
      const pos = /position (\d+)/.exec(msg)
      const at = pos ? ` at line ${lineOf(text, Number(pos[1]))}` : ''
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_FILE', `${label}: invalid JSON${at} (${msg})`, { cause: err })
    }
  }
  const docs = parseAllDocuments(text, { prettyErrors: true })
  const out: unknown[] = []
  for (const doc of docs) {
    const e = doc.errors[0]
    if (e) {
      const line = e.linePos?.[0].line
      const first = e.message.split('\n')[0]!.replace(/:\s*$/, '')
      const at = line !== undefined && !first.includes(`line ${line}`) ? ` at line ${line}` : ''
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_FILE', `${label}: invalid YAML${at}: ${first}`, { cause: e })
    }
    const v: unknown = doc.toJS({ maxAliasCount: 1000 })
    if (v !== null && v !== undefined) out.push(v)
  }
  return out
}

function lineOf(text: string, pos: number): number {
  let line = 1
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

function parseShape(input: unknown[], ctx: Ctx): PipelineDeclaration {
  const docs = input.length === 1 && Array.isArray(input[0]) ? (input[0] as unknown[]) : input
  if (docs.some((d) => isObj(d) && ('kind' in d || 'apiVersion' in d))) return parseResources(docs, ctx)
  if (docs.length !== 1) {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_FILE',
      `${ctx.file}: ${docs.length === 0 ? 'the configuration is empty' : `${docs.length} documents, but only WasmPlugin resources may come as several documents`}; ${SHAPES_HINT}`)
  }
  const doc = docs[0]
  if (isObj(doc) && 'plugins' in doc) return parsePipelineFile(doc, ctx)
  if (isObj(doc) && 'filter_chains' in doc) return parseKong(doc, ctx)
  throw new ProxyWasmHostError('PWH_ERR_CONFIG_FILE', `${ctx.file}: unknown configuration shape; ${SHAPES_HINT}`)
}

// ---------------------------------------------------------------------------------------------
// Shape a: our own pipeline file

function parsePipelineFile(doc: Obj, ctx: Ctx): PipelineDeclaration {
  const top = (field: string, what: string): never => invalid(`${ctx.file}: ${field} ${what}`)
  checkKeys(doc, PIPELINE_KEYS, (k) => top(k, `is not a known field; a pipeline file has ${PIPELINE_KEYS.join(', ')}`))
  if (!Array.isArray(doc.plugins)) top('plugins', `must be a list, got ${show(doc.plugins)}`)
  const host = hostSection(doc, ctx.file)
  const plugins: DeclaredPlugin[] = []
  ;(doc.plugins as unknown[]).forEach((entry, i) => {
    if (!isObj(entry)) top(`plugins[${i}]`, `must be an object, got ${show(entry)}`)
    const e = entry as Obj
    const name = typeof e.name === 'string' ? e.name : undefined
    const label = `plugin "${name ?? (typeof e.wasm === 'string' ? stem(e.wasm) : `plugins[${i}]`)}"`
    const f = fieldFail(ctx, label)
    checkKeys(e, PLUGIN_KEYS, (k) => f(k, `is not a known field; a plugin has ${PLUGIN_KEYS.join(', ')}`))
    if (e.name !== undefined && typeof e.name !== 'string') f('name', `must be a string, got ${show(e.name)}`)
    if (e.wasm === undefined || e.wasm === null || e.wasm === '') f('wasm', 'is missing; give the path of the .wasm file, relative to this file')
    if (typeof e.wasm !== 'string') f('wasm', `must be a path, got ${show(e.wasm)}`)
    const hasHigress = e.defaultConfig !== undefined || e.matchRules !== undefined || e.defaultConfigDisable !== undefined
    if (hasHigress && e.config !== undefined) f('config', 'cannot be combined with defaultConfig/matchRules; give one of them')
    const opts: PluginOptions = { wasm: localWasm(e.wasm as string, ctx, f, 'wasm') }
    if (name !== undefined) opts.name = name
    const targets: SchemaTarget[] = []
    if (hasHigress) {
      const disabled = bool(e.defaultConfigDisable, 'defaultConfigDisable', f) ?? false
      const config = higressConfig(e.defaultConfig as Obj, e.matchRules as MatchRule[], disabled, { file: ctx.file, plugin: label })
      if (config === undefined) return // Higress does not install a plugin with nothing left to configure.
      opts.config = config
      targets.push(...higressTargets(e.defaultConfig as Obj | undefined, e.matchRules as MatchRule[] | undefined, disabled, 'defaultConfig', 'matchRules'))
    } else if (e.config !== undefined && e.config !== null) {
      opts.config = configValue(e.config, 'config', f)
      targets.push({ path: 'config', value: e.config })
    }
    if (e.vmConfig !== undefined && e.vmConfig !== null) opts.vmConfig = configValue(e.vmConfig, 'vmConfig', f, false) as PluginOptions['vmConfig']
    commonFields(e, opts, label, ctx)
    pluginIsolation(e, opts, f, host)
    if (e.rootId !== undefined) opts.rootId = str(e.rootId, 'rootId', f)
    if (e.vmId !== undefined) opts.vmId = str(e.vmId, 'vmId', f)
    if (e.env !== undefined) opts.env = envValue(e.env, 'env', f)
    if (e.args !== undefined) {
      if (!Array.isArray(e.args) || !e.args.every((a) => typeof a === 'string')) f('args', `must be a list of strings, got ${show(e.args)}`)
      opts.args = e.args as string[]
    }
    if (e.properties !== undefined) opts.properties = propertiesValue(e.properties, f)
    if (e.logLevel !== undefined) {
      if (!LOG_LEVEL_NAMES.includes(e.logLevel as LogLevelName)) f('logLevel', `must be one of ${LOG_LEVEL_NAMES.join(', ')}, got ${show(e.logLevel)}`)
      opts.logLevel = e.logLevel as LogLevelName
    }
    const d: DeclaredPlugin = { label, options: opts }
    addSchemaCheck(d, ctx, name, e.schema, targets, f)
    plugins.push(d)
  })
  const settings = pipelineSettings(ctx, 'reverse', {
    responseOrder: doc.responseOrder, pauseTimeoutMs: doc.pauseTimeoutMs, allowHeaderStopIteration: doc.allowHeaderStopIteration,
  })
  return { shape: 'pipeline', file: ctx.file, plugins, settings, ...upstreamSections(doc, ctx), ...(host ? { host } : {}) }
}

/** The `upstreams:` and `resolvers:` sections, checked (resolvers are built when loading). */
function upstreamSections(doc: Obj, ctx: Ctx): Pick<PipelineDeclaration, 'upstreams' | 'resolvers'> {
  const out: Pick<PipelineDeclaration, 'upstreams' | 'resolvers'> = {}
  if (doc.upstreams !== undefined && doc.upstreams !== null) {
    if (!isObj(doc.upstreams)) invalid(`${ctx.file}: upstreams must be a map of names to URLs, got ${show(doc.upstreams)}`)
    for (const [k, v] of Object.entries(doc.upstreams as Obj)) {
      if (typeof v !== 'string' && !(Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string'))) {
        invalid(`${ctx.file}: upstreams[${show(k)}] must be a URL or a list of URLs, got ${show(v)}`)
      }
      urlEndpoints(v as string | string[], `${ctx.file}: upstreams[${show(k)}]`)
    }
    out.upstreams = doc.upstreams as UpstreamMap
  }
  if (doc.resolvers !== undefined && doc.resolvers !== null) {
    if (!Array.isArray(doc.resolvers)) invalid(`${ctx.file}: resolvers must be a list of { type, ... }, got ${show(doc.resolvers)}`)
    out.resolvers = doc.resolvers as ResolverSpec[]
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Shape b: Higress / Istio WasmPlugin resources

function parseResources(docs: unknown[], ctx: Ctx): PipelineDeclaration {
  const resources: Array<{ res: Obj; where: string }> = []
  docs.forEach((d, i) => {
    const where = docs.length > 1 ? `document ${i + 1}` : 'the document'
    if (!isObj(d)) throw new ProxyWasmHostError('PWH_ERR_CONFIG_FILE', `${ctx.file}: ${where} is not an object; ${SHAPES_HINT}`)
    if (d.kind === 'List') {
      if (!Array.isArray(d.items)) invalid(`${ctx.file}: ${where}: kind List needs items: [...]`)
      ;(d.items as unknown[]).forEach((item, j) => resources.push({ res: item as Obj, where: `${where}, items[${j}]` }))
    } else {
      resources.push({ res: d, where })
    }
  })
  const plugins: DeclaredPlugin[] = []
  for (const { res, where } of resources) {
    if (!isObj(res) || res.kind !== 'WasmPlugin') {
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_FILE',
        `${ctx.file}: ${where}: kind ${show(isObj(res) ? res.kind : res)} is not supported; every resource must be kind: WasmPlugin (${SHAPES_HINT})`)
    }
    const meta = isObj(res.metadata) ? res.metadata : {}
    const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : undefined
    const label = name !== undefined ? `WasmPlugin "${name}"` : `WasmPlugin (${where})`
    const f = fieldFail(ctx, label)
    if (!API_VERSIONS.includes(res.apiVersion as string)) f('apiVersion', `must be ${API_VERSIONS.join(' or ')}, got ${show(res.apiVersion)}`)
    if (name === undefined) f('metadata.name', 'is missing')
    if (!isObj(res.spec)) f('spec', `must be an object, got ${show(res.spec)}`)
    const spec = res.spec as Obj
    checkKeys(spec, SPEC_KEYS, (k) => f(`spec.${k}`, notThisShape(k, 'WasmPlugin spec') ?? `is not a known field; a WasmPlugin spec has ${SPEC_KEYS.join(', ')}`))
    if (spec.url === undefined || spec.url === null || spec.url === '') f('spec.url', 'is missing; give the .wasm file as file:///abs/path.wasm or a path relative to this file')
    if (typeof spec.url !== 'string') f('spec.url', `must be a string, got ${show(spec.url)}`)
    if (spec.type !== undefined && spec.type !== 'HTTP' && spec.type !== 'UNSPECIFIED_PLUGIN_TYPE') f('spec.type', `must be HTTP (only HTTP plugins are supported), got ${show(spec.type)}`)
    const opts: PluginOptions = { name: name!, wasm: localWasm(spec.url as string, ctx, f, 'spec.url') }
    if (spec.sha256 !== undefined && spec.sha256 !== null && spec.sha256 !== '') {
      if (typeof spec.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(spec.sha256)) f('spec.sha256', `must be 64 hex digits (SHA-256 of the .wasm), got ${show(spec.sha256)}`)
      opts.sha256 = spec.sha256 as string
    }
    const targets: SchemaTarget[] = []
    const hasHigress = spec.defaultConfig !== undefined || spec.matchRules !== undefined || spec.defaultConfigDisable !== undefined
    if (spec.pluginConfig !== undefined && spec.pluginConfig !== null) {
      // Istio's field; Higress passes it verbatim and ignores defaultConfig/matchRules — say so instead.
      if (hasHigress) f('spec.pluginConfig', '(Istio) cannot be combined with defaultConfig/matchRules (Higress); give one of them')
      if (!isObj(spec.pluginConfig)) f('spec.pluginConfig', `must be an object, got ${show(spec.pluginConfig)}`)
      opts.config = spec.pluginConfig as Obj
      targets.push({ path: 'pluginConfig', value: spec.pluginConfig })
    } else if (hasHigress) {
      const disabled = bool(spec.defaultConfigDisable, 'spec.defaultConfigDisable', f) ?? false
      const config = higressConfig(spec.defaultConfig as Obj, spec.matchRules as MatchRule[], disabled, { file: ctx.file, plugin: label })
      if (config === undefined) continue // Higress does not install it either.
      opts.config = config
      targets.push(...higressTargets(spec.defaultConfig as Obj | undefined, spec.matchRules as MatchRule[] | undefined, disabled, 'defaultConfig', 'matchRules'))
    }
    commonFields(spec, opts, label, ctx, 'spec.')
    if (spec.pluginName !== undefined) opts.rootId = str(spec.pluginName, 'spec.pluginName', f)
    if (spec.vmConfig !== undefined && spec.vmConfig !== null) {
      if (!isObj(spec.vmConfig)) f('spec.vmConfig', `must be an object, got ${show(spec.vmConfig)}`)
      const vm = spec.vmConfig as Obj
      if (vm.env !== undefined) opts.env = envValue(vm.env, 'spec.vmConfig.env', f)
    }
    const d: DeclaredPlugin = { label, options: opts }
    addSchemaCheck(d, ctx, name, undefined, targets, f)
    plugins.push(d)
  }
  return { shape: 'wasm-plugin', file: ctx.file, plugins, settings: pipelineSettings(ctx, 'reverse', {}) }
}

// ---------------------------------------------------------------------------------------------
// Shape c: Kong filter chains

function parseKong(doc: Obj, ctx: Ctx): PipelineDeclaration {
  const top = (field: string, what: string): never => invalid(`${ctx.file}: ${field} ${what}`)
  let dir: string
  if (ctx.options.filtersDir !== undefined) {
    dir = resolve(ctx.options.filtersDir)
  } else if (typeof doc.wasm_filters_path === 'string' && doc.wasm_filters_path !== '') {
    dir = resolve(ctx.dir, doc.wasm_filters_path)
  } else {
    return top('wasm_filters_path', 'is missing; set it in the file (relative to the file) or pass the filtersDir option')
  }
  if (!Array.isArray(doc.filter_chains)) top('filter_chains', `must be a list, got ${show(doc.filter_chains)}`)
  const plugins: DeclaredPlugin[] = []
  const chains = { services: {} as Record<string, DeclaredChain>, routes: {} as Record<string, DeclaredChain> }
  ;(doc.filter_chains as unknown[]).forEach((entry, i) => {
    const at = `filter_chains[${i}]`
    if (!isObj(entry)) top(at, `must be an object, got ${show(entry)}`)
    const c = entry as Obj
    const chainLabel = typeof c.name === 'string' ? `${at} "${c.name}"` : at
    const f = fieldFail(ctx, chainLabel)
    checkKeys(c, CHAIN_KEYS, (k) => f(k, `is not a known field; a filter chain has ${CHAIN_KEYS.join(', ')}`))
    if (c.name !== undefined && typeof c.name !== 'string') f('name', `must be a string, got ${show(c.name)}`)
    const enabled = bool(c.enabled, 'enabled', f) ?? true
    const service = entityName(c.service, 'service', f)
    const route = entityName(c.route, 'route', f)
    if ((service === undefined) === (route === undefined)) {
      f('service/route', `${service === undefined ? 'is missing' : 'are both set'}; link a filter chain to exactly one service or one route`)
    }
    const [kind, key] = service !== undefined ? ['services', service] as const : ['routes', route!] as const
    const taken = chains[kind][key]
    if (taken) f(kind === 'services' ? 'service' : 'route', `${show(key)} already has filter chain ${show(taken.name ?? '')}; Kong links one chain per ${kind === 'services' ? 'service' : 'route'}`)
    if (!Array.isArray(c.filters) || c.filters.length === 0) f('filters', `must be a non-empty list, got ${show(c.filters)}`)
    const chain: DeclaredChain = { enabled, filters: [] }
    if (typeof c.name === 'string') chain.name = c.name
    ;(c.filters as unknown[]).forEach((fe, j) => {
      if (!isObj(fe)) f(`filters[${j}]`, `must be an object, got ${show(fe)}`)
      const filter = fe as Obj
      const fname = filter.name
      const label = `${chainLabel}: filter ${typeof fname === 'string' ? `"${fname}" ` : ''}(filters[${j}])`
      const ff = fieldFail(ctx, label)
      checkKeys(filter, FILTER_KEYS, (k) => ff(k, notThisShape(k, 'Kong filter') ?? `is not a known field; a filter has ${FILTER_KEYS.join(', ')}`))
      if (typeof fname !== 'string' || fname === '') return ff('name', `must be the filter's file name without .wasm, got ${show(fname)}`)
      if (/[\\/]/.test(fname) || fname === '.' || fname === '..') ff('name', `must be a file name in the filters directory, got ${show(fname)}`)
      const opts: PluginOptions = { name: fname, wasm: resolve(dir, `${fname}.wasm`) }
      const targets: SchemaTarget[] = []
      if (filter.config !== undefined && filter.json_config !== undefined) ff('config', 'cannot be combined with json_config; give one of them')
      const raw = filter.config ?? filter.json_config
      if (raw !== undefined && raw !== null) {
        // Kong passes the configuration as bytes: a string as-is, JSON otherwise.
        opts.config = configValue(raw, filter.config !== undefined ? 'config' : 'json_config', ff)
        targets.push({ path: 'config', value: raw })
      }
      const d: DeclaredPlugin = { label, options: opts }
      addSchemaCheck(d, ctx, fname, filter.schema, targets, ff)
      chain.filters.push({ plugin: plugins.length, enabled: bool(filter.enabled, 'enabled', ff) ?? true })
      plugins.push(d)
    })
    chains[kind][key] = chain
  })
  return { shape: 'kong', file: ctx.file, plugins, chains, settings: pipelineSettings(ctx, 'forward', {}) }
}

/** Kong links a chain to `service: name`, or to an entity reference `{ name }` / `{ id }`. */
function entityName(v: unknown, field: string, f: Fail): string | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v === 'string' && v !== '') return v
  if (isObj(v)) {
    const n = v.name ?? v.id
    if (typeof n === 'string' && n !== '') return n
  }
  return f(field, `must be a name or { name } / { id }, got ${show(v)}`)
}

// ---------------------------------------------------------------------------------------------
// Shared field handling

type Fail = (field: string, what: string) => never

function invalid(message: string): never {
  throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', message)
}

function fieldFail(ctx: Ctx, label: string): Fail {
  return (field, what) => invalid(`${ctx.file}: ${label}: ${field} ${what}`)
}

function checkKeys(o: Obj, known: readonly string[], fail: (k: string) => void): void {
  // Keys starting with "." or "x-" hold YAML anchors and comments-as-data (as in compose files).
  for (const k of Object.keys(o)) if (!known.includes(k) && !k.startsWith('.') && !k.startsWith('x-') && k !== '$schema') fail(k)
}

/** phase, priority, failStrategy: the fields every shape shares, checked before anything loads. */
function commonFields(o: Obj, opts: PluginOptions, label: string, ctx: Ctx, prefix = ''): void {
  const f = fieldFail(ctx, label)
  if (o.phase !== undefined && o.phase !== null) {
    if (typeof o.phase !== 'string') f(`${prefix}phase`, `must be a string, got ${show(o.phase)}`)
    opts.phase = normalizePhase(o.phase as string, `${ctx.file}: ${label}: ${prefix}phase`)
  }
  if (o.priority !== undefined && o.priority !== null) {
    if (typeof o.priority !== 'number' || !Number.isFinite(o.priority)) f(`${prefix}priority`, `must be a number, got ${show(o.priority)}`)
    opts.priority = o.priority as number
  }
  if (o.failStrategy !== undefined && o.failStrategy !== null) {
    if (!FAIL_STRATEGIES.includes(o.failStrategy as FailStrategy)) {
      f(`${prefix}failStrategy`, `must be one of ${FAIL_STRATEGIES.join(', ')}, got ${show(o.failStrategy)}`)
    }
    opts.failStrategy = o.failStrategy as FailStrategy
  }
}

function pipelineSettings(ctx: Ctx, defaultOrder: 'reverse' | 'forward', file: Obj): PipelineDeclaration['settings'] {
  const f = (field: string, what: string): never => invalid(`${ctx.file}: ${field} ${what}`)
  const o = ctx.options
  const order = o.responseOrder ?? file.responseOrder ?? defaultOrder
  if (order !== 'reverse' && order !== 'forward') f('responseOrder', `must be reverse or forward, got ${show(order)}`)
  const settings: PipelineDeclaration['settings'] = { responseOrder: order as 'reverse' | 'forward' }
  const pause = o.pauseTimeoutMs ?? file.pauseTimeoutMs
  if (pause !== undefined) {
    if (typeof pause !== 'number' || !(pause > 0)) f('pauseTimeoutMs', `must be a positive number of milliseconds, got ${show(pause)}`)
    settings.pauseTimeoutMs = pause as number
  }
  const allow = o.allowHeaderStopIteration ?? file.allowHeaderStopIteration
  if (allow !== undefined) settings.allowHeaderStopIteration = bool(allow, 'allowHeaderStopIteration', f)!
  return settings
}

/** A local `.wasm`: `file://` URL, absolute path, or a path relative to the configuration. */
function localWasm(url: string, ctx: Ctx, f: Fail, field: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase()
  if (scheme === undefined) return resolve(ctx.dir, url)
  if (scheme !== 'file') {
    return f(field, `${show(url)} is remote; only local files are supported (file:///path/plugin.wasm or a path relative to this file); ` +
      `download the plugin first${scheme === 'oci' ? ' (e.g. oras pull, then use the plugin.wasm inside)' : ''}`)
  }
  // `file://./x.wasm` and `file://x.wasm` are not valid file URLs, but people write them: take them as relative paths.
  const rest = url.slice('file://'.length)
  if (!rest.startsWith('/')) return resolve(ctx.dir, rest)
  try {
    return fileURLToPath(url)
  } catch (err) {
    return f(field, `${show(url)} is not a valid file URL (${(err as Error).message})`)
  }
}

function configValue(v: unknown, field: string, f: Fail, allowArray = true): PluginOptions['config'] {
  if (typeof v === 'string' || isObj(v) || (allowArray && Array.isArray(v))) return v as PluginOptions['config']
  return f(field, `must be a string or an object, got ${show(v)}`)
}

function envValue(v: unknown, field: string, f: Fail): Record<string, string> {
  const env: Record<string, string> = {}
  if (Array.isArray(v)) {
    // Istio's form: [{ name, value, valueFrom }].
    v.forEach((item: unknown, i) => {
      if (!isObj(item) || typeof item.name !== 'string' || item.name === '') f(`${field}[${i}]`, `must be { name, value }, got ${show(item)}`)
      const e = item as Obj
      if (e.valueFrom !== undefined && e.valueFrom !== 'INLINE') {
        f(`${field}[${i}].valueFrom`, `${show(e.valueFrom)} is not supported; give the value inline (plugins never see the process environment)`)
      }
      if (e.value !== undefined && typeof e.value !== 'string') f(`${field}[${i}].value`, `must be a string, got ${show(e.value)}`)
      env[e.name as string] = (e.value as string | undefined) ?? ''
    })
    return env
  }
  if (!isObj(v)) return f(field, `must be { NAME: value } or [{ name, value }], got ${show(v)}`)
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') f(`${field}.${k}`, `must be a string, got ${show(val)}`)
    env[k] = val as string
  }
  return env
}

function propertiesValue(v: unknown, f: Fail): PropertiesInit {
  const okValue = (val: unknown) => ['string', 'number', 'boolean'].includes(typeof val) ||
    (isObj(val) && Object.values(val).every((s) => typeof s === 'string'))
  // A list of { path: [segments], value } entries, for keys that contain dots (Envoy metadata namespaces).
  if (Array.isArray(v)) {
    return v.map((e: unknown, i) => {
      const ok = isObj(e) && (typeof e.path === 'string' || (Array.isArray(e.path) && e.path.length > 0 && e.path.every((s) => typeof s === 'string')))
      if (!ok) f(`properties[${i}].path`, `must be a dotted string or a list of segments, got ${show(isObj(e) ? e.path : e)}`)
      const entry = e as { path: string | string[]; value: unknown }
      if (!okValue(entry.value)) f(`properties[${i}].value`, `must be a string, number, boolean or a map of strings, got ${show(entry.value)}`)
      return [entry.path, entry.value as PropertyValue] as const
    })
  }
  if (!isObj(v)) return f('properties', `must be an object of { "dotted.path": value } or a list of { path: [segments], value }, got ${show(v)}`)
  for (const [k, val] of Object.entries(v)) {
    if (!okValue(val)) f(`properties.${k}`, `must be a string, number, boolean or a map of strings, got ${show(val)}`)
  }
  return v as Record<string, PropertyValue>
}

function bool(v: unknown, field: string, f: Fail): boolean | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'boolean') f(field, `must be true or false, got ${show(v)}`)
  return v as boolean
}

function str(v: unknown, field: string, f: Fail): string {
  if (typeof v !== 'string') f(field, `must be a string, got ${show(v)}`)
  return v as string
}

// ---------------------------------------------------------------------------------------------
// JSON Schema

interface SchemaTarget {
  /** JSON path prefix in messages, e.g. `config`, `matchRules/0/config`. */
  path: string
  value: unknown
}

/** What a plugin sees per request: the default config, and each enabled rule over it (as wasm-go's override parsers do). */
function higressTargets(defaultConfig: Obj | undefined, rules: MatchRule[] | undefined, disabled: boolean, defaultPath: string, rulesPath: string): SchemaTarget[] {
  const base = disabled ? {} : (defaultConfig ?? {})
  const out: SchemaTarget[] = disabled ? [] : [{ path: defaultPath, value: base }]
  ;(rules ?? []).forEach((r, i) => {
    if (r.configDisable !== true) out.push({ path: `${rulesPath}/${i}/config`, value: { ...base, ...(r.config ?? {}) } })
  })
  return out
}

function addSchemaCheck(d: DeclaredPlugin, ctx: Ctx, name: string | undefined, fieldSchema: unknown, targets: SchemaTarget[], f: Fail): void {
  const fromOptions = name !== undefined ? ctx.options.schemas?.[name] : undefined
  const schema = fromOptions ?? fieldSchema
  if (schema === undefined || schema === null) return
  if (typeof schema !== 'string' && !isObj(schema)) f('schema', `must be a path to a JSON Schema file or a schema object, got ${show(schema)}`)
  ctx.schemaChecks.set(d, async () => {
    const validate = await compileSchema(schema as string | Obj, ctx, f)
    for (const t of targets) {
      let value = t.value
      if (typeof value === 'string') {
        try {
          value = JSON.parse(value)
        } catch {
          throw new ProxyWasmHostError('PWH_ERR_CONFIG_SCHEMA', `${ctx.file}: ${d.label}: ${t.path} is not JSON, so it cannot match the plugin's schema`)
        }
      }
      if (!validate(value)) {
        throw new ProxyWasmHostError('PWH_ERR_CONFIG_SCHEMA', `${ctx.file}: ${d.label}: ${describeError(t.path, validate.errors?.[0])}`)
      }
    }
  })
}

function describeError(prefix: string, e: ErrorObject | undefined): string {
  if (!e) return `${prefix} does not match the schema`
  let msg = `${prefix}${e.instancePath} ${e.message ?? 'does not match the schema'}`
  const extra = (e.params as { additionalProperty?: string; allowedValues?: unknown[] })
  if (extra.additionalProperty !== undefined) msg += ` (${show(extra.additionalProperty)})`
  if (extra.allowedValues !== undefined) msg += ` (${extra.allowedValues.map(show).join(', ')})`
  return msg
}

async function compileSchema(schema: string | Obj, ctx: Ctx, f: Fail): Promise<ValidateFunction> {
  const key = typeof schema === 'string' ? resolve(ctx.dir, schema) : undefined
  const cached = key !== undefined ? ctx.schemas.get(key) : undefined
  if (cached) return cached
  const p = (async () => {
    let obj: unknown = schema
    if (typeof schema === 'string') {
      const docs = await readDocuments(key!, schema)
      obj = docs[0]
    }
    // A Higress plugin spec.yaml carries its schema at spec.configSchema.openAPIV3Schema.
    const spec = isObj(obj) && isObj(obj.spec) && isObj(obj.spec.configSchema) ? obj.spec.configSchema.openAPIV3Schema : undefined
    if (spec !== undefined) obj = spec
    if (!isObj(obj) && typeof obj !== 'boolean') return f('schema', `${typeof schema === 'string' ? show(schema) : 'the inline schema'} is not a JSON Schema object`)
    const draft = isObj(obj) && typeof obj.$schema === 'string' ? obj.$schema : ''
    const opts = { strict: false, allErrors: false, logger: false as const }
    const ajv = draft.includes('2020-12') ? new Ajv2020(opts) : draft.includes('2019-09') ? new Ajv2019(opts) : new Ajv(opts)
    try {
      return ajv.compile(obj as Obj)
    } catch (err) {
      return f('schema', `is not a valid JSON Schema (${(err as Error).message})`)
    }
  })()
  if (key !== undefined) ctx.schemas.set(key, p)
  return p
}

// ---------------------------------------------------------------------------------------------

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing'
  try {
    const s = JSON.stringify(v)
    return s.length > 80 ? `${s.slice(0, 77)}...` : s
  } catch {
    return String(v)
  }
}

function stem(path: string): string {
  return basename(path).replace(/\.wasm$/, '')
}
