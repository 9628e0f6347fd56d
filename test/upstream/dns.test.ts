import { afterEach, describe, expect, it } from 'vitest'
import { WasmPluginHost } from '../../src/host/host.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { dnsResolver } from '../../src/upstream/dns.js'
import { Upstreams } from '../../src/upstream/upstreams.js'
import { dnsServer, type DnsServer } from '../dns-server.js'
import { fixture, run } from '../helpers.js'
import { closeAll, httpServer } from '../servers.js'

const dns: DnsServer[] = []
const hosts: WasmPluginHost[] = []
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()))
  await Promise.all(dns.splice(0).map((d) => d.close()))
  await closeAll()
})

async function server(...args: Parameters<typeof dnsServer>) {
  const d = await dnsServer(...args)
  dns.push(d)
  return d
}

describe('dnsResolver against a DNS server on 127.0.0.1 (real wire protocol)', () => {
  it('seed http-call with serviceSource dns: the domain from DnsCluster, the token lands upstream', async () => {
    const auth = await httpServer((_req, res) => res.writeHead(200, { 'x-token': 'from-dns' }).end())
    const d = await server({ A: { 'auth.svc.test': ['127.0.0.1'] } })
    const host = new WasmPluginHost({ resolvers: [dnsResolver({ servers: [d.address] })], logger: { level: 'warn', log: () => undefined } })
    hosts.push(host)
    const plugin = await host.load({
      wasm: fixture('go', 'http-call'),
      config: { serviceSource: 'dns', serviceName: 'auth', servicePort: auth.port, domain: 'auth.svc.test', requestPath: '/token', tokenHeader: 'x-token' },
    })
    const r = await run(new PluginPipeline(host, { plugins: [plugin] }), { authority: 'example.com' })
    expect(r.upstream!.headers.get('x-token')).toBe('from-dns')
    expect(d.queries).toEqual(['A auth.svc.test'])
    expect(auth.seen[0]!.headers.host).toBe('auth.svc.test')
  })

  it('NXDOMAIN: no healthy upstream (503), the seed answers 500, nothing hangs', async () => {
    const d = await server({})
    const host = new WasmPluginHost({ resolvers: [dnsResolver({ servers: [d.address] })], logger: { level: 'warn', log: () => undefined } })
    hosts.push(host)
    const seed = await host.load({
      wasm: fixture('go', 'http-call'),
      config: { serviceSource: 'dns', serviceName: 'auth', servicePort: 80, domain: 'missing.test', requestPath: '/token', tokenHeader: 'x-token' },
    })
    const r = await run(new PluginPipeline(host, { plugins: [seed] }), { authority: 'example.com' })
    expect(r.response.status).toBe(500)
    expect(r.response.body.toString()).toBe('http call failed')
    const callout = await host.load({ wasm: fixture('go', 'callout'), config: { cluster: 'outbound|80||missing.dns', host: 'missing.test' } })
    const r2 = await run(new PluginPipeline(host, { plugins: [callout] }), { authority: 'a' })
    expect(r2.upstream!.headers.get('x-callout-status')).toBe('503')
    expect(r2.upstream!.headers.get('x-callout-body')).toBe('no healthy upstream')
  })

  it('answers are cached for their TTL, then asked again', async () => {
    const d = await server({ A: { 'a.test': ['10.0.0.1', '10.0.0.2'] } }, 1)
    const up = new Upstreams({ resolvers: [dnsResolver({ servers: [d.address], minTtlMs: 0 })] })
    expect(await up.resolve('outbound|8080||a.test')).toEqual([{ host: '10.0.0.1', port: 8080 }, { host: '10.0.0.2', port: 8080 }])
    await up.resolve('outbound|8080||a.test')
    expect(d.queries).toEqual(['A a.test'])
    d.records.A!['a.test'] = ['10.0.0.3']
    await new Promise((r) => setTimeout(r, 1100))
    expect(await up.resolve('outbound|8080||a.test')).toEqual([{ host: '10.0.0.3', port: 8080 }])
    expect(d.queries).toEqual(['A a.test', 'A a.test'])
    await up.close()
  })

  it('AAAA when there is no A record; SRV with ports, weights and the lowest priority', async () => {
    const d = await server({
      AAAA: { 'v6.test': ['::1'] },
      A: { 'n1.test': ['10.0.0.1'], 'n2.test': ['10.0.0.2'], 'n3.test': ['10.0.0.3'] },
      SRV: { '_http._tcp.svc.test': [{ target: 'n1.test', port: 81, weight: 5 }, { target: 'n2.test', port: 82, weight: 1 }, { target: 'n3.test', port: 83, priority: 10 }] },
    })
    const up = new Upstreams({ resolvers: [dnsResolver({ servers: [d.address] })] })
    expect(await up.resolve('v6.test:9000')).toEqual([{ host: '::1', port: 9000 }])
    const srv = new Upstreams({ resolvers: [dnsResolver({ servers: [d.address], record: 'SRV', services: { svc: '_http._tcp.svc.test' } })] })
    expect(await srv.resolve('outbound|80||svc.dns')).toEqual([{ host: '10.0.0.1', port: 81, weight: 5 }, { host: '10.0.0.2', port: 82, weight: 1 }])
    // Weighted round-robin: 5 to 1.
    const svc = srv.lookup('outbound|80||svc.dns')!
    const picks: number[] = []
    for (let i = 0; i < 12; i++) picks.push((await svc.pick())!.port)
    expect(picks.filter((p) => p === 81)).toHaveLength(10)
    expect(picks.filter((p) => p === 82)).toHaveLength(2)
    await up.close()
    await srv.close()
  })

  it('a server that stops answering: the last good answer is kept; without one, a clear error', async () => {
    const d = await server({ A: { 'k.test': ['10.0.0.9'] } }, 1)
    const up = new Upstreams({ resolvers: [dnsResolver({ servers: [d.address], minTtlMs: 0, timeoutMs: 100, tries: 1 })] })
    expect(await up.resolve('outbound|80||k.test')).toEqual([{ host: '10.0.0.9', port: 80 }])
    await d.close()
    dns.splice(dns.indexOf(d), 1)
    await new Promise((r) => setTimeout(r, 1100))
    expect(await up.resolve('outbound|80||k.test')).toEqual([{ host: '10.0.0.9', port: 80 }])
    await expect(up.resolve('outbound|80||other.test')).rejects.toThrow(/^DNS lookup of other\.test failed: E[A-Z]+ /)
    await up.close()
  })

  it('does not claim a .dns service it has no domain for, nor IP literals', () => {
    const up = new Upstreams({ resolvers: [dnsResolver({ servers: ['127.0.0.1:1'] })] })
    expect(up.lookup('outbound|80||auth.dns')).toBeUndefined()
    expect(up.lookup('outbound|80||auth.dns', { authority: 'auth.example.com' })?.kind).toBe('dns')
    expect(up.lookup('10.0.0.1:80')).toBeUndefined()
    expect(() => dnsResolver({ servers: ['not an address'] })).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
  })
})
