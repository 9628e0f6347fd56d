import { describe, expect, it } from 'vitest'
import { parseClusterName } from '../../src/upstream/cluster-name.js'
import { staticResolver } from '../../src/upstream/static.js'
import { Upstreams } from '../../src/upstream/upstreams.js'

describe('parseClusterName: every dialect of ABI §8.3', () => {
  it.each([
    ['outbound|8080|v1|auth.prod.svc.cluster.local', { kind: 'k8s', service: 'auth', namespace: 'prod', port: 8080, subset: 'v1', fqdn: 'auth.prod.svc.cluster.local', direction: 'outbound' }],
    ['outbound|80||auth.default.svc', { kind: 'k8s', service: 'auth', namespace: 'default', port: 80, subset: '' }],
    ['outbound|80||auth.DEFAULT-GROUP.public.nacos', { kind: 'nacos', service: 'auth', group: 'DEFAULT_GROUP', namespace: 'public', external: false }],
    ['outbound|80|v2|com.example.Pay.MY-GROUP.4f1e.nacos-ext', { kind: 'nacos', service: 'com.example.Pay', group: 'MY_GROUP', namespace: '4f1e', external: true, subset: 'v2' }],
    ['outbound|80||auth.DEFAULT-GROUP..nacos', { kind: 'nacos', service: 'auth', group: 'DEFAULT_GROUP', namespace: '' }],
    ['outbound|80||auth.static', { kind: 'static', service: 'auth', port: 80 }],
    ['outbound|6379||redis.dns', { kind: 'dns', service: 'redis', port: 6379 }],
    ['outbound|8500||web.dc1.consul', { kind: 'consul', service: 'web', datacenter: 'dc1' }],
    ['outbound|443||api.example.com', { kind: 'fqdn', fqdn: 'api.example.com', port: 443 }],
    ['auth.example.com:8080', { kind: 'host', host: 'auth.example.com', port: 8080 }],
    ['10.0.0.5:80', { kind: 'host', host: '10.0.0.5', port: 80 }],
    ['10.0.0.5', { kind: 'host', host: '10.0.0.5', port: undefined }],
    ['[::1]:9000', { kind: 'host', host: '::1', port: 9000 }],
    ['api.example.com', { kind: 'host', host: 'api.example.com', port: undefined }],
    ['ext_authz', { kind: 'name' }],
    ['outbound|x||a.static', { kind: 'name' }],
    ['host:99999', { kind: 'name' }],
  ])('%s', (name, want) => {
    expect(parseClusterName(name)).toMatchObject({ raw: name, ...want })
  })
})

describe('Upstreams: explicit map first, then resolvers in order; round-robin; ejection', () => {
  it('exact name, then fqdn:port, then fqdn of an Envoy cluster name', async () => {
    const up = new Upstreams({ upstreams: { 'outbound|80||a.static': 'http://127.0.0.1:1', 'b.static:80': 'http://127.0.0.1:2', 'c.static': 'https://h.example/base/' } })
    expect(await up.resolve('outbound|80||a.static')).toEqual([{ host: '127.0.0.1', port: 1, protocol: 'http:' }])
    expect(await up.resolve('outbound|80||b.static')).toEqual([{ host: '127.0.0.1', port: 2, protocol: 'http:' }])
    expect(up.resolve('outbound|81||b.static')).toBeUndefined()
    expect(await up.resolve('outbound|9||c.static')).toEqual([{ host: 'h.example', port: 443, protocol: 'https:', basePath: '/base' }])
    expect(up.lookup('nothing')).toBeUndefined()
  })

  it('the first resolver that claims a name owns it', () => {
    const up = new Upstreams({ upstreams: { 'x.static': 'http://127.0.0.1:1' }, resolvers: [staticResolver({ services: { x: '10.0.0.1:80', y: '10.0.0.2:80' } })] })
    expect(up.lookup('outbound|80||x.static')!.kind).toBe('explicit')
    expect(up.lookup('outbound|80||y.static')!.kind).toBe('static')
    expect(up.lookup('10.1.1.1:8080')!.kind).toBe('static')
  })

  it('round-robin, an ejected endpoint skipped for ejectMs, panic mode when all are ejected', async () => {
    let now = 1000
    const up = new Upstreams({ resolvers: [staticResolver({ services: { s: '10.0.0.1:80, 10.0.0.2:80,10.0.0.3:80' } })], ejectMs: 500, now: () => now })
    const svc = up.lookup('outbound|80||s.static')!
    const hosts = async (n: number) => {
      const out: string[] = []
      for (let i = 0; i < n; i++) out.push((await svc.pick())!.host)
      return out
    }
    expect(await hosts(6)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.1', '10.0.0.2', '10.0.0.3'])
    svc.eject({ host: '10.0.0.2', port: 80 })
    expect(new Set(await hosts(6))).toEqual(new Set(['10.0.0.1', '10.0.0.3']))
    now += 501
    expect(new Set(await hosts(6))).toEqual(new Set(['10.0.0.1', '10.0.0.2', '10.0.0.3']))
    for (const h of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) svc.eject({ host: h, port: 80 })
    expect((await hosts(3)).length).toBe(3)
  })

  it('bad explicit URLs and non-resolvers are config errors', () => {
    expect(() => new Upstreams({ upstreams: { a: 'ftp://x' } })).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
    expect(() => new Upstreams({ upstreams: { a: 'not a url' } })).toThrow(/must be an http\(s\) URL/)
    expect(() => new Upstreams({ upstreams: { a: [] } })).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
    expect(() => new Upstreams({ resolvers: [{} as never] })).toThrow(/resolvers\[0\] is not a resolver/)
    expect(() => staticResolver({ services: { a: 'nope nope' } })).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
  })
})
