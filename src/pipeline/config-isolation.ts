/**
 * The isolation settings of a pipeline file: each plugin's `rebuildAfterRequests`,
 * `rebuildMaxMemoryBytes` and `strictHostcalls`, and the file's host section (`limits:`,
 * `strictHostcalls:`). Higress `WasmPlugin` resources and Kong filter chains have no such fields
 * (Higress sets rebuilds in the plugin's own code, wasm-go `WithRebuildAfterRequests`), so those
 * shapes say where to put them instead.
 * @module
 */
import { ProxyWasmHostError } from '../errors.js'
import type { HostLimits, HostOptions, PluginOptions, WasmPluginHost } from '../host/host.js'
import { STATE_LIMIT_DEFAULTS } from '../host/state-limits.js'

type Obj = Record<string, unknown>
type Fail = (field: string, what: string) => never
type LimitName = keyof HostLimits

/** The host settings a pipeline file may give (its `limits:` and `strictHostcalls:`). */
export interface DeclaredHostSettings {
  /** `limits:`, as `new WasmPluginHost({ limits })` takes them. */
  limits?: NonNullable<HostOptions['limits']>
  /** `strictHostcalls:`: the default of every plugin of the file that does not set its own. */
  strictHostcalls?: boolean
}

/** Per-plugin fields of a pipeline file, as `host.load()` takes them. @internal */
export const PLUGIN_ISOLATION_KEYS = ['rebuildAfterRequests', 'rebuildMaxMemoryBytes', 'strictHostcalls'] as const
/** Top-level fields of a pipeline file. @internal */
export const HOST_SECTION_KEYS = ['limits', 'strictHostcalls'] as const

/** Every key of `HostOptions.limits` (the compiler checks that none is missing). @internal */
export const LIMIT_KEYS = [
  'maxWasmBytes', 'bufferLimitBytes', 'callbackTimeoutMs', 'maxMemoryBytes', 'maxCalloutResponseBytes',
  ...(Object.keys(STATE_LIMIT_DEFAULTS) as Array<keyof typeof STATE_LIMIT_DEFAULTS>),
] as const satisfies readonly LimitName[]
// Fails to compile when HostOptions.limits gains a key LIMIT_KEYS does not list.
const everyLimitListed: Exclude<LimitName, (typeof LIMIT_KEYS)[number]> extends never ? true : false = true
void everyLimitListed

const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v))

/**
 * Reads a plugin entry's `rebuildAfterRequests`, `rebuildMaxMemoryBytes` and `strictHostcalls`
 * into `opts`; `strictHostcalls` defaults to the file's.
 * @internal
 */
export function pluginIsolation(e: Obj, opts: PluginOptions, f: Fail, file: DeclaredHostSettings | undefined): void {
  const n = e.rebuildAfterRequests
  if (n !== undefined && n !== null) {
    // A count: 2.5 would never be reached.
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) f('rebuildAfterRequests', `must be a whole number of requests, 0 or more (0: never), got ${show(n)}`)
    opts.rebuildAfterRequests = n as number
  }
  const m = e.rebuildMaxMemoryBytes
  if (m !== undefined && m !== null) {
    if (typeof m !== 'number' || !Number.isFinite(m) || m < 0) f('rebuildMaxMemoryBytes', `must be a number of bytes, 0 or more (0: never), got ${show(m)}`)
    opts.rebuildMaxMemoryBytes = m as number
  }
  const strict = e.strictHostcalls ?? file?.strictHostcalls
  if (strict !== undefined && strict !== null) {
    if (typeof strict !== 'boolean') f('strictHostcalls', `must be true or false, got ${show(strict)}`)
    opts.strictHostcalls = strict as boolean
  }
}

/**
 * The file's `limits:` and `strictHostcalls:`, checked.
 * @throws `PWH_ERR_CONFIG_INVALID` naming the file and the field
 * @internal
 */
export function hostSection(doc: Obj, file: string): DeclaredHostSettings | undefined {
  const bad = (field: string, what: string): never => {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${file}: ${field} ${what}`)
  }
  const out: DeclaredHostSettings = {}
  if (doc.strictHostcalls !== undefined && doc.strictHostcalls !== null) {
    if (typeof doc.strictHostcalls !== 'boolean') bad('strictHostcalls', `must be true or false, got ${show(doc.strictHostcalls)}`)
    out.strictHostcalls = doc.strictHostcalls as boolean
  }
  const l = doc.limits
  if (l !== undefined && l !== null) {
    if (typeof l !== 'object' || Array.isArray(l)) bad('limits', `must be a map of limit names to numbers, got ${show(l)}`)
    const limits: Record<string, number> = {}
    for (const [k, v] of Object.entries(l as Obj)) {
      if (!(LIMIT_KEYS as readonly string[]).includes(k)) bad(`limits.${k}`, `is not a known limit; limits has ${LIMIT_KEYS.join(', ')}`)
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) bad(`limits.${k}`, `must be a number of 0 or more (0 turns it off), got ${show(v)}`)
      limits[k] = v as number
    }
    out.limits = limits
  }
  return out.limits || out.strictHostcalls !== undefined ? out : undefined
}

/**
 * The message for a `WasmPlugin` spec or Kong filter field that belongs in a pipeline file.
 * @returns the message, or `undefined` for another unknown field
 * @internal
 */
export function notThisShape(key: string, shape: 'WasmPlugin spec' | 'Kong filter'): string | undefined {
  if (key === 'rebuildAfterRequests' || key === 'rebuildMaxMemoryBytes') {
    return `is not a ${shape} field (Higress rebuilds a VM from the plugin's own code: wasm-go WithRebuildAfterRequests / WithRebuildMaxMemBytes); ` +
      'give it to the plugin in a pipeline file, or as a host.load() option (docs/pipeline.md)'
  }
  if (key === 'strictHostcalls' || key === 'limits') {
    return `is not a ${shape} field; it is a host setting: give it in a pipeline file, or to new WasmPluginHost() (docs/isolation.md)`
  }
  return undefined
}

/**
 * Checks that `host` runs with the limits a file asks for: limits are host settings, so a file
 * loaded into a host made without them is refused rather than run under other limits.
 * @throws `PWH_ERR_CONFIG_INVALID` naming the limits that differ and how to give them
 * @internal
 */
export function checkHostLimits(host: WasmPluginHost, limits: NonNullable<HostOptions['limits']>, file: string): void {
  const have = host.limits
  const differ = Object.entries(limits).filter(([k, v]) => have[k as LimitName] !== v)
  if (differ.length === 0) return
  const list = differ.map(([k, v]) => `limits.${k} is ${v} in the file, the host runs with ${have[k as LimitName]}`).join('; ')
  throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID',
    `${file}: ${list}. Limits are host settings: create the host with the file's (new WasmPluginHost({ limits: (await readPipelineConfig(file)).host?.limits })); ` +
    '`serve --config` and createPipelineTester do')
}
