/**
 * `serve` flags: which plugins run (`--plugin`, `--config`).
 * @module
 */
import { resolve } from 'node:path'
import { usageError, type FlagGroup } from '../args.js'
import { parsePluginArg, type ServeOptions } from '../serve.js'

/** `--plugin`, `--config`. @internal */
export const pluginFlags: FlagGroup<ServeOptions> = {
  title: 'Plugins',
  flags: {
    plugin: {
      type: 'string',
      value: '<file.wasm[=config]>',
      multiple: true,
      help: 'a plugin, run in the order given; config is a JSON or YAML file,\nor inline JSON: --plugin a.wasm=\'{"k":1}\'',
    },
    config: {
      type: 'string',
      value: '<gateway.yaml>',
      help: 'a pipeline file, Higress/Istio WasmPlugin resources or Kong\nfilter_chains (instead of --plugin)',
    },
  },
  notes: 'With neither --plugin nor --config, the demo plugin is loaded (adds x-proxy-wasm-demo).',
  apply(args, opts, env) {
    const config = args.string('config')
    const plugins = args.list('plugin')
    if (config && plugins.length) throw usageError('use either --plugin or --config, not both', 'serve')
    opts.plugins = plugins.map((p) => parsePluginArg(p, env.cwd))
    if (config) opts.config = resolve(env.cwd, config)
  },
}
