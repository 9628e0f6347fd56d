import { describe, expect, it } from 'vitest'
import { WasmPluginHost } from '../../src/host/host.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { calloutHosts } from '../callout-hosts.js'
import { fixture, run } from '../helpers.js'
import { httpServer } from '../servers.js'

const newHost = calloutHosts()

const GOOD: Array<[string, string]> = [[':method', 'GET'], [':path', '/p'], [':authority', 'svc']]

async function raw(host: WasmPluginHost, config: Record<string, unknown>) {
  const plugin = await host.load({ wasm: fixture('go', 'callout-raw'), config: { cluster: 's', timeout: 2000, ...config } })
  return run(new PluginPipeline(host, { plugins: [plugin] }), { authority: 'a' })
}

describe('callout bad input: BadArgument, never a hung request', () => {
  it.each([':method', ':path', ':authority'])('missing %s', async (name) => {
    const svc = await httpServer((_req, res) => res.end('x'))
    const { host } = newHost({ upstreams: { s: svc.url } })
    const r = await raw(host, { headers: GOOD.filter(([k]) => k !== name) })
    expect(r.upstream!.headers.get('x-dispatch-error')).toBe('error status returned by host: bad argument')
    expect(svc.seen).toHaveLength(0)
  })

  it.each([
    ['CR/LF in a value', [...GOOD, ['x-evil', 'a\r\nx-injected: 1']]],
    ['LF in a name', [...GOOD, ['x-a\nb', '1']]],
    ['NUL in a value', [...GOOD, ['x-a', 'a\u0000b']]],
    ['CR in :path', [[':method', 'GET'], [':path', '/p\r'], [':authority', 'svc']]],
  ])('%s', async (_what, headers) => {
    const svc = await httpServer((_req, res) => res.end('x'))
    const { host } = newHost({ upstreams: { s: svc.url } })
    const r = await raw(host, { headers })
    expect(r.upstream!.headers.get('x-dispatch-error')).toBe('error status returned by host: bad argument')
    expect(svc.seen).toHaveLength(0)
  })

  it('timeout ≥ 2^31 ms is BadArgument (a negative int in Envoy); 2^31 - 1 is accepted', async () => {
    const svc = await httpServer((_req, res) => res.end('fine'))
    const { host } = newHost({ upstreams: { s: svc.url } })
    const bad = await raw(host, { headers: GOOD, timeout: 2 ** 31 })
    expect(bad.upstream!.headers.get('x-dispatch-error')).toBe('error status returned by host: bad argument')
    const ok = await raw(host, { headers: GOOD, timeout: 2 ** 31 - 1 })
    expect(ok.upstream!.headers.get('x-response-body')).toBe('fine')
  })

  it('a request body is sent with its content-length; repeated headers stay repeated', async () => {
    const svc = await httpServer((_req, res) => res.end('ok'))
    const { host } = newHost({ upstreams: { s: svc.url } })
    const r = await raw(host, { headers: [[':method', 'POST'], [':path', '/in'], [':authority', 'svc'], ['x-m', '1'], ['x-m', '2']], body: 'hello' })
    expect(r.upstream!.headers.get('x-response-status')).toBe('200')
    expect(svc.seen[0]).toMatchObject({ method: 'POST', url: '/in', body: 'hello' })
    expect(svc.seen[0]!.headers['content-length']).toBe('5')
    expect(svc.seen[0]!.headers['x-m']).toBe('1, 2')
  })

  it.each([
    ['with content-length', true],
    ['chunked', false],
  ])('a response body over limits.maxCalloutResponseBytes is a reset (0, 0, 0) — %s', async (_what, withLength) => {
    const big = Buffer.alloc(5000, 'a')
    const svc = await httpServer((_req, res) => {
      if (withLength) res.writeHead(200, { 'content-length': String(big.byteLength) })
      res.end(big)
    })
    const { host } = newHost({ upstreams: { s: svc.url }, limits: { maxCalloutResponseBytes: 1000 } })
    const r = await raw(host, { headers: GOOD })
    expect(r.upstream!.headers.get('x-response')).toBe('headers=0 body=0 trailers=0')
    expect(r.upstream!.headers.get('x-response-status')).toBe('none')
    // At the cap exactly, the body is delivered.
    const { host: h2 } = newHost({ upstreams: { s: svc.url }, limits: { maxCalloutResponseBytes: 5000 } })
    const ok = await raw(h2, { headers: GOOD })
    expect(ok.upstream!.headers.get('x-response')).toMatch(/^headers=\d+ body=5000 trailers=0$/)
  })

  it('a reset after the response started: (0, 0, 0) and proxy_get_status 11 "reset"; a later response: 0 ""', async () => {
    let reset = true
    const svc = await httpServer((_req, res) => {
      if (!reset) return void res.end('fine')
      res.writeHead(200, { 'content-length': '100' })
      res.write('abc', () => res.socket?.destroy())
    })
    const { host, logs } = newHost({ upstreams: { 'status-svc': svc.url } })
    const plugin = await host.load({ wasm: fixture('wat', 'callout-status') })
    const pipe = new PluginPipeline(host, { plugins: [plugin] })
    const until = async (n: number) => {
      const end = Date.now() + 5000
      while (logs.filter((l) => l.message.startsWith('status ')).length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
    }
    await run(pipe, { authority: 'a' })
    await until(1)
    expect(logs.filter((l) => l.origin === 'proxy_log').map((l) => l.message)).toEqual(['counts 000', 'status 11 reset'])
    reset = false
    await run(pipe, { authority: 'a' })
    await until(2)
    const lines = logs.filter((l) => l.origin === 'proxy_log').map((l) => l.message)
    expect(lines[2]).toMatch(/^counts \d40$/)
    expect(lines[3]).toBe('status 00 ')
  })
})
