/**
 * `serve` flags: which plugins run (`--plugin` with its `--name`, `--phase`, `--priority`,
 * `--fail-strategy`; or `--config`).
 * @module
 */
import { resolve } from 'node:path'
import { parseInteger, usageError, type FlagGroup } from '../args.js'
import { parsePluginArg, type PluginSpec, type ServeOptions } from '../serve.js'
import type { FailStrategy } from '../../host/plugin.js'

/** Phase names `--phase` accepts: Istio/Higress and the MSE console's. */
const PHASES = ['AUTHN', 'AUTHZ', 'STATS', 'UNSPECIFIED', 'authentication', 'authorization', 'statistics', 'default'] as const
const FAIL = ['FAIL_CLOSE', 'FAIL_OPEN', 'FAIL_RELOAD'] as const

/** `--plugin` and the flags that follow it, `--config`. @internal */
export const pluginFlags: FlagGroup<ServeOptions> = {
  title: 'Plugins',
  flags: {
    plugin: {
      type: 'string',
      value: '<file.wasm[=config]>',
      multiple: true,
      help: 'a plugin; config is a JSON or YAML file, or inline JSON:\n--plugin a.wasm=\'{"k":1}\'. The four flags below apply to the\n--plugin before them',
    },
    name: { type: 'string', value: '<name>', after: 'plugin', help: 'plugin name (default: the file name without .wasm)' },
    phase: { type: 'string', value: '<phase>', after: 'plugin', choices: PHASES, help: 'ordering phase (default UNSPECIFIED)' },
    priority: { type: 'string', value: '<n>', after: 'plugin', help: 'priority inside the phase, larger first (default 0)' },
    'fail-strategy': { type: 'string', value: '<strategy>', after: 'plugin', choices: FAIL, help: 'when the plugin traps (default FAIL_CLOSE)' },
    config: {
      type: 'string',
      value: '<gateway.yaml>',
      help: 'a pipeline file, Higress/Istio WasmPlugin resources or Kong\nfilter_chains (instead of --plugin)',
    },
  },
  notes: 'Plugins run by phase, then priority, then the order given (as Higress orders them).\nWith neither --plugin nor --config, the demo plugin is loaded (adds x-proxy-wasm-demo).',
  apply(args, opts, env) {
    const config = args.string('config')
    const specs: PluginSpec[] = []
    for (const g of args.given) {
      if (g.name === 'plugin') specs.push(parsePluginArg(g.value as string, env.cwd))
      const spec = specs[specs.length - 1]
      if (!spec || typeof g.value !== 'string') continue
      if (g.name === 'name') spec.name = g.value
      else if (g.name === 'phase') spec.phase = g.value
      else if (g.name === 'priority') spec.priority = parseInteger('--priority', g.value, -(2 ** 31), 2 ** 31 - 1)
      else if (g.name === 'fail-strategy') spec.failStrategy = g.value as FailStrategy
    }
    if (config && specs.length) throw usageError('use either --plugin or --config, not both', 'serve')
    const names = new Set<string>()
    for (const s of specs) {
      if (s.name === undefined) continue
      if (names.has(s.name)) throw usageError(`two plugins are named ${JSON.stringify(s.name)}; give each --name once`, 'serve')
      names.add(s.name)
    }
    opts.plugins = specs
    if (config) opts.config = resolve(env.cwd, config)
  },
}
