/**
 * The `serve` command: its flag groups and how it runs (signals, the demo plugin).
 *
 * Adding flags: write a {@link FlagGroup} in `src/cli/flags/serve-<feature>.ts` whose `apply`
 * fills fields of {@link ServeOptions}, and add it to `groups` below (one line).
 * @module
 */
import { existsSync, realpathSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ProxyWasmHostError } from '../errors.js'
import { createConsoleLogger } from '../host/logger.js'
import type { Command } from './args.js'
import { devFlags } from './flags/serve-dev.js'
import { listenFlags } from './flags/serve-listen.js'
import { pluginFlags } from './flags/serve-plugins.js'
import { routeFlags } from './flags/serve-routes.js'
import { upstreamFlags } from './flags/serve-upstream.js'
import { scaleFlags } from './flags/serve-scale.js'
import { limitFlags } from './flags/serve-limits.js'
import { serveScaled } from './workers.js'
import { serve, type ServeOptions, type Serving } from './serve.js'

/** The demo plugin shipped next to the built CLI: dist/cli/index.js → dist/demo/demo.wasm. */
function demoPlugin(): string {
  // The running script is dist/cli/index.js (this code may sit in a shared chunk, so neither
  // __filename nor import.meta.url says where the CLI is); npm's bin link is a symlink, hence realpath.
  let here = process.argv[1] ?? ''
  try {
    here = realpathSync(here)
  } catch {
    // keep the path as given
  }
  return resolve(dirname(here), '../demo/demo.wasm')
}

/** `proxy-wasm-host serve`. @internal */
export const serveCommand: Command<ServeOptions> = {
  name: 'serve',
  summary: 'run a local gateway: plugins in front of an upstream',
  synopsis: '[options]',
  description: 'Runs the plugins in front of an upstream (or a built-in echo upstream), as a gateway would.',
  groups: [
    pluginFlags,
    upstreamFlags,
    routeFlags,
    listenFlags,
    devFlags,
    scaleFlags,
    limitFlags,
  ],
  init: (env) => ({
    plugins: [],
    port: 8080,
    host: '127.0.0.1',
    watch: false,
    logger: createConsoleLogger('info'),
    demo: demoPlugin(),
    print: env.print,
  }),
  async run(opts, _args, env) {
    if (!opts.config && !opts.plugins.length && !existsSync(opts.demo)) {
      throw new ProxyWasmHostError('PWH_ERR_PLUGIN_READ', `${opts.demo}: the demo plugin is missing (run npm run build), or pass --plugin file.wasm`)
    }
    // Signals are handled from the start: a stop that arrives while serve() is still starting waits for it.
    let serving: Promise<Serving> | undefined
    let stopping = false
    const stop = () => {
      if (stopping) process.exit(1)
      stopping = true
      env.print('shutting down')
      serving!.then((s) => s.close(3000)).then(
        () => process.exit(0),
        () => process.exit(1),
      )
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    serving = opts.scale ? serveScaled(opts, opts.scale) : serve(opts)
    await serving
  },
}
