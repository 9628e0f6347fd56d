/**
 * `serve --workers N --redis URL --admin-port P`: one dev gateway as several processes. The
 * primary forks N `node:cluster` workers that share one listening port and keep plugin state
 * (shared data, queues, and the Redis clusters plugins call) in one Redis; the admin port serves
 * the plugins' metrics, summed over the workers. Without `--workers`, the same state and admin
 * options apply to the single process.
 * @module
 */
import cluster, { type Worker } from 'node:cluster'
import type { Registry } from 'prom-client'
import type { HostOptions } from '../host/host.js'
import { createMemorySharedData, createMemorySharedQueues } from '../state/memory.js'
import { createRedisSharedState } from '../state/redis-store.js'
import { requireModule } from '../state/require.js'
import { startAdmin, type Admin } from './admin.js'
import { serve, type ServeOptions, type Serving } from './serve.js'

/** The scale-out options of `serve`. @internal */
export interface ScaleOptions {
  /** `--workers` (1: no cluster). */
  workers: number
  /** `--redis`: shared state and the target of every Redis cluster name plugins use. */
  redis?: string
  /** `--admin-port`. */
  adminPort?: number
}

type PromClient = typeof import('prom-client')
const prom = () => requireModule('prom-client') as PromClient

/** Host options for one gateway process: state kept across hot reloads, in memory or in Redis. */
function processState(scale: ScaleOptions, exported: boolean): { hostOptions: Omit<HostOptions, 'logger'>; registry: Registry | undefined; close: () => void } {
  // One registry for every generation, so that metrics keep counting across hot reloads; prom-client
  // is loaded only when someone reads the metrics (admin port, or the primary of workers).
  const registry = exported ? new (prom().Registry)() : undefined
  const metrics = registry ? { metricsRegistry: registry } : {}
  if (!scale.redis) {
    return { hostOptions: { sharedData: createMemorySharedData(), sharedQueues: createMemorySharedQueues(), ...metrics }, registry, close: () => undefined }
  }
  const state = createRedisSharedState({ redis: scale.redis })
  return {
    hostOptions: { sharedData: state.sharedData, sharedQueues: state.sharedQueues, redis: { fallback: scale.redis }, ...metrics },
    registry,
    close: () => state.close(),
  }
}

/** Runs `serve` in this process with the scale options (single process, or one cluster worker). */
async function serveHere(opts: ServeOptions, scale: ScaleOptions, worker?: number): Promise<Serving> {
  const state = processState(scale, worker !== undefined || scale.adminPort !== undefined)
  const print = worker === undefined ? opts.print : (line: string) => opts.print(`[worker ${worker}] ${line}`)
  let serving: Serving
  try {
    serving = await serve({
      ...opts,
      print,
      hostOptions: { ...opts.hostOptions, ...state.hostOptions },
      ...(worker === undefined ? {} : { responseHeaders: { ...opts.responseHeaders, 'x-proxy-wasm-worker': String(worker) } }),
    })
  } catch (err) {
    state.close()
    throw err
  }
  let admin: Admin | undefined
  if (worker !== undefined) {
    // The gateway's own address (a worker also listens for the echo upstream, so the primary's
    // 'listening' events cannot tell them apart).
    process.send?.({ type: 'pwh:listening', url: serving.url })
    // The primary asks every worker for its registry and sums them (prom-client's cluster aggregation).
    const { AggregatorRegistry } = prom()
    void new AggregatorRegistry()
    AggregatorRegistry.setRegistries([state.registry!])
  } else if (scale.adminPort !== undefined) {
    admin = await startAdmin({
      port: scale.adminPort,
      host: opts.host,
      metrics: async () => ({ contentType: state.registry!.contentType, body: await state.registry!.metrics() }),
    })
    opts.print(`admin on ${admin.url} (metrics at /metrics and /stats/prometheus)`)
  }
  return {
    url: serving.url,
    async close(graceMs) {
      await serving.close(graceMs)
      await admin?.close()
      state.close()
    },
  }
}

/** The primary: forks the workers, restarts one that dies, serves the summed metrics. */
async function runPrimary(opts: ServeOptions, scale: ScaleOptions): Promise<Serving> {
  let closing = false
  const index = new Map<Worker, number>()
  const fork = (n: number) => {
    const w = cluster.fork({ PWH_SERVE_WORKER: String(n) })
    index.set(w, n)
    return w
  }
  const listening = new Promise<string>((resolve, reject) => {
    let up = 0
    cluster.on('message', (_w, msg: { type?: string; url?: string }) => {
      if (msg?.type === 'pwh:listening' && ++up === scale.workers) resolve(msg.url!)
    })
    cluster.on('exit', (w, code, signal) => {
      const n = index.get(w)
      index.delete(w)
      if (closing || n === undefined) return
      if (up < scale.workers) {
        reject(new Error(`worker ${n} exited (${signal ?? code}) while starting; its output says why`))
        return
      }
      opts.print(`worker ${n} exited (${signal ?? code}); starting a new one`)
      fork(n)
    })
  })
  for (let n = 1; n <= scale.workers; n++) fork(n)
  const stopWorkers = async () => {
    closing = true
    const exits = [...index.keys()].map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))))
    for (const w of index.keys()) w.process.kill('SIGTERM')
    await Promise.all(exits)
  }
  let url: string
  try {
    url = await listening
  } catch (err) {
    await stopWorkers()
    throw err
  }
  let admin: Admin | undefined
  if (scale.adminPort !== undefined) {
    const aggregator = new (prom().AggregatorRegistry)()
    admin = await startAdmin({
      port: scale.adminPort,
      host: opts.host,
      metrics: async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }),
    })
    opts.print(`admin on ${admin.url} (metrics of all workers at /metrics and /stats/prometheus)`)
  }
  opts.print(`${scale.workers} workers${scale.redis ? `, shared state in ${redactUrl(scale.redis)}` : ', no --redis: shared data and queues are per worker'}`)
  opts.print(`listening on ${url}`)
  return {
    url,
    async close() {
      await admin?.close()
      await stopWorkers()
    },
  }
}

/** `redis://user:secret@host` → `redis://user:***@host` for printed lines. @internal */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')
}

/**
 * Starts `serve` as the scale options say: in this process, as the primary of N workers, or as
 * one of those workers (a process forked by the primary runs the same command line).
 * @internal
 */
export function serveScaled(opts: ServeOptions, scale: ScaleOptions): Promise<Serving> {
  if (cluster.isWorker) return serveHere(opts, scale, Number(process.env.PWH_SERVE_WORKER ?? cluster.worker?.id ?? 0))
  if (scale.workers > 1) return runPrimary(opts, scale)
  return serveHere(opts, scale)
}
