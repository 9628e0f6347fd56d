// Higress Redis hostcalls against real redis-server processes started by the tests: the seed's rate
// limiter, RESP fidelity against a raw socket, query bytes on the wire, NOAUTH re-init, Redis Cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock, type Clock } from '../../src/host/clock.js'
import type { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { fixture, hostsClosedAfterEach, pipelineOf, run } from '../helpers.js'
import { rawRequest, recordingProxy, startRedis, startRedisCluster, type RedisCluster, type RedisServer } from '../helpers/redis-server.js'
import { dnsServer } from '../dns-server.js'
import { dnsResolver } from '../../src/upstream/dns.js'
import { staticResolver } from '../../src/upstream/static.js'

const newHost = hostsClosedAfterEach()
const CLUSTER = 'outbound|6379||redis.dns'
const seedConfig = (qpm: number, extra: Record<string, unknown> = {}) => ({
  serviceName: 'redis', servicePort: 6379, domain: 'redis.example.com', username: '', password: '', timeout: 500, qpm, ...extra,
})

/** The system clock with the wall clock pinned to `atMs` (plus the time since), so a test never straddles a minute. */
function clockAt(atMs: number): Clock {
  const start = systemClock.now()
  return {
    ...systemClock,
    now: () => atMs + (systemClock.now() - start),
    realtimeNs: () => BigInt(atMs + (systemClock.now() - start)) * 1_000_000n,
  }
}
const MINUTE = 60_000
const minuteStart = (n: number) => Math.floor(systemClock.now() / MINUTE) * MINUTE - n * MINUTE + 1_000

const resp = (...args: string[]) => Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`)
const b64 = (b: Buffer) => b.toString('base64')

async function rawCall(pipeline: PluginPipeline, query: Buffer) {
  const r = await run(pipeline, { path: '/', authority: 'example.com', headers: { 'x-query': b64(query) } })
  return r
}

describe('seed Redis rate limit (redis-ratelimit fixture)', () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('qpm 3: three requests pass with timeStamp and CallTimeLeft, the fourth gets 429 with CallTimeLeft 0', async () => {
    const at = minuteStart(10)
    const { host } = newHost('info', { redis: { clusters: { [CLUSTER]: redis.url } }, clock: clockAt(at) })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('go', 'redis-ratelimit'), config: seedConfig(3) }])
    const ts = String(Math.floor(at / MINUTE) * 60)
    for (const left of ['2', '1', '0']) {
      const r = await run(pipeline, { path: '/', authority: 'example.com' }, { status: 200, body: 'ok' })
      expect(r.local).toBeUndefined()
      expect(r.response.status).toBe(200)
      expect(r.response.headers.get('timestamp')).toBe(ts)
      expect(r.response.headers.get('calltimeleft')).toBe(left)
    }
    const r = await run(pipeline, { path: '/', authority: 'example.com' })
    expect(r.local?.status).toBe(429)
    expect(r.response.body.toString()).toBe('Too many requests')
    expect(r.local?.headers).toContainEqual(['timestamp', ts])
    expect(r.local?.headers).toContainEqual(['calltimeleft', '0'])
    // The counter lives in Redis, with the seed's 60 s expiry.
    expect((await rawRequest(redis.port, resp('GET', ts))).toString()).toBe('$1\r\n4\r\n')
    const ttl = Number((await rawRequest(redis.port, resp('TTL', ts))).toString().slice(1))
    expect(ttl).toBeGreaterThan(50)
    expect(ttl).toBeLessThanOrEqual(60)
  })

  it('a wrong password takes the error path (430), never a pass', async () => {
    const locked = await startRedis({ password: 'right-password' })
    try {
      const { host, logs } = newHost('info', { redis: { clusters: { [CLUSTER]: locked.url } }, clock: clockAt(minuteStart(20)) })
      const pipeline = await pipelineOf(host, [{ wasm: fixture('go', 'redis-ratelimit'), config: seedConfig(3, { password: 'wrong' }) }])
      for (let i = 0; i < 2; i++) {
        const r = await run(pipeline, { path: '/', authority: 'example.com' })
        expect(r.local?.status).toBe(430)
        expect(r.response.body.toString()).toBe('Error while calling redis')
      }
      expect(logs.some((l) => l.message.includes('Error occured while calling redis'))).toBe(true)
    } finally {
      await locked.stop()
    }
  })

  it('Redis stopped mid-test: the next request gets the seed\'s 430 at once, and passes again once Redis is back', async () => {
    const server = await startRedis()
    try {
      const { host } = newHost('info', { redis: { clusters: { [CLUSTER]: server.url } }, clock: clockAt(minuteStart(30)) })
      const pipeline = await pipelineOf(host, [{ wasm: fixture('go', 'redis-ratelimit'), config: seedConfig(100) }])
      const ok = await run(pipeline, { path: '/', authority: 'example.com' })
      expect(ok.response.status).toBe(200)
      await server.kill()
      for (let i = 0; i < 3; i++) {
        const r = await run(pipeline, { path: '/', authority: 'example.com' })
        expect(r.local?.status).toBe(430)
        expect(r.response.body.toString()).toBe('Error while calling redis')
      }
      await server.start()
      let back
      for (let i = 0; i < 50; i++) {
        back = await run(pipeline, { path: '/', authority: 'example.com' })
        if (back.response.status === 200) break
        await new Promise((r) => setTimeout(r, 100))
      }
      expect(back!.response.status).toBe(200)
    } finally {
      await server.stop()
    }
  })
})

describe('cluster names through the upstream resolvers', () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it('the seed\'s DnsCluster resolves through dnsResolver (a DNS server on 127.0.0.1), no redis.clusters entry', async () => {
    const dns = await dnsServer({ A: { 'redis.example.com': ['127.0.0.1'] } })
    try {
      const { host } = newHost('info', { resolvers: [dnsResolver({ servers: [dns.address], services: { redis: 'redis.example.com' } })], clock: clockAt(minuteStart(50)) })
      const pipeline = await pipelineOf(host, [{ wasm: fixture('go', 'redis-ratelimit'), config: seedConfig(2, { servicePort: redis.port }) }])
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push((await run(pipeline, { path: '/', authority: 'example.com' })).response.status)
      expect(statuses).toEqual([200, 200, 429])
      expect(dns.queries).toContain('A redis.example.com')
    } finally {
      await dns.close()
    }
  })

  it('a static service (staticResolver) and redis.clusters first, then resolvers, then redis.fallback', async () => {
    const { host } = newHost('info', {
      resolvers: [staticResolver({ services: { cache: `127.0.0.1:${redis.port}` } })],
      redis: { fallback: redis.url },
    })
    const viaStatic = await pipelineOf(host, [{ wasm: fixture('go', 'redis-raw'), name: 's', config: { cluster: 'outbound|6379||cache.static', timeout: 1000 } }])
    expect((await rawCall(viaStatic, resp('SET', 'static-key', 'ok'))).response.body.toString()).toBe('+OK\r\n')
    const viaFallback = await pipelineOf(host, [{ wasm: fixture('go', 'redis-raw'), name: 'f', config: { cluster: 'anything-else', timeout: 1000 } }])
    expect((await rawCall(viaFallback, resp('GET', 'static-key'))).response.body.toString()).toBe('$2\r\nok\r\n')
  })
})

describe('RESP passthrough (redis-raw fixture)', () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = await startRedis()
    await rawRequest(redis.port, Buffer.concat([
      resp('SET', 'str', 'hello'), resp('RPUSH', 'list', 'a', 'bb', ''), resp('SET', 'n1', '41'), resp('SET', 'n2', '41'),
      resp('SET', 'bin', Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1')),
    ]), 5)
  })
  afterAll(async () => {
    await redis?.stop()
  })
  const cases: Array<[string, Buffer, Buffer?]> = [
    ['simple string', resp('PING')],
    ['simple string from SET', resp('SET', 'k', 'v')],
    ['error', resp('NOSUCHCOMMAND', 'x')],
    ['WRONGTYPE error', resp('INCR', 'list')],
    ['integer', resp('INCR', 'n1'), resp('INCR', 'n2')],
    ['bulk string', resp('GET', 'str')],
    ['binary bulk string (all 256 byte values)', resp('GET', 'bin')],
    ['nil bulk string', resp('GET', 'missing')],
    ['array with an empty bulk string', resp('LRANGE', 'list', '0', '-1')],
    ['empty array', resp('LRANGE', 'missing', '0', '-1')],
    ['nil array', resp('BLPOP', 'missing-list', '0.01')],
    ['nested arrays with mixed types', resp('EVAL', "return {1, {2, 'x', {}}, 'y', redis.status_reply('OK'), false}", '0')],
    ['inline command', Buffer.from('ECHO inline\r\n')],
  ]

  it.each(cases)('%s: the plugin receives exactly the bytes Redis sends', async (_name, query, rawQuery) => {
    const { host: h } = newHost('info', { redis: { clusters: { raw: redis.url } } })
    const pipeline = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), config: { cluster: 'raw', timeout: 1000 } }])
    const r = await rawCall(pipeline, query)
    expect(r.local?.status).toBe(200)
    expect(r.local?.headers).toContainEqual(['x-redis-status', '0'])
    const expected = await rawRequest(redis.port, rawQuery ?? query)
    expect(r.response.body.toString('latin1')).toBe(expected.toString('latin1'))
    expect(r.response.body.equals(expected)).toBe(true)
    expect(r.response.body.length).toBeGreaterThan(2)
  })

  it('a 300 kB reply arrives whole and byte-exact (many socket chunks)', async () => {
    const big = 'x'.repeat(300_000) + 'end'
    await rawRequest(redis.port, resp('SET', 'big', big))
    const { host: h } = newHost('info', { redis: { clusters: { raw: redis.url } } })
    const p = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), config: { cluster: 'raw', timeout: 2000 } }])
    const r = await rawCall(p, resp('GET', 'big'))
    expect(r.response.body.equals(Buffer.from(`$${big.length}\r\n${big}\r\n`))).toBe(true)
  })

  it('tokens are 7, 11, 15 …', async () => {
    const { host: h } = newHost('info', { redis: { clusters: { raw: redis.url } } })
    const p = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), config: { cluster: 'raw', timeout: 1000 } }])
    const tokens = []
    for (let i = 0; i < 3; i++) tokens.push((await rawCall(p, resp('PING'))).local?.headers.get('x-redis-token'))
    expect(tokens).toEqual(['7', '11', '15'])
  })

  it('the query bytes reach Redis unchanged (recorded by a TCP proxy in front of redis-server)', async () => {
    const proxy = await recordingProxy(redis.port)
    try {
      const { host: h } = newHost('info', { redis: { clusters: { raw: `redis://127.0.0.1:${proxy.port}` } } })
      const p = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), config: { cluster: 'raw', timeout: 1000 } }])
      const queries = [resp('SET', 'wire', 'v a l'), Buffer.from('ECHO   spaced\r\n'), resp('GET', 'wire')]
      for (const q of queries) expect((await rawCall(p, q)).local?.status).toBe(200)
      const sent = proxy.sent()
      const tail = Buffer.concat(queries)
      expect(sent.subarray(sent.length - tail.length).equals(tail)).toBe(true)
    } finally {
      await proxy.close()
    }
  })

  it('?db=3 selects database 3', async () => {
    const { host: h } = newHost('info', { redis: { clusters: { raw: redis.url } } })
    const p = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), config: { cluster: 'raw?db=3&buffer_flush_timeout=3&max_buffer_size_before_flush=1024', timeout: 1000 } }])
    expect((await rawCall(p, resp('SET', 'in-db3', 'yes'))).response.body.toString()).toBe('+OK\r\n')
    expect((await rawRequest(redis.port, resp('GET', 'in-db3'))).toString()).toBe('$-1\r\n')
    expect((await rawRequest(redis.port, Buffer.concat([resp('SELECT', '3'), resp('GET', 'in-db3')]), 2)).toString()).toBe('+OK\r\n$3\r\nyes\r\n')
  })

  it('each root context has its own connection, closed when the plugin closes', async () => {
    const clients = async () => (await rawRequest(redis.port, resp('CLIENT', 'LIST'))).toString().split('\n').filter((l) => l.includes('addr=')).length
    const before = await clients()
    const { host: h } = newHost('info', { redis: { clusters: { raw: redis.url } } })
    const p1 = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), name: 'one', config: { cluster: 'raw', timeout: 1000 } }])
    const p2 = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), name: 'two', config: { cluster: 'raw', timeout: 1000 } }])
    await rawCall(p1, resp('PING'))
    await rawCall(p2, resp('PING'))
    await rawCall(p1, resp('PING'))
    // The raw request that counts is a client too.
    expect(await clients()).toBe(before + 2)
    h.close()
    let after = 0
    for (let i = 0; i < 50; i++) {
      after = await clients()
      if (after === before) break
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(after).toBe(before)
  })

  it('commands that would change the shared connection get an error reply, not a broken connection', async () => {
    const { host: h } = newHost('info', { redis: { clusters: { raw: redis.url } } })
    const p = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), config: { cluster: 'raw', timeout: 1000 } }])
    const r = await rawCall(p, resp('SUBSCRIBE', 'ch'))
    expect(r.response.body.toString()).toMatch(/^-ERR command 'subscribe' .*\r\n$/)
    expect((await rawCall(p, resp('PING'))).response.body.toString()).toBe('+PONG\r\n')
  })

  it('NOAUTH: the plugin re-inits with the right password and the resent query succeeds', async () => {
    const locked = await startRedis({ password: 'pw2' })
    try {
      const { host: h } = newHost('info', { redis: { clusters: { raw: locked.url } } })
      const p = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), config: { cluster: 'raw', timeout: 1000, reinitPassword: 'pw2' } }])
      const r = await rawCall(p, resp('GET', 'nothing'))
      expect(r.local?.headers).toContainEqual(['x-reinit', '1'])
      expect(r.response.body.toString()).toBe('$-1\r\n')
    } finally {
      await locked.stop()
    }
  })

  it('an unknown cluster: proxy_redis_init and proxy_redis_call answer BadArgument', async () => {
    const { host: h, logs } = newHost('info', { redis: { clusters: { raw: redis.url } } })
    const p = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), config: { cluster: 'nope', timeout: 1000 } }])
    expect(logs.some((l) => l.message.includes('redis init failed: error status returned by host: bad argument'))).toBe(true)
    const r = await rawCall(p, resp('PING'))
    expect(r.local?.status).toBe(500)
    expect(r.response.body.toString()).toBe('dispatch failed: error status returned by host: bad argument')
  })

  it('a host without Redis configured answers BadArgument and says why once', async () => {
    const { host: h, logs } = newHost('info')
    const p = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), config: { cluster: 'raw', timeout: 1000 } }])
    expect((await rawCall(p, resp('PING'))).local?.status).toBe(500)
    expect((await rawCall(p, resp('PING'))).local?.status).toBe(500)
    expect(logs.filter((l) => l.message.includes('Redis cluster "raw" is unknown or unusable: map it in HostOptions.redis.clusters'))).toHaveLength(1)
  })

  it('a connection failure reaches the plugin as status 1 with an empty reply buffer', async () => {
    const dead = await startRedis()
    await dead.stop()
    const { host: h } = newHost('info', { redis: { clusters: { raw: dead.url } } })
    const p = await pipelineOf(h, [{ wasm: fixture('go', 'redis-raw'), config: { cluster: 'raw', timeout: 300 } }])
    const r = await rawCall(p, resp('PING'))
    expect(r.local?.headers).toContainEqual(['x-redis-status', '1'])
    expect(r.response.body.length).toBe(0)
  })
})

describe('Redis Cluster (3 masters started by the test)', () => {
  let cluster: RedisCluster
  beforeAll(async () => {
    cluster = await startRedisCluster(3)
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
  })

  it('serves keys in different slots on different masters, byte-exact', async () => {
    const { host } = newHost('info', { redis: { clusters: { rc: { nodes: cluster.addresses } } } })
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'redis-raw'), config: { cluster: 'rc', timeout: 2000 } }])
    const keys = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel']
    for (const k of keys) expect((await rawCall(p, resp('SET', k, `v-${k}`))).response.body.toString()).toBe('+OK\r\n')
    for (const k of keys) expect((await rawCall(p, resp('GET', k))).response.body.toString()).toBe(`$${2 + k.length}\r\nv-${k}\r\n`)
    // Every master holds some of the keys: they were routed by slot.
    const sizes = await Promise.all(cluster.nodes.map(async (n) => Number((await rawRequest(n.port, resp('DBSIZE'))).toString().slice(1))))
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(keys.length)
    expect(sizes.filter((s) => s > 0).length).toBe(3)
  })

  it('the seed rate limiter works against the cluster', async () => {
    const { host } = newHost('info', { redis: { clusters: { [CLUSTER]: { nodes: cluster.addresses } } }, clock: clockAt(minuteStart(40)) })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('go', 'redis-ratelimit'), config: seedConfig(2) }])
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await run(pipeline, { path: '/', authority: 'example.com' })).response.status)
    expect(statuses).toEqual([200, 200, 429])
  })
})
