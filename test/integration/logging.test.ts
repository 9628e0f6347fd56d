// Logs users can read: pino, console and { level, log } loggers with the plugin name and request
// id on every plugin line; serve's access log; the diagnostics channels; plugin failures handed to
// Express / Koa / Fastify error handling.
import { Console } from 'node:console'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import express from 'express'
import Fastify from 'fastify'
import Koa from 'koa'
import pino from 'pino'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { proxyWasm as expressProxyWasm } from '../../src/adapters/express/index.js'
import { proxyWasmFastify } from '../../src/adapters/fastify/index.js'
import { proxyWasm as koaProxyWasm } from '../../src/adapters/koa/index.js'
import { serve, type Serving } from '../../src/cli/serve.js'
import { DIAGNOSTICS_CHANNELS, type ActionMessage, type CallbackMessage, type HostcallMessage } from '../../src/host/diagnostics.js'
import { WasmPluginHost } from '../../src/host/host.js'
import { createConsoleLogger, type LoggerLike } from '../../src/host/logger.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { fixture, run } from '../helpers.js'

const closers: Array<() => unknown> = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
})

function newHost(logger: LoggerLike): WasmPluginHost {
  const host = new WasmPluginHost({ logger })
  closers.push(() => host.close())
  return host
}

function lines(): { stream: Writable; text: string[] } {
  const text: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text.push(...chunk.toString().split('\n').filter(Boolean))
      cb()
    },
  })
  return { stream, text }
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => new Promise((r) => server.close(r)))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('loggers', () => {
  it('a pino instance gets a child per plugin; lines carry the request id', async () => {
    const out = lines()
    const logger = pino({ level: 'debug' }, out.stream)
    const host = newHost(logger)
    const plugin = await host.load({ wasm: fixture('go', 'logging'), name: 'chatty' })
    // pino's level decides what the plugin is told to log (proxy_get_log_level).
    expect(plugin.logLevel).toBe(1)
    await run(new PluginPipeline(host, { plugins: [plugin] }), { path: '/', headers: { 'x-request-id': 'req-42' } })
    const records = out.text.map((l) => JSON.parse(l) as Record<string, unknown>)
    const plugin42 = records.filter((r) => r.requestId === 'req-42')
    expect(plugin42.map((r) => r.msg)).toEqual(['debug message', 'info message', 'warn message', 'error message', 'critical message', 'stdout line', 'stderr line'])
    for (const r of plugin42) expect(r).toMatchObject({ plugin: 'chatty', origin: expect.stringMatching(/^(proxy_log|stdout|stderr)$/), contextId: expect.any(Number) })
    // pino's numeric levels: critical → fatal (60), stderr → error (50).
    expect(plugin42.find((r) => r.msg === 'critical message')!.level).toBe(60)
    expect(plugin42.find((r) => r.msg === 'stderr line')!.level).toBe(50)
  })

  it("Fastify's app.log works as the host logger", async () => {
    const out = lines()
    const app = Fastify({ logger: { level: 'info', stream: out.stream } })
    closers.push(() => app.close())
    const host = newHost(app.log)
    const pipeline = new PluginPipeline(host, { plugins: [await host.load({ wasm: fixture('go', 'logging'), name: 'chatty' })] })
    await app.register(proxyWasmFastify, { pipeline })
    app.get('/', async () => 'ok')
    await app.inject({ url: '/', headers: { 'x-request-id': 'fy-1' } })
    const rec = out.text.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.msg === 'info message')
    expect(rec).toMatchObject({ plugin: 'chatty', requestId: 'fy-1', level: 30 })
  })

  it('console-shaped loggers and createConsoleLogger print the plugin and request id', async () => {
    const out = lines()
    const err = lines()
    const host = newHost(new Console({ stdout: out.stream, stderr: err.stream }))
    await run(new PluginPipeline(host, { plugins: [await host.load({ wasm: fixture('go', 'logging'), name: 'chatty' })] }), { headers: { 'x-request-id': 'c-1' } })
    expect(out.text).toContain('[chatty] [c-1] info message')
    expect(out.text).not.toContain('[chatty] [c-1] debug message') // console: level info
    expect(err.text).toContain('[chatty] [c-1] warn message')
    const seen: string[] = []
    const host2 = newHost(createConsoleLogger('info', { timestamps: true, write: (l) => seen.push(l) }))
    await run(new PluginPipeline(host2, { plugins: [await host2.load({ wasm: fixture('go', 'logging'), name: 'chatty' })] }), {})
    // Without an x-request-id header, an id is drawn for the request: the same on every line of it.
    const info = seen.find((l) => l.endsWith(' info message'))!
    expect(info).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}\[chatty\] \[[0-9a-f-]{36}\] info message$/)
    const id = /\[([0-9a-f-]{36})\]/.exec(info)![1]
    expect(seen.filter((l) => l.includes(` [chatty] [${id}] `))).toHaveLength(6)
  })

  it('refuses a logger of no known shape', () => {
    expect(() => new WasmPluginHost({ logger: {} as never })).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
  })
})

describe('serve access log', () => {
  it('one line per request: method, path, status, time, plugins that acted', async () => {
    const seen: string[] = []
    const s: Serving = await serve({
      plugins: [{ file: fixture('go', 'hello-mock'), config: { inline: { mockEnable: false } } }, { file: fixture('wat', 'abi-0-2-1') }],
      port: 0,
      host: '127.0.0.1',
      watch: false,
      logger: createConsoleLogger('info', { timestamps: true, write: (l) => seen.push(l) }),
      demo: fixture('wat', 'abi-0-2-1'),
      print: () => {},
    })
    closers.push(() => s.close(0))
    await (await request(`${s.url}/anything?x=1`, { headers: { 'x-request-id': 'acc-1' } })).body.text()
    const line = await waitFor(seen, (l) => l.includes('[access] [acc-1]'))
    expect(line).toMatch(/^\S+Z INFO {2}\[access\] \[acc-1\] GET \/anything\?x=1 200 \d+\.\d ms plugins=hello-mock,abi-0-2-1$/)
  })

  it('marks the plugin that answered', async () => {
    const seen: string[] = []
    const s = await serve({
      plugins: [{ file: fixture('go', 'hello-mock'), config: { inline: { mockEnable: true } } }],
      port: 0, host: '127.0.0.1', watch: false,
      logger: createConsoleLogger('info', { write: (l) => seen.push(l) }),
      demo: '', print: () => {},
    })
    closers.push(() => s.close(0))
    await (await request(`${s.url}/x`)).body.text()
    // serve gives the request an x-request-id when the client sent none.
    expect(await waitFor(seen, (l) => l.includes('[access]'))).toMatch(/^\[info\] \[access\] \[[0-9a-f-]{36}\] GET \/x 200 \d+\.\d ms plugins=hello-mock\[local 200\]$/)
  })
})

async function waitFor(list: string[], pred: (l: string) => boolean): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const hit = list.find(pred)
    if (hit) return hit
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`no line matched; lines:\n${list.join('\n')}`)
}

describe('diagnostics channels', () => {
  it('a callback subscriber sees the callbacks of one request in order; actions say what followed', async () => {
    const host = newHost({ level: 'critical', log: () => {} })
    const pipeline = new PluginPipeline(host, { plugins: [await host.load({ wasm: fixture('go', 'hello-mock'), name: 'mock', config: { mockEnable: false } })] })
    const calls: CallbackMessage[] = []
    const actions: ActionMessage[] = []
    const onCall = (m: unknown) => calls.push(m as CallbackMessage)
    const onAction = (m: unknown) => actions.push(m as ActionMessage)
    subscribe(DIAGNOSTICS_CHANNELS.callback, onCall)
    subscribe(DIAGNOSTICS_CHANNELS.action, onAction)
    try {
      await run(pipeline, { path: '/', headers: { 'x-request-id': 'trace-1' } }, { body: 'up' })
      await run(pipeline, { path: '/', headers: { 'x-request-id': 'other' } })
    } finally {
      unsubscribe(DIAGNOSTICS_CHANNELS.callback, onCall)
      unsubscribe(DIAGNOSTICS_CHANNELS.action, onAction)
    }
    const mine = calls.filter((c) => c.requestId === 'trace-1')
    expect(mine.map((c) => c.callback)).toEqual([
      'proxy_on_context_create', 'proxy_on_request_headers', 'proxy_on_response_headers', 'proxy_on_response_body',
      'proxy_on_log', 'proxy_on_done', 'proxy_on_delete',
    ])
    const ctxId = mine[0]!.contextId
    expect(mine.every((c) => c.plugin === 'mock' && c.contextId === ctxId && c.durationMs >= 0)).toBe(true)
    expect(mine[1]!.args[0]).toBe(ctxId)
    expect(actions.filter((a) => a.requestId === 'trace-1').map((a) => `${a.callback}:${a.action}`)).toEqual([
      'proxy_on_request_headers:continue', 'proxy_on_response_headers:continue', 'proxy_on_response_body:continue',
    ])
    expect(calls.some((c) => c.requestId === 'other')).toBe(true)
  })

  it('hostcalls are traced for VMs started while the channel has a subscriber', async () => {
    const host = newHost({ level: 'critical', log: () => {} })
    const before = await host.load({ wasm: fixture('wat', 'abi-0-2-1'), name: 'before' })
    const seen: HostcallMessage[] = []
    const onHostcall = (m: unknown) => seen.push(m as HostcallMessage)
    subscribe(DIAGNOSTICS_CHANNELS.hostcall, onHostcall)
    try {
      const after = await host.load({ wasm: fixture('wat', 'abi-0-2-1'), name: 'after' })
      await run(new PluginPipeline(host, { plugins: [before, after] }), { headers: { 'x-request-id': 'h-1' } })
    } finally {
      unsubscribe(DIAGNOSTICS_CHANNELS.hostcall, onHostcall)
    }
    expect(new Set(seen.map((m) => m.plugin))).toEqual(new Set(['after']))
    expect(seen.find((m) => m.requestId === 'h-1' && m.name === 'proxy_add_header_map_value')).toMatchObject({ result: 0 })
  })
})

describe('onPluginError: forward', () => {
  const trapPipeline = async () => {
    const host = newHost({ level: 'critical', log: () => {} })
    return new PluginPipeline(host, { plugins: [await host.load({ wasm: fixture('go', 'panic'), name: 'boom' })] })
  }

  it('Express: the error middleware gets the PluginFailureError', async () => {
    const pipeline = await trapPipeline()
    const app = express()
    app.use(expressProxyWasm({ pipeline, onPluginError: 'forward' }))
    app.get('/', (_req, res) => res.send('app'))
    app.use((err: { code?: string; plugin?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(503).json({ caught: err.code, plugin: err.plugin })
    })
    const url = await listen(createServer(app))
    const r = await request(`${url}/`, { headers: { 'x-panic': '1' } })
    expect(r.statusCode).toBe(503)
    expect(await r.body.json()).toEqual({ caught: 'PWH_ERR_PLUGIN_TRAP', plugin: 'boom' })
    // Without the option, the fail strategy's 500.
    const app2 = express()
    app2.use(expressProxyWasm({ pipeline: await trapPipeline() }))
    app2.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => res.status(503).end())
    const url2 = await listen(createServer(app2))
    const r2 = await request(`${url2}/`, { headers: { 'x-panic': '1' } })
    expect(r2.statusCode).toBe(500)
    expect(await r2.body.text()).toBe('plugin boom failed')
  })

  it('Koa: ctx.throw(500, err) reaches the error-handling middleware', async () => {
    const pipeline = await trapPipeline()
    const app = new Koa()
    app.use(async (ctx, next) => {
      try {
        await next()
      } catch (err) {
        const e = err as { code?: string; status?: number }
        ctx.status = 503
        ctx.body = { caught: e.code, status: e.status }
      }
    })
    app.use(koaProxyWasm({ pipeline, onPluginError: 'forward' }))
    app.use((ctx) => {
      ctx.body = 'app'
    })
    const url = await listen(createServer(app.callback()))
    const r = await request(`${url}/`, { headers: { 'x-panic': '1' } })
    expect(r.statusCode).toBe(503)
    expect(await r.body.json()).toEqual({ caught: 'PWH_ERR_PLUGIN_TRAP', status: 500 })
  })

  it("Fastify: the app's error handler answers", async () => {
    const pipeline = await trapPipeline()
    const app = Fastify()
    closers.push(() => app.close())
    app.setErrorHandler((err: { code?: string }, _req, reply) => reply.code(503).send({ caught: err.code }))
    await app.register(proxyWasmFastify, { pipeline, onPluginError: 'forward' })
    app.get('/', async () => 'app')
    const r = await app.inject({ url: '/', headers: { 'x-panic': '1' } })
    expect(r.statusCode).toBe(503)
    expect(r.json()).toEqual({ caught: 'PWH_ERR_PLUGIN_TRAP' })
  })
})

