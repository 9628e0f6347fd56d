/**
 * `proxy-wasm-host serve`: a local dev gateway — the plugins in front of an upstream (or the
 * built-in echo upstream), with `--watch` hot reload. Replaces the Docker + Envoy + httpbin loop.
 * @module
 */
import { watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { basename, dirname, extname, resolve } from 'node:path'
import { Pool } from 'undici'
import { parse as parseYaml } from 'yaml'
import type { LogLevelName } from '../abi/enums.js'
import { ProxyWasmHostError } from '../errors.js'
import { WasmPluginHost, type HostOptions } from '../host/host.js'
import type { PluginLogger } from '../host/logger.js'
import type { Plugin } from '../host/plugin.js'
import { PluginPipeline } from '../pipeline/pipeline.js'
import { createEchoUpstream } from '../adapters/node/echo.js'
import { createGatewayHandler, type GatewayHandler } from '../adapters/node/gateway.js'
import type { ScaleOptions } from './workers.js'

/** A `--plugin file.wasm[=config]` argument. */
export interface PluginSpec {
  /** Absolute path of the binary. */
  file: string
  /** Inline JSON (when the text after `=` starts with `{` or `[`), or a config file path. */
  config?: { inline: unknown } | { file: string }
}

/** What `serve` needs (already validated by the argument parser). */
export interface ServeOptions {
  /** `--plugin` arguments, in order. */
  plugins: PluginSpec[]
  /** `--config` file. */
  config?: string
  /** `--upstream` URL; default: the built-in echo upstream. */
  upstream?: string
  /** `--upstream NAME=URL` entries: callout upstream names → URLs (the host's `upstreams`). */
  upstreams?: Record<string, string[]>
  /** `--port` (0: any free port). */
  port: number
  /** `--host`. */
  host: string
  /** `--watch`. */
  watch: boolean
  /** The plugin logger. */
  logger: PluginLogger
  /** The demo plugin, used when neither plugins nor a config are given. */
  demo: string
  /** Where `serve` prints its own lines. */
  print: (line: string) => void
  /** More host options for every generation (shared state, Redis, metrics registry; see `workers.ts`). */
  hostOptions?: Omit<HostOptions, 'logger'>
  /** Headers set on every response (`x-proxy-wasm-worker` with `--workers`). */
  responseHeaders?: Record<string, string>
  /** `--workers`, `--redis`, `--admin-port` (run by `serveScaled` in `workers.ts`). */
  scale?: ScaleOptions
}

/** A running `serve`. */
export interface Serving {
  /** `http://<host>:<port>`. */
  url: string
  /** Stops accepting, lets running requests finish (up to `graceMs`), closes everything. */
  close(graceMs?: number): Promise<void>
}

interface Generation {
  host: WasmPluginHost
  pipeline: PluginPipeline
  handler: GatewayHandler
  files: string[]
  inflight: number
  retired: boolean
}

/** Parses `file.wasm[=config]`: inline JSON after `=` when it starts with `{` or `[`, else a config file. */
export function parsePluginArg(arg: string, cwd: string): PluginSpec {
  const m = /^(.*?\.wasm)=(.*)$/s.exec(arg)
  if (!m) return { file: resolve(cwd, arg) }
  const file = resolve(cwd, m[1]!)
  const rest = m[2]!
  if (/^\s*[[{]/.test(rest)) {
    try {
      return { file, config: { inline: JSON.parse(rest) } }
    } catch (err) {
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `--plugin ${arg}: the configuration after "=" is not valid JSON (${(err as Error).message})`)
    }
  }
  if (!rest) throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `--plugin ${arg}: nothing after "="; give a config file or inline JSON`)
  return { file, config: { file: resolve(cwd, rest) } }
}

/** Reads a plugin config file: `.json` → JSON, `.yaml`/`.yml` → YAML (delivered as JSON, as Higress does), else text. */
async function readPluginConfig(file: string): Promise<string | Record<string, unknown> | unknown[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_FILE', `${file}: cannot read the plugin configuration (${(err as Error).message})`, { cause: err })
  }
  const ext = extname(file).toLowerCase()
  try {
    if (ext === '.json') return JSON.parse(text) as Record<string, unknown>
    if (ext === '.yaml' || ext === '.yml') return (parseYaml(text) ?? {}) as Record<string, unknown>
  } catch (err) {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_FILE', `${file}: not valid ${ext === '.json' ? 'JSON' : 'YAML'} (${(err as Error).message})`, { cause: err })
  }
  return text
}

/** Loads one generation of plugins on a fresh host. */
async function loadGeneration(opts: ServeOptions): Promise<{ host: WasmPluginHost; pipeline: PluginPipeline; files: string[] }> {
  const host = new WasmPluginHost({ ...opts.hostOptions, logger: opts.logger, ...(opts.upstreams ? { upstreams: opts.upstreams } : {}) })
  try {
    if (opts.config) {
      const pipeline = await PluginPipeline.fromConfig(host, opts.config)
      return { host, pipeline, files: [resolve(opts.config), ...host.plugins.map((p) => p.source)] }
    }
    const specs = opts.plugins.length ? opts.plugins : [{ file: opts.demo }]
    const plugins: Plugin[] = []
    const files: string[] = []
    for (const spec of specs) {
      files.push(spec.file)
      let config: string | Record<string, unknown> | unknown[] | undefined
      if (spec.config && 'inline' in spec.config) config = spec.config.inline as Record<string, unknown>
      else if (spec.config) {
        files.push(spec.config.file)
        config = await readPluginConfig(spec.config.file)
      }
      plugins.push(await host.load({ wasm: spec.file, ...(config !== undefined ? { config } : {}) }))
    }
    return { host, pipeline: new PluginPipeline(host, { plugins }), files }
  } catch (err) {
    host.close()
    throw err
  }
}

const describe = (p: Plugin) => `${p.name} (ABI ${p.abi}) ${p.source}`

/**
 * Starts the dev gateway.
 * @param opts - plugins or config, upstream, address, watch, logger
 * @returns the URL and a `close()`
 * @throws every code of plugin and config loading; Node's `EADDRINUSE` when the port is taken
 */
export async function serve(opts: ServeOptions): Promise<Serving> {
  const closers: Array<() => Promise<void> | void> = []
  try {
    let upstream = opts.upstream
    let echo: Server | undefined
    if (!upstream) {
      echo = createEchoUpstream()
      await listen(echo, 0, '127.0.0.1')
      upstream = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`
      closers.push(() => closeServer(echo!))
    }
    const target = new URL(upstream)
    const pool = new Pool(target.origin)
    closers.push(() => pool.close())

    const make = async (): Promise<Generation> => {
      const g = await loadGeneration(opts)
      const handler = createGatewayHandler({ pipeline: g.pipeline, upstream: upstream!, dispatcher: pool })
      return { ...g, handler, inflight: 0, retired: false }
    }
    let current = await make()
    closers.push(() => current.host.close())
    for (const p of current.host.plugins) opts.print(`plugin ${describe(p)}`)
    opts.print(`upstream ${upstream}${echo ? ' (built-in echo)' : ''}`)

    const retire = (g: Generation) => {
      // Plugins of a replaced generation close once their last request finished (after on_log/on_done).
      if (g.retired && g.inflight === 0) setImmediate(() => g.host.close())
    }
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const g = current
      if (opts.responseHeaders) addResponseHeaders(res, opts.responseHeaders)
      g.inflight++
      res.once('close', () => {
        g.inflight--
        retire(g)
      })
      g.handler(req, res)
    })
    await listen(server, opts.port, opts.host)
    const port = (server.address() as AddressInfo).port
    const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`

    let watchers: FSWatcher[] = []
    let reloading = false
    let again = false
    let timer: NodeJS.Timeout | undefined
    const reload = async () => {
      if (reloading) {
        again = true
        return
      }
      reloading = true
      try {
        const next = await make()
        const old = current
        current = next
        old.retired = true
        retire(old)
        opts.print(`reloaded (${next.host.plugins.map((p) => p.name).join(', ')})`)
        rewatch(next.files)
      } catch (err) {
        const e = err as { code?: string; message?: string }
        opts.print(`reload failed, still serving the previous plugins: error ${e.code ?? 'ERR'}: ${e.message}`)
      } finally {
        reloading = false
        if (again) {
          again = false
          void reload()
        }
      }
    }
    const rewatch = (files: string[]) => {
      for (const w of watchers) w.close()
      watchers = []
      // Watch directories, not files: an editor or `cp` may replace the file (new inode).
      const byDir = new Map<string, Set<string>>()
      for (const f of files) {
        const dir = dirname(f)
        if (!byDir.has(dir)) byDir.set(dir, new Set())
        byDir.get(dir)!.add(basename(f))
      }
      for (const [dir, names] of byDir) {
        try {
          watchers.push(
            watch(dir, (_event, name) => {
              if (name && !names.has(name.toString())) return
              clearTimeout(timer)
              timer = setTimeout(() => void reload(), 150)
            }),
          )
        } catch (err) {
          opts.print(`cannot watch ${dir}: ${(err as Error).message}`)
        }
      }
    }
    if (opts.watch) {
      rewatch(current.files)
      opts.print(`watching ${current.files.length} file(s) for changes`)
    }
    closers.push(() => {
      clearTimeout(timer)
      for (const w of watchers) w.close()
    })
    opts.print(`listening on ${url}`)

    return {
      url,
      async close(graceMs = 5000) {
        const closing = closeServer(server)
        server.closeIdleConnections()
        const t = setTimeout(() => server.closeAllConnections(), graceMs)
        await closing
        clearTimeout(t)
        for (const c of closers.reverse()) await c()
      },
    }
  } catch (err) {
    for (const c of closers.reverse()) await c()
    throw err
  }
}

/** Sets `headers` on the response, also after the gateway replaced the headers with the plugins' ones. */
function addResponseHeaders(res: ServerResponse, headers: Record<string, string>): void {
  const set = () => {
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  }
  set()
  const writeHead = res.writeHead
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (!this.headersSent) set()
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args)
  } as ServerResponse['writeHead']
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolveListen()
    })
  })
}

function closeServer(server: Server): Promise<void> {
  return new Promise((r) => server.close(() => r()))
}

/** The log levels `--log-level` accepts. @internal */
export type { LogLevelName }
