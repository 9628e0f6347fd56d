#!/usr/bin/env node
/**
 * `proxy-wasm-host` command line: `serve` (a local dev gateway with the plugins in front of an
 * upstream or a built-in echo upstream, `--watch` hot reload) and `inspect` (what a plugin binary
 * imports and exports). The only code of the package that reads argv and the environment and
 * exits the process.
 * @module
 */
import { existsSync, realpathSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { LOG_LEVEL_NAMES, type LogLevelName } from '../abi/enums.js'
import { ProxyWasmHostError } from '../errors.js'
import { createConsoleLogger } from '../host/logger.js'
import { formatReport, inspectWasm } from './inspect.js'
import { parsePluginArg, type ServeOptions, type Serving } from './serve.js'
import { redactUrl, serveScaled, type ScaleOptions } from './workers.js'

const USAGE = `Usage:
  proxy-wasm-host serve [options]     run a local gateway: plugins in front of an upstream
  proxy-wasm-host inspect <file.wasm> show ABI version, toolchain guess, imports, exports

serve options:
  --plugin <file.wasm[=config]>  a plugin, repeatable (run in the order given); config is a
                                 JSON or YAML file, or inline JSON: --plugin a.wasm='{"k":1}'
  --config <gateway.yaml>        a pipeline file, Higress/Istio WasmPlugin resources or Kong
                                 filter_chains (instead of --plugin)
  --upstream <url>               where requests go (default: a built-in echo upstream that
                                 answers like httpbin /anything)
  --port <n>                     default 8080 (0: any free port)
  --host <addr>                  default 127.0.0.1
  --watch                        reload when a .wasm or config file changes (running requests
                                 finish on the old plugins)
  --log-level <level>            trace, debug, info (default), warn, error, critical
  --workers <n>                  run n worker processes behind the one port (node:cluster)
  --redis <url>                  keep shared data and queues in this Redis (so workers and
                                 other gateways share them), and send every Redis cluster name
                                 plugins use there: redis://[user:password@]host:port[/db]
  --admin-port <n>               serve plugin metrics (Prometheus text) on this port at
                                 /metrics and /stats/prometheus (with --workers: summed)
With neither --plugin nor --config, the demo plugin is loaded (adds x-proxy-wasm-demo).
`

/** The demo plugin shipped next to the built CLI: dist/cli/index.js → dist/demo/demo.wasm. */
function demoPlugin(): string {
  // No import.meta here: the CommonJS build of this file could not be parsed with it. The running
  // script is this file; npm's bin link is a symlink, hence realpath.
  let here = typeof __filename === 'string' ? __filename : (process.argv[1] ?? '')
  try {
    here = realpathSync(here)
  } catch {
    // keep the path as given
  }
  return resolve(dirname(here), '../demo/demo.wasm')
}

function usageError(message: string): ProxyWasmHostError {
  return new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${message} (see proxy-wasm-host --help)`)
}

async function runServe(args: string[]): Promise<void> {
  let values
  try {
    ;({ values } = parseArgs({
      args,
      options: {
        plugin: { type: 'string', multiple: true },
        config: { type: 'string' },
        upstream: { type: 'string' },
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '127.0.0.1' },
        watch: { type: 'boolean', default: false },
        'log-level': { type: 'string', default: 'info' },
        workers: { type: 'string', default: '1' },
        redis: { type: 'string' },
        'admin-port': { type: 'string' },
      },
      allowPositionals: false,
      strict: true,
    }))
  } catch (err) {
    throw usageError((err as Error).message)
  }
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(values.port)}`)
  const level = values['log-level'] as LogLevelName
  if (!LOG_LEVEL_NAMES.includes(level)) throw usageError(`--log-level must be one of ${LOG_LEVEL_NAMES.join(', ')}, got ${JSON.stringify(level)}`)
  if (values.config && values.plugin?.length) throw usageError('use either --plugin or --config, not both')
  if (values.upstream) {
    let u: URL
    try {
      u = new URL(values.upstream)
    } catch {
      throw usageError(`--upstream must be a URL such as http://127.0.0.1:3000, got ${JSON.stringify(values.upstream)}`)
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw usageError(`--upstream must use http: or https:, got ${u.protocol}`)
  }
  const scale: ScaleOptions = { workers: Number(values.workers) }
  if (!Number.isInteger(scale.workers) || scale.workers < 1 || scale.workers > 256) throw usageError(`--workers must be an integer from 1 to 256, got ${JSON.stringify(values.workers)}`)
  if (values['admin-port'] !== undefined) {
    const p = Number(values['admin-port'])
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw usageError(`--admin-port must be an integer from 0 to 65535, got ${JSON.stringify(values['admin-port'])}`)
    scale.adminPort = p
  }
  if (values.redis !== undefined) {
    let u: URL | undefined
    try {
      u = new URL(values.redis)
    } catch {
      u = undefined
    }
    if (!u || (u.protocol !== 'redis:' && u.protocol !== 'rediss:')) throw usageError(`--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(redactUrl(values.redis))}`)
    scale.redis = values.redis
  }
  const cwd = process.cwd()
  const opts: ServeOptions = {
    plugins: (values.plugin ?? []).map((p) => parsePluginArg(p, cwd)),
    port,
    host: values.host,
    watch: values.watch,
    logger: createConsoleLogger(level),
    demo: demoPlugin(),
    print: (line) => console.log(line),
  }
  if (values.config) opts.config = resolve(cwd, values.config)
  if (values.upstream) opts.upstream = values.upstream
  if (!opts.config && !opts.plugins.length && !existsSync(opts.demo)) {
    throw new ProxyWasmHostError('PWH_ERR_PLUGIN_READ', `${opts.demo}: the demo plugin is missing (run npm run build), or pass --plugin file.wasm`)
  }
  // Signals are handled from the start: a stop that arrives while serve() is still starting waits for it.
  let serving: Promise<Serving> | undefined
  let stopping = false
  const stop = () => {
    if (stopping) process.exit(1)
    stopping = true
    console.log('shutting down')
    serving!.then((s) => s.close(3000)).then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  serving = serveScaled(opts, scale)
  await serving
}

async function runInspect(args: string[]): Promise<void> {
  const files = args.filter((a) => !a.startsWith('-'))
  const flags = args.filter((a) => a.startsWith('-'))
  if (flags.length) throw usageError(`inspect takes no options, got ${flags.join(' ')}`)
  if (files.length !== 1) throw usageError('inspect takes exactly one .wasm file')
  process.stdout.write(formatReport(await inspectWasm(resolve(files[0]!))))
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
    return
  }
  if (command === 'serve') return runServe(rest)
  if (command === 'inspect') return runInspect(rest)
  throw usageError(`unknown command ${JSON.stringify(command)}; use serve or inspect`)
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const e = err as { code?: unknown; message?: string }
  const code = typeof e?.code === 'string' ? e.code : 'ERR'
  console.error(`error ${code}: ${e?.message ?? String(err)}`)
  process.exit(1)
})
