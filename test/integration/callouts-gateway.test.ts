import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { createGateway } from '../../src/adapters/node/index.js'
import { WasmPluginHost } from '../../src/host/host.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { fixture } from '../helpers.js'
import { closeAll, deadPort, httpServer } from '../servers.js'

const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c()
  await closeAll()
})

async function gatewayFor(upstreams: Record<string, string | string[]>, upstream: string) {
  const host = new WasmPluginHost({ upstreams, logger: { level: 'error', log: () => undefined } })
  closers.push(() => host.close())
  const plugin = await host.load({ wasm: fixture('go', 'upstream-hosts') })
  const gw: Server = createGateway({ pipeline: new PluginPipeline(host, { plugins: [plugin] }), upstream })
  await new Promise<void>((r) => gw.listen(0, '127.0.0.1', r))
  closers.push(() => new Promise((r) => gw.close(r)))
  const url = `http://127.0.0.1:${(gw.address() as AddressInfo).port}`
  return async (headers: Record<string, string> = {}) => {
    const res = await request(`${url}/x`, { headers })
    return { status: res.statusCode, body: await res.body.text() }
  }
}

describe('gateway upstream as a cluster name; Higress upstream hostcalls', () => {
  it('round-robin over the cluster\'s endpoints; proxy_get_upstream_hosts lists them', async () => {
    const seen: string[] = []
    const a = await httpServer((req, res) => {
      seen.push(`a ${req.headers['x-upstream-hosts']}`)
      res.end('a')
    })
    const b = await httpServer((req, res) => {
      seen.push(`b ${req.headers['x-upstream-hosts']}`)
      res.end('b')
    })
    const send = await gatewayFor({ 'outbound|80||web.static': [a.url, b.url] }, 'outbound|80||web.static')
    const bodies = [await send(), await send(), await send(), await send()].map((r) => r.body)
    expect(bodies).toEqual(['a', 'b', 'a', 'b'])
    const hosts = `127.0.0.1:${a.port},127.0.0.1:${b.port}`
    expect(seen[0]).toBe(`a ${hosts}`)
  })

  it('proxy_set_upstream_override_host pins the request to that endpoint; an endpoint outside the cluster is ignored', async () => {
    const a = await httpServer((_req, res) => res.end('a'))
    const b = await httpServer((req, res) => res.end(`b ${req.headers['x-pin-result']}`))
    const send = await gatewayFor({ web: [a.url, b.url] }, 'web')
    for (let i = 0; i < 3; i++) expect((await send({ 'x-pin': `127.0.0.1:${b.port}` })).body).toBe('b ok')
    const other = [await send({ 'x-pin': '10.9.9.9:80' }), await send({ 'x-pin': '10.9.9.9:80' })].map((r) => r.body[0])
    expect(other.sort()).toEqual(['a', 'b'])
    // Not ip:port: the plugin gets an error.
    expect((await send({ 'x-pin': 'not an address' })).body).toMatch(/^[ab]/)
  })

  it('an endpoint that refuses connections: 503 once, then skipped', async () => {
    const port = await deadPort()
    const b = await httpServer((_req, res) => res.end('b'))
    const send = await gatewayFor({ web: [`http://127.0.0.1:${port}`, b.url] }, 'web')
    const first = await send()
    expect(first.status).toBe(503)
    expect(first.body).toMatch(/^upstream connect error or disconnect\/reset before headers/)
    for (let i = 0; i < 4; i++) expect(await send()).toEqual({ status: 200, body: 'b' })
  })

  it('an upstream name nothing resolves is a config error', () => {
    const host = new WasmPluginHost({ logger: { level: 'error', log: () => undefined } })
    closers.push(() => host.close())
    expect(() => createGateway({ pipeline: new PluginPipeline(host, { plugins: [] }), upstream: 'outbound|80||nope.static' }))
      .toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
  })
})
