import { fileURLToPath } from 'node:url'
import { afterEach } from 'vitest'
import { WasmPluginHost, type PluginOptions } from '../src/host/host.js'
import type { LogLevelName } from '../src/abi/enums.js'
import type { HeaderMap } from '../src/host/header-map.js'
import type { Exchange, FinalResponse } from '../src/pipeline/exchange.js'
import { PluginPipeline, type ExchangeRequest, type PipelineOptions } from '../src/pipeline/pipeline.js'

/** Path of a built fixture, e.g. fixture('go', 'minimal'). */
export function fixture(kind: 'go' | 'as' | 'wat', name: string): string {
  return fileURLToPath(new URL(`../fixtures/build/${kind}/${name}.wasm`, import.meta.url))
}

export interface LogLine {
  level: LogLevelName
  message: string
  plugin: string
  origin: string
}

/** A host whose logs are collected in `logs`. */
export function testHost(level: LogLevelName = 'trace', opts: ConstructorParameters<typeof WasmPluginHost>[0] = {}) {
  const logs: LogLine[] = []
  const host = new WasmPluginHost({ ...opts, logger: { level, log: (l, m, s) => logs.push({ level: l, message: m, plugin: s.plugin, origin: s.origin }) } })
  return { host, logs }
}

/**
 * {@link testHost}, with every host it makes closed after each test. Call it at the top level of a
 * test file: `const newHost = hostsClosedAfterEach()`.
 */
export function hostsClosedAfterEach(): typeof testHost {
  let hosts: WasmPluginHost[] = []
  afterEach(() => {
    for (const h of hosts) h.close()
    hosts = []
  })
  return (level, opts) => {
    const t = testHost(level, opts)
    hosts.push(t.host)
    return t
  }
}

export interface Upstream {
  status?: number
  headers?: Record<string, string | string[]>
  body?: string | Buffer
  trailers?: Record<string, string>
  chunks?: Buffer[]
}

export interface RunResult {
  /** What reached the upstream (undefined when a plugin answered locally). */
  upstream?: { headers: HeaderMap; body: Buffer; trailers?: HeaderMap }
  /** What reached the client. */
  response: { status: number; headers: HeaderMap; body: Buffer; trailers?: HeaderMap }
  local?: FinalResponse
  /** A plugin reset the stream (close_stream, or a local reply after the response headers left). */
  closed?: boolean
  exchange: Exchange
}

/** Runs one full exchange: request (headers, body, trailers) → fake upstream → response. */
export async function run(
  pipeline: PluginPipeline,
  req: ExchangeRequest & { body?: string | Buffer; chunks?: Buffer[]; trailers?: Record<string, string> },
  up: Upstream = {},
): Promise<RunResult> {
  const ex = pipeline.exchange(req)
  const reqChunks = req.chunks ?? (req.body !== undefined ? [Buffer.from(req.body)] : [])
  const upBody: Buffer[] = []
  let upHeaders: HeaderMap | undefined
  let upTrailers: HeaderMap | undefined
  const take = (r: { headers?: HeaderMap; body: Buffer[]; trailers?: HeaderMap }) => {
    if (r.headers) upHeaders = r.headers
    upBody.push(...r.body)
    if (r.trailers) upTrailers = r.trailers
  }
  const hasBody = reqChunks.length > 0 || req.trailers !== undefined
  let r = await ex.requestHeaders(!hasBody)
  const local = async () => {
    ex.done()
    const lr = r.localResponse!
    return { response: { status: lr.status, headers: lr.headers, body: lr.body }, local: lr, exchange: ex }
  }
  if (r.action === 'local') return local()
  take(r)
  for (let i = 0; i < reqChunks.length; i++) {
    r = await ex.requestBody(reqChunks[i]!, i === reqChunks.length - 1 && req.trailers === undefined)
    if (r.action === 'local') return local()
    take(r)
  }
  if (req.trailers) {
    r = await ex.requestTrailers(req.trailers)
    if (r.action === 'local') return local()
    take(r)
  }
  const upstream = { headers: upHeaders!, body: Buffer.concat(upBody), ...(upTrailers ? { trailers: upTrailers } : {}) }
  const respChunks = up.chunks ?? (up.body !== undefined ? [Buffer.from(up.body)] : [])
  const outBody: Buffer[] = []
  let outHeaders: HeaderMap | undefined
  let outTrailers: HeaderMap | undefined
  const hasRespBody = respChunks.length > 0 || up.trailers !== undefined
  let s = await ex.responseHeaders(up.status ?? 200, up.headers ?? {}, !hasRespBody)
  const takeResp = (x: typeof s) => {
    if (x.headers) outHeaders = x.headers
    outBody.push(...x.body)
    if (x.trailers) outTrailers = x.trailers
  }
  const localResp = () => {
    ex.done()
    const lr = s.localResponse!
    return { upstream, response: { status: lr.status, headers: lr.headers, body: lr.body }, local: lr, exchange: ex }
  }
  if (s.action === 'local') return localResp()
  takeResp(s)
  for (let i = 0; i < respChunks.length; i++) {
    s = await ex.responseBody(respChunks[i]!, i === respChunks.length - 1 && up.trailers === undefined)
    if (s.action === 'local') return localResp()
    if (s.action === 'closed') {
      ex.done()
      return { upstream, response: { status: Number(outHeaders?.get(':status')), headers: outHeaders!, body: Buffer.concat(outBody) }, closed: true, exchange: ex }
    }
    takeResp(s)
  }
  if (up.trailers) {
    s = await ex.responseTrailers(up.trailers)
    if (s.action === 'local') return localResp()
    takeResp(s)
  }
  ex.done()
  return {
    upstream,
    response: { status: Number(outHeaders?.get(':status')), headers: outHeaders!, body: Buffer.concat(outBody), ...(outTrailers ? { trailers: outTrailers } : {}) },
    exchange: ex,
  }
}

/** Loads plugins into one pipeline. */
export async function pipelineOf(host: WasmPluginHost, plugins: PluginOptions[], options: PipelineOptions = {}) {
  const loaded = []
  for (const p of plugins) loaded.push(await host.load(p))
  return new PluginPipeline(host, { ...options, plugins: loaded })
}
