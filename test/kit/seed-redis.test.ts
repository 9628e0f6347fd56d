// The seed's Redis rate limiter against a real redis-server (started for this file on a free
// 127.0.0.1 port), through the host's production Redis bridge: { redis: 'redis://…' }.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import 'proxy-wasm-host/testing/vitest'
import { createPluginTester, type PluginTester } from 'proxy-wasm-host/testing'
import { fixture } from '../helpers.js'
import { rawRequest, startRedis, type RedisServer } from '../helpers/redis-server.js'

const config = { serviceName: 'redis', servicePort: 6379, domain: 'redis.example.com', username: '', password: '', timeout: 500, qpm: 3 }
let redis: RedisServer
let t: PluginTester | undefined
beforeAll(async () => {
  redis = await startRedis()
})
afterEach(() => t?.close())
afterAll(() => redis?.stop())

describe('seed Redis rate limit with a real redis-server', () => {
  it('qpm 3: three requests pass, the fourth gets 429, the counter is in Redis with its expiry', async () => {
    t = await createPluginTester(fixture('go', 'redis-ratelimit'), { config, redis: redis.url, clock: 'fake' })
    const minute = String(Date.UTC(2025, 0, 1) / 1000)
    for (const left of ['2', '1', '0']) {
      const r = await t.request({ headers: { host: 'a.com' } })
      expect(r.response).toHaveHeader('timeStamp', minute)
      expect(r.response).toHaveHeader('CallTimeLeft', left)
    }
    const r = await t.request({ headers: { host: 'a.com' } })
    expect(r).toAnswer(429, 'Too many requests')
    expect(r.localResponse).toHaveHeader('CallTimeLeft', '0')
    expect(t.redisCalls).toHaveLength(0)
    expect((await rawRequest(redis.port, `*2\r\n$3\r\nGET\r\n$${minute.length}\r\n${minute}\r\n`)).toString()).toBe('$1\r\n4\r\n')
    const ttl = Number((await rawRequest(redis.port, `*2\r\n$3\r\nTTL\r\n$${minute.length}\r\n${minute}\r\n`)).toString().slice(1))
    expect(ttl).toBeGreaterThan(50)
  })

  it('Redis gone: the seed\'s 430 error path, no hang', async () => {
    const gone = await startRedis()
    const url = gone.url
    await gone.stop()
    t = await createPluginTester(fixture('go', 'redis-ratelimit'), { config, redis: url })
    const r = await t.request({ headers: { host: 'a.com' } })
    expect(r).toAnswer(430, 'Error while calling redis')
    expect(t).toHaveLogged('error', 'Error occured while calling redis')
  })
})
