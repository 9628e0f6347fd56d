/**
 * `proxy-wasm-host serve`: a local dev gateway — the plugins in front of an upstream (or the
 * built-in echo upstream), with `--watch` hot reload. Replaces the Docker + Envoy + httpbin loop.
 * @module
 */
import { watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { basename, dirname, extname, resolve } from 'node:path'
import { Pool } from 'undici'
import { parse as parseYaml } from 'yaml'
import type { LogLevelName } from '../abi/enums.js'
import { ProxyWasmHostError } from '../errors.js'
import { WasmPluginHost, type HostOptions, type PluginPhaseName } from '../host/host.js'
import { randomUUID } from 'node:crypto'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { performance } from 'node:perf_hooks'
import { DIAGNOSTICS_CHANNELS, type ActionMessage, type CallbackMessage, type HostcallMessage } from '../host/diagnostics.js'
import type { LogSource, PluginLogger } from '../host/logger.js'
import type { FailStrategy, Plugin } from '../host/plugin.js'
import { PluginPipeline } from '../pipeline/pipeline.js'
import { loadDeclaration, readPipelineConfig } from '../pipeline/config.js'
import { createEchoUpstream } from '../adapters/node/echo.js'
import { createGatewayHandler, type GatewayHandler } from '../adapters/node/gateway.js'
import type { ScaleOptions } from './workers.js'

/** A `--plugin file.wasm[=config]` argument. */
export interface PluginSpec {
  /** Absolute path of the binary. */
  file: string
  /** Inline JSON (when the text after `=` starts with `{` or `[`), or a config file path. */
  config?: { inline: unknown } | { file: string }
  /** `--name`. */
  name?: string
  /** `--phase` (Istio/Higress or MSE name). */
  phase?: string
  /** `--priority`. */
  priority?: number
  /** `--fail-strategy`. */
  failStrategy?: FailStrategy
}

/** A `--route name[=/prefix]`: requests whose path starts with `prefix` get route `name` (`''`: every other request). */
export interface RouteSpec {
  name: string
  prefix: string
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
  /** `--route` entries, longest prefix first. */
  routes?: RouteSpec[]
  /** `--service`. */
  service?: string
  /** `--tls-cert`, `--tls-key` (PEM files; `ca` asks clients for a certificate signed by it). */
  tls?: { cert: string; key: string; ca?: string }
  /** The plugin logger. */
  logger: PluginLogger
  /** `--log-level`; `trace` prints the diagnostics channels too. */
  logLevel?: LogLevelName
  /** One access-log line per request (default true). */
  accessLog?: boolean
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
  // A pipeline file's limits: make the host; the limit flags given on the command line win.
  const decl = opts.config ? await readPipelineConfig(opts.config) : undefined
  const fileLimits = decl?.host?.limits
  const limits = fileLimits ? { limits: { ...fileLimits, ...opts.hostOptions?.limits } } : {}
  const host = new WasmPluginHost({ ...opts.hostOptions, ...limits, logger: opts.logger, ...(opts.upstreams ? { upstreams: opts.upstreams } : {}) })
  try {
    if (opts.config) {
      const pipeline = new PluginPipeline(host, await loadDeclaration(host, decl!, opts.config))
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
      plugins.push(
        await host.load({
          wasm: spec.file,
          ...(config !== undefined ? { config } : {}),
          ...(spec.name !== undefined ? { name: spec.name } : {}),
          ...(spec.phase !== undefined ? { phase: spec.phase as PluginPhaseName } : {}),
          ...(spec.priority !== undefined ? { priority: spec.priority } : {}),
          ...(spec.failStrategy !== undefined ? { failStrategy: spec.failStrategy } : {}),
        }),
      )
    }
    return { host, pipeline: new PluginPipeline(host, { plugins }), files }
  } catch (err) {
    host.close()
    throw err
  }
}

/** The banner's plan: plugins in request order with phase, priority, fail strategy; per-route plans that differ. */
export function describePlan(pipeline: PluginPipeline, routes: readonly RouteSpec[], service: string | undefined): string[] {
  const base = pipeline.plan(service !== undefined ? { service } : {})
  const rows = base.map((p, i) => [`${i + 1}.`, p.name, `${p.phase}/${p.priority}`, p.failStrategy, `ABI ${p.abi}`, p.source])
  const widths = rows.reduce((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), [] as number[])
  const order = pipeline.responseOrder === 'reverse' ? 'responses in reverse' : 'responses in the same order'
  const lines = [base.length ? `plugins (request order; ${order}):` : 'plugins: none']
  for (const r of rows) lines.push(`  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`)
  const names = (ps: Plugin[]) => (ps.length ? ps.map((p) => p.name).join(' → ') : 'no plugins')
  for (const r of routes) {
    const plan = pipeline.plan({ route: r.name, ...(service !== undefined ? { service } : {}) })
    const same = plan.length === base.length && plan.every((p, i) => p === base[i])
    lines.push(`route ${r.name}${r.prefix ? ` (${r.prefix}*)` : ' (every other path)'}${same ? '' : `: ${names(plan)}`}`)
  }
  return lines
}

/** Route name of a path from the `--route` list (longest prefix first). */
function routeOf(routes: readonly RouteSpec[], url: string | undefined): string | undefined {
  const path = url ?? '/'
  for (const r of routes) if (path.startsWith(r.prefix)) return r.name
  return undefined
}

/**
 * Starts the dev gateway.
 * @param opts - plugins or config, upstream, address, watch, logger
 * @returns the URL and a `close()`
 * @throws every code of plugin and config loading; Node's `EADDRINUSE` when the port is taken
 */
export async function serve(opts: ServeOptions): Promise<Serving> {
  const closers: Array<() => Promise<void> | void> = []
  try {
    // Subscribed before the plugins load: hostcall tracing wraps the VMs started while subscribed.
    if (opts.logLevel === 'trace') closers.push(traceChannels(opts.logger))
    const access = opts.accessLog === false ? undefined : accessLog(opts.logger)
    if (access) closers.push(access.close)
    // Plugins first: a plugin or config error is reported before anything listens.
    const routes = opts.routes ?? []
    const match = routes.length ? (req: IncomingMessage) => ({ route: routeOf(routes, req.url) }) : undefined
    let upstream = opts.upstream
    let pool: Pool | undefined
    const withHandler = (g: Pick<Generation, 'host' | 'pipeline' | 'files'>): Generation => ({
      ...g,
      handler: createGatewayHandler({
        pipeline: g.pipeline,
        upstream: upstream!,
        dispatcher: pool!,
        ...(match ? { match } : {}),
        ...(opts.service !== undefined ? { service: opts.service } : {}),
      }),
      inflight: 0,
      retired: false,
    })
    let current = await loadGeneration(opts).then((g) => {
      closers.push(() => current.host.close())
      return g as Generation
    })
    // The echo upstream starts quietly: nothing is announced before the port is ours.
    let echo: Server | undefined
    if (!upstream) {
      echo = createEchoUpstream()
      await listen(echo, 0, '127.0.0.1')
      upstream = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`
      closers.push(() => closeServer(echo!))
    }
    pool = new Pool(new URL(upstream).origin)
    closers.push(() => pool!.close())
    current = withHandler(current)

    const retire = (g: Generation) => {
      // Plugins of a replaced generation close once their last request finished (after on_log/on_done).
      if (g.retired && g.inflight === 0) setImmediate(() => g.host.close())
    }
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const g = current
      if (opts.responseHeaders) addResponseHeaders(res, opts.responseHeaders)
      g.inflight++
      // Envoy's connection manager gives every request an x-request-id: plugin lines and the
      // access log carry it.
      let id = req.headers['x-request-id']
      if (typeof id !== 'string' || !id) {
        id = randomUUID()
        req.headers['x-request-id'] = id
        req.rawHeaders.push('x-request-id', id)
      }
      access?.start(req, res, id)
      res.once('close', () => {
        g.inflight--
        retire(g)
      })
      g.handler(req, res)
    }
    const server: Server = opts.tls ? createHttpsServer(await tlsOptions(opts.tls), onRequest) : createServer(onRequest)
    await listen(server, opts.port, opts.host).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') err.message = `${opts.host}:${opts.port} is already in use; stop what listens there or pick another --port (0: any free port)`
      throw err
    })
    const port = (server.address() as AddressInfo).port
    const url = `${opts.tls ? 'https' : 'http'}://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`
    for (const line of describePlan(current.pipeline, routes, opts.service)) opts.print(line)
    opts.print(`upstream ${upstream}${echo ? ' (built-in echo)' : ''}`)

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
        const next = withHandler(await loadGeneration(opts))
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

/** Prints the diagnostics channels as trace lines; returns the unsubscribe. */
function traceChannels(logger: PluginLogger): () => void {
  const line = (m: { plugin: string; contextId: number; requestId?: string }, text: string) => {
    const source: LogSource = { plugin: m.plugin, contextId: m.contextId, origin: 'host' }
    if (m.requestId !== undefined) source.requestId = m.requestId
    logger.log('trace', text, source)
  }
  const onCallback = (msg: unknown) => {
    const m = msg as CallbackMessage
    line(m, `callback ${m.callback}(${m.args.join(', ')}) -> ${m.result ?? `trap: ${(m.error as Error | undefined)?.message}`} (${m.durationMs.toFixed(3)} ms)`)
  }
  const onAction = (msg: unknown) => {
    const m = msg as ActionMessage
    line(m, `action ${m.callback}: ${m.action}${m.detail !== undefined ? ` ${m.detail}` : ''}`)
  }
  const onHostcall = (msg: unknown) => {
    const m = msg as HostcallMessage
    line(m, `hostcall ${m.name}(${m.args.join(', ')}) -> ${String(m.result)}`)
  }
  subscribe(DIAGNOSTICS_CHANNELS.callback, onCallback)
  subscribe(DIAGNOSTICS_CHANNELS.action, onAction)
  subscribe(DIAGNOSTICS_CHANNELS.hostcall, onHostcall)
  return () => {
    unsubscribe(DIAGNOSTICS_CHANNELS.callback, onCallback)
    unsubscribe(DIAGNOSTICS_CHANNELS.action, onAction)
    unsubscribe(DIAGNOSTICS_CHANNELS.hostcall, onHostcall)
  }
}

/**
 * The access log: one line per request when its response ended — method, path, status, time, and
 * the plugins that acted (in order; `name[local 401]`, `[failed]`, `[reset]` for what ended it).
 */
function accessLog(logger: PluginLogger): { start(req: IncomingMessage, res: ServerResponse, id: string): void; close(): void } {
  const acted = new Map<string, Map<string, string[]>>()
  const onAction = (msg: unknown) => {
    const m = msg as ActionMessage
    const plugins = acted.get(m.requestId)
    if (!plugins) return
    let notes = plugins.get(m.plugin)
    if (!notes) plugins.set(m.plugin, (notes = []))
    if (m.action === 'local_response') notes.push(`local ${m.detail}`)
    else if (m.action === 'failed') notes.push('failed')
    else if (m.action === 'close_stream') notes.push('reset')
  }
  subscribe(DIAGNOSTICS_CHANNELS.action, onAction)
  return {
    start(req, res, id) {
      const t0 = performance.now()
      acted.set(id, new Map())
      const method = req.method ?? 'GET'
      const path = req.url ?? '/'
      res.once('close', () => {
        const plugins = acted.get(id)
        acted.delete(id)
        const list = plugins?.size ? [...plugins].map(([name, notes]) => (notes.length ? `${name}[${notes.join(', ')}]` : name)).join(',') : '-'
        const status = res.writableFinished ? String(res.statusCode) : `${res.headersSent ? res.statusCode : '-'} aborted`
        logger.log('info', `${method} ${path} ${status} ${(performance.now() - t0).toFixed(1)} ms plugins=${list}`, { plugin: 'access', contextId: 0, origin: 'host', requestId: id })
      })
    },
    close: () => unsubscribe(DIAGNOSTICS_CHANNELS.action, onAction),
  }
}

/** Reads the `--tls-*` PEM files. */
async function tlsOptions(tls: NonNullable<ServeOptions['tls']>): Promise<{ cert: Buffer; key: Buffer; ca?: Buffer; requestCert?: boolean; rejectUnauthorized?: boolean }> {
  const read = async (flag: string, file: string) => {
    try {
      return await readFile(file)
    } catch (err) {
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_FILE', `${flag} ${file}: cannot read the PEM file (${(err as Error).message})`, { cause: err })
    }
  }
  const out = { cert: await read('--tls-cert', tls.cert), key: await read('--tls-key', tls.key) }
  // With a CA, clients are asked for a certificate; one without (or with another CA) still gets
  // through, and plugins see connection.mtls false, as a permissive Envoy listener does.
  if (tls.ca) return { ...out, ca: await read('--tls-ca', tls.ca), requestCert: true, rejectUnauthorized: false }
  return out
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
