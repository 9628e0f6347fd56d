import { describe, expect, it } from 'vitest'
import { WasmPluginHost } from '../../src/host/host.js'
import type { RootContext } from '../../src/host/context.js'
import type { Plugin } from '../../src/host/plugin.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { staticResolver } from '../../src/upstream/static.js'
import { calloutHosts } from '../callout-hosts.js'
import { fixture, run } from '../helpers.js'
import { deadPort, httpServer } from '../servers.js'

const newHost = calloutHosts()

async function pipeline(host: WasmPluginHost, name: string, config: Record<string, unknown>) {
  const plugin = await host.load({ wasm: fixture('go', name), config })
  return { plugin, pipe: new PluginPipeline(host, { plugins: [plugin] }) }
}

function rootOf(plugin: Plugin): RootContext {
  return [...plugin.vm!.contexts.values()].find((c) => c.isRoot) as RootContext
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('seed http-call example, serviceSource ip (static addresses)', () => {
  const seedConfig = { serviceSource: 'ip', serviceName: 'auth', servicePort: 80, requestPath: '/token?user=1', tokenHeader: 'x-token' }

  it('copies the token header of the service into the upstream request', async () => {
    const auth = await httpServer((_req, res) => res.writeHead(200, { 'x-token': 'tok-123' }).end('ok'))
    const { host, logs } = newHost({ resolvers: [staticResolver({ services: { auth: `127.0.0.1:${auth.port}` } })] })
    const { pipe } = await pipeline(host, 'http-call', seedConfig)
    const r = await run(pipe, { path: '/get', authority: 'example.com' }, { status: 200, body: 'up' })
    expect(r.local).toBeUndefined()
    expect(r.upstream!.headers.get('x-token')).toBe('tok-123')
    expect(r.response.body.toString()).toBe('up')
    // wasm-go's StaticIpCluster: cluster outbound|80||auth.static, :authority the service name.
    expect(auth.seen).toHaveLength(1)
    expect(auth.seen[0]).toMatchObject({ method: 'GET', url: '/token?user=1' })
    expect(auth.seen[0]!.headers.host).toBe('auth')
    expect(logs.some((l) => l.message.includes('get status: 200, response body: ok'))).toBe(true)
  })

  it('a non-200 answer gives the seed\'s 500 "http call failed"', async () => {
    const auth = await httpServer((_req, res) => res.writeHead(403).end('denied'))
    const { host, logs } = newHost({ resolvers: [staticResolver({ services: { auth: `127.0.0.1:${auth.port}` } })] })
    const { pipe } = await pipeline(host, 'http-call', seedConfig)
    const r = await run(pipe, { path: '/get', authority: 'example.com' })
    expect(r.upstream).toBeUndefined()
    expect(r.response.status).toBe(500)
    expect(r.response.body.toString()).toBe('http call failed')
    expect(logs.some((l) => l.level === 'error' && l.message.includes('http call failed, status: 403'))).toBe(true)
  })
})

describe('callouts from each phase (Go wasm-go fixture "callout")', () => {
  it('from request headers: pause, response headers and body reach the plugin, resume', async () => {
    const svc = await httpServer((req, res, body) => res.writeHead(201, { 'x-token': 'T', 'content-type': 'text/plain' }).end(`hi ${req.headers['x-caller']} ${body.length}`))
    const { host } = newHost({ upstreams: { 'outbound|80||svc.static': svc.url } })
    const { plugin, pipe } = await pipeline(host, 'callout', { cluster: 'outbound|80||svc.static', host: 'svc.local' })
    const r = await run(pipe, { path: '/x', authority: 'a.com' })
    expect(r.upstream!.headers.get('x-callout-status')).toBe('201')
    expect(r.upstream!.headers.get('x-callout-body')).toBe('hi callout 0')
    expect(r.upstream!.headers.get('x-callout-token')).toBe('T')
    expect(svc.seen[0]!.headers.host).toBe('svc.local')
    expect(rootOf(plugin).pending.size).toBe(0)
  })

  it('tokens are 4, 8, 12 …', async () => {
    const svc = await httpServer((_req, res) => res.end('x'))
    const tokens: number[] = []
    const { host } = newHost({ upstreams: { s: svc.url } })
    const { plugin, pipe } = await pipeline(host, 'callout', { cluster: 's' })
    const root = rootOf(plugin)
    const set = root.pending.set.bind(root.pending)
    root.pending.set = (k, v) => {
      tokens.push(k)
      return set(k, v)
    }
    for (let i = 0; i < 3; i++) await run(pipe, { authority: 'a' })
    expect(tokens).toEqual([4, 8, 12])
  })

  // A body-less response: with a body, Envoy's StopIteration (ABI 0.2.100) lets the first body
  // callback that returns Continue release the headers before the callout returns.
  it('from response headers: pauses the response, adds response headers, resumes it', async () => {
    const svc = await httpServer((_req, res) => res.writeHead(200, { 'x-token': 'R' }).end('resp'))
    const { host } = newHost({ upstreams: { s: svc.url } })
    const { pipe } = await pipeline(host, 'callout', { cluster: 's', mode: 'response' })
    const r = await run(pipe, { authority: 'a' }, { status: 204 })
    expect(r.upstream!.headers.has('x-callout-status')).toBe(false)
    expect(r.response.status).toBe(204)
    expect(r.response.headers.get('x-callout-status')).toBe('200')
    expect(r.response.headers.get('x-callout-token')).toBe('R')
    expect(r.response.headers.get('x-callout-body')).toBe('resp')
  })

  it('two calls in parallel before resume: both answers land, in any order', async () => {
    let n = 0
    const svc = await httpServer((req, res) => {
      n++
      // The first call answers last: the plugin must wait for both.
      setTimeout(() => res.end(`n=${new URL(req.url!, 'http://x').searchParams.get('n')}`), req.url!.endsWith('n=1') ? 60 : 5)
    })
    const { host } = newHost({ upstreams: { s: svc.url } })
    const { pipe } = await pipeline(host, 'callout', { cluster: 's', mode: 'parallel' })
    const r = await run(pipe, { authority: 'a' })
    expect(n).toBe(2)
    expect(r.upstream!.headers.get('x-callout-1-body')).toBe('n=1')
    expect(r.upstream!.headers.get('x-callout-2-body')).toBe('n=2')
    expect(r.upstream!.headers.get('x-callout-1-status')).toBe('200')
  })

  it('from proxy_on_tick (root context): the response reaches the root', async () => {
    const svc = await httpServer((req, res) => res.writeHead(200, { 'x-a': '1' }).end(`tick ${req.url}`))
    const { host, logs } = newHost({ upstreams: { 'outbound|80||tick.static': svc.url } })
    await host.load({ wasm: fixture('go', 'callout-tick'), config: { cluster: 'outbound|80||tick.static', host: 'tick' } })
    await until(() => logs.some((l) => l.message.startsWith('tick response:')))
    const line = logs.find((l) => l.message.startsWith('tick response:'))!.message
    expect(line).toMatch(/^tick response: headers=\d+ body=10 trailers=0 status=200 body=tick \/tick$/)
    expect(svc.seen[0]!.headers.host).toBe('tick')
  })

  it('an upstream slower than the timeout: the plugin sees Envoy\'s 504', async () => {
    const svc = await httpServer((_req, res) => setTimeout(() => res.end('late'), 400))
    const { host } = newHost({ upstreams: { s: svc.url } })
    const { plugin, pipe } = await pipeline(host, 'callout', { cluster: 's', timeout: 50 })
    const t0 = Date.now()
    const r = await run(pipe, { authority: 'a' })
    expect(Date.now() - t0).toBeLessThan(350)
    expect(r.upstream!.headers.get('x-callout-status')).toBe('504')
    expect(r.upstream!.headers.get('x-callout-body')).toBe('upstream request timeout')
    expect(rootOf(plugin).pending.size).toBe(0)
  })

  it('a dead upstream: the plugin sees Envoy\'s 503 connect-failure reply', async () => {
    const port = await deadPort()
    const { host } = newHost({ upstreams: { s: `http://127.0.0.1:${port}` } })
    const { pipe } = await pipeline(host, 'callout', { cluster: 's' })
    const r = await run(pipe, { authority: 'a' })
    expect(r.upstream!.headers.get('x-callout-status')).toBe('503')
    expect(r.upstream!.headers.get('x-callout-body')).toBe(
      'upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused')
  })

  it('an unknown name: BadArgument at once, the plugin\'s fallback runs, one warn line per name', async () => {
    const { host, logs } = newHost()
    const { pipe } = await pipeline(host, 'callout', { cluster: 'outbound|80||nope.static' })
    for (let i = 0; i < 3; i++) {
      const r = await run(pipe, { authority: 'a' })
      expect(r.upstream!.headers.get('x-callout-error')).toBe('error status returned by host: bad argument')
    }
    const warns = logs.filter((l) => l.level === 'warn' && l.message.includes('"outbound|80||nope.static"'))
    expect(warns).toHaveLength(1)
    expect(warns[0]!.plugin).toBe('callout')
  })

  it('a client that leaves while the call is pending: no crash, nothing left behind', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const svc = await httpServer((_req, res) => void gate.then(() => res.end('late')))
    const { host, logs } = newHost({ upstreams: { s: svc.url } })
    const { plugin, pipe } = await pipeline(host, 'callout', { cluster: 's', timeout: 0 })
    const ex = pipe.exchange({ authority: 'a' })
    const pending = ex.requestHeaders(true)
    await until(() => svc.seen.length === 1)
    expect(rootOf(plugin).pending.size).toBe(1)
    ex.abort()
    expect((await pending).action).toBe('closed')
    release()
    await until(() => rootOf(plugin).pending.size === 0)
    await new Promise((r) => setTimeout(r, 20))
    expect(plugin.healthy).toBe(true)
    expect(logs.filter((l) => l.level === 'error' || l.level === 'critical')).toEqual([])
    expect(plugin.vm!.contexts.size).toBe(1)
    // The plugin still serves.
    const r = await run(pipe, { authority: 'a' })
    expect(r.upstream!.headers.get('x-callout-body')).toBe('late')
  })

  it('pending calls are cancelled, with no callback, when the root context shuts down', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const svc = await httpServer((_req, res) => void gate.then(() => res.end('late')))
    const { host, logs } = newHost({ upstreams: { 'outbound|80||tick.static': svc.url } })
    const plugin = await host.load({ wasm: fixture('go', 'callout-tick'), config: { cluster: 'outbound|80||tick.static', host: 'tick' } })
    await until(() => svc.seen.length === 1)
    const root = rootOf(plugin)
    expect(root.pending.size).toBe(1)
    plugin.close()
    expect(root.pending.size).toBe(0)
    release()
    await new Promise((r) => setTimeout(r, 50))
    expect(logs.some((l) => l.message.startsWith('tick response:'))).toBe(false)
    expect(logs.filter((l) => l.level === 'error' || l.level === 'critical')).toEqual([])
  })

  it('1000 concurrent requests, each with a callout: all answered, nothing pending, no sockets left', async () => {
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length
    const before = sockets()
    let i = 0
    const svc = await httpServer((_req, res) => res.writeHead(200, { 'x-token': `t${i++}` }).end('ok'))
    const { host } = newHost({ upstreams: { s: svc.url } })
    const { plugin, pipe } = await pipeline(host, 'callout', { cluster: 's', timeout: 10_000 })
    const results = await Promise.all(Array.from({ length: 1000 }, () => run(pipe, { authority: 'a' })))
    const tokens = new Set(results.map((r) => r.upstream!.headers.get('x-callout-token')))
    expect(tokens.size).toBe(1000)
    expect(results.every((r) => r.upstream!.headers.get('x-callout-status') === '200')).toBe(true)
    expect(rootOf(plugin).pending.size).toBe(0)
    expect(plugin.vm!.contexts.size).toBe(1)
    await host.close()
    await svc.close()
    await until(() => sockets() <= before)
    expect(sockets()).toBeLessThanOrEqual(before)
  })
})
