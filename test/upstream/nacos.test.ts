import { afterEach, describe, expect, it } from 'vitest'
import { WasmPluginHost } from '../../src/host/host.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { nacosResolver } from '../../src/upstream/nacos.js'
import { Upstreams } from '../../src/upstream/upstreams.js'
import { fixture, run, type LogLine } from '../helpers.js'
import { nacosServer, type NacosServer } from '../nacos-server.js'
import { closeAll, httpServer } from '../servers.js'

const servers: NacosServer[] = []
const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
  await Promise.all(servers.splice(0).map((s) => s.close()))
  await closeAll()
})

async function nacos(auth?: { username: string; password: string }) {
  const s = await nacosServer(auth)
  servers.push(s)
  return s
}

const AUTH = { username: 'nacos', password: 's3cret' }

describe('nacosResolver against a local server speaking the Nacos open API', () => {
  it('seed http-call with serviceSource nacos, auth on: login, accessToken, namespace and group', async () => {
    const svc = await httpServer((_req, res) => res.writeHead(200, { 'x-token': 'from-nacos' }).end())
    const n = await nacos(AUTH)
    n.setInstances('auth', [{ ip: '127.0.0.1', port: svc.port }], { namespace: 'dev' })
    const logs: LogLine[] = []
    const host = new WasmPluginHost({ resolvers: [nacosResolver({ serverAddr: n.url, ...AUTH })], logger: { level: 'info', log: (l, m, s) => logs.push({ level: l, message: m, plugin: s.plugin, origin: s.origin }) } })
    closers.push(() => host.close())
    const plugin = await host.load({
      wasm: fixture('go', 'http-call'),
      config: { serviceSource: 'nacos', serviceName: 'auth', namespace: 'dev', servicePort: 80, requestPath: '/token', tokenHeader: 'x-token' },
    })
    const r = await run(new PluginPipeline(host, { plugins: [plugin] }), { authority: 'a.com' })
    expect(r.upstream!.headers.get('x-token')).toBe('from-nacos')
    expect(svc.seen[0]!.headers.host).toBe('auth')
    expect(n.requests[0]).toBe('POST /nacos/v1/auth/login')
    expect(n.requests[1]).toMatch(/^GET \/nacos\/v1\/ns\/instance\/list\?serviceName=auth&groupName=DEFAULT_GROUP&healthyOnly=true&namespaceId=dev&accessToken=eyJ/)
  })

  it('v2 API: healthy and enabled instances only, weights drive the round-robin', async () => {
    const n = await nacos()
    n.setInstances('pay', [
      { ip: '10.0.0.1', port: 8080, weight: 3 },
      { ip: '10.0.0.2', port: 8080, weight: 1 },
      { ip: '10.0.0.3', port: 8080, healthy: false },
      { ip: '10.0.0.4', port: 8080, enabled: false },
      { ip: '10.0.0.5', port: 8080, weight: 0 },
    ], { group: 'PAY_GROUP' })
    const up = new Upstreams({ resolvers: [nacosResolver({ serverAddr: n.url.replace('http://', ''), apiVersion: 'v2' })] })
    closers.push(() => up.close())
    const name = 'outbound|80||pay.PAY-GROUP.public.nacos'
    expect(await up.resolve(name)).toEqual([{ host: '10.0.0.1', port: 8080, weight: 3 }, { host: '10.0.0.2', port: 8080, weight: 1 }])
    expect(n.requests[0]).toBe('GET /nacos/v2/ns/instance/list?serviceName=pay&groupName=PAY_GROUP&healthyOnly=true')
    const svc = up.lookup(name)!
    const picks: string[] = []
    for (let i = 0; i < 8; i++) picks.push((await svc.pick())!.host)
    expect(picks.filter((h) => h === '10.0.0.1')).toHaveLength(6)
    expect(picks.filter((h) => h === '10.0.0.2')).toHaveLength(2)
    // Cached for refreshMs: one list request for all of that.
    expect(n.requests).toHaveLength(1)
  })

  it('Nacos 403 (wrong password): the call gets 503 no healthy upstream, the log says why', async () => {
    const n = await nacos(AUTH)
    n.setInstances('auth', [{ ip: '127.0.0.1', port: 1 }])
    const logs: LogLine[] = []
    const host = new WasmPluginHost({ resolvers: [nacosResolver({ serverAddr: n.url, username: 'nacos', password: 'wrong' })], logger: { level: 'info', log: (l, m, s) => logs.push({ level: l, message: m, plugin: s.plugin, origin: s.origin }) } })
    closers.push(() => host.close())
    const plugin = await host.load({ wasm: fixture('go', 'callout'), config: { cluster: 'outbound|80||auth.DEFAULT-GROUP.public.nacos' } })
    const r = await run(new PluginPipeline(host, { plugins: [plugin] }), { authority: 'a' })
    expect(r.upstream!.headers.get('x-callout-status')).toBe('503')
    expect(r.upstream!.headers.get('x-callout-body')).toBe('no healthy upstream')
    expect(logs.some((l) => l.level === 'warn' && l.message.includes('login as "nacos" refused: HTTP 403 unknown user!'))).toBe(true)
    // Without credentials the list itself is refused.
    const anon = new Upstreams({ resolvers: [nacosResolver({ serverAddr: n.url })] })
    closers.push(() => anon.close())
    await expect(anon.resolve('outbound|80||auth.DEFAULT-GROUP.public.nacos')).rejects.toMatchObject({ code: 'PWH_ERR_UPSTREAM_RESOLVE', message: expect.stringContaining('HTTP 403 user not found!') })
  })

  it('an expired token: logs in again once and goes on', async () => {
    const n = await nacos(AUTH)
    n.setInstances('auth', [{ ip: '10.0.0.9', port: 80 }])
    const up = new Upstreams({ resolvers: [nacosResolver({ serverAddr: n.url, ...AUTH, refreshMs: 0 })] })
    closers.push(() => up.close())
    const name = 'outbound|80||auth.DEFAULT-GROUP.public.nacos'
    expect(await up.resolve(name)).toEqual([{ host: '10.0.0.9', port: 80, weight: 1 }])
    n.revokeTokens()
    n.setInstances('auth', [{ ip: '10.0.0.10', port: 80 }])
    expect(await up.resolve(name)).toEqual([{ host: '10.0.0.10', port: 80, weight: 1 }])
    expect(n.requests.filter((r) => r.startsWith('POST /nacos/v1/auth/login'))).toHaveLength(2)
  })

  it('bad options are config errors', () => {
    expect(() => nacosResolver({ serverAddr: [] })).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
    expect(() => nacosResolver({ serverAddr: 'http://[bad' })).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
  })
})
