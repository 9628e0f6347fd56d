// Redis calls that are still out when their root context goes away, or when their timeout passes,
// through the production bridge against a real redis-server: a blocking BLPOP keeps the call
// pending for as long as the test wants.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RootContext } from '../../src/host/context.js'
import type { Plugin } from '../../src/host/plugin.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { rawRequest, startRedis, type RedisServer } from '../helpers/redis-server.js'

const newHost = hostsClosedAfterEach()
let redis: RedisServer
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(() => redis?.stop())

const resp = (...args: string[]) => Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`)
const rootOf = (plugin: Plugin) => [...plugin.vm!.contexts.values()].find((c) => c.isRoot) as RootContext
const until = async (cond: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}
const clients = async () => (await rawRequest(redis.port, resp('CLIENT', 'LIST'))).toString().split('\n').filter((l) => l.includes('addr=')).length

describe('pending Redis calls', () => {
  it('the root context shuts down (plugin closed) while a call is pending: no callback, nothing left pending, the connection closed', async () => {
    const before = await clients()
    const { host, logs } = newHost('info', { redis: { clusters: { raw: redis.url } } })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('go', 'redis-raw'), name: 'raw', config: { cluster: 'raw', timeout: 10_000 } }], { pauseTimeoutMs: 500 })
    const plugin = host.plugins[0]!
    const list = `pending-${process.pid}`
    // BLPOP blocks for 5 s: the call stays out until something is pushed.
    const ex = pipeline.exchange({ path: '/', authority: 'a', headers: { 'x-query': resp('BLPOP', list, '5').toString('base64') } })
    const headers = ex.requestHeaders(true)
    const root = rootOf(plugin)
    await until(async () => root.pending.size === 1 && (await clients()) === before + 1)
    plugin.close()
    expect(root.pending.size).toBe(0)
    // Had the call survived, its connection would pop this item and the plugin would answer 200.
    expect((await rawRequest(redis.port, resp('RPUSH', list, 'item'))).toString()).toBe(':1\r\n')
    const r = await headers
    expect(r.localResponse?.status).toBe(504)
    ex.done()
    expect((await rawRequest(redis.port, resp('LLEN', list))).toString()).toBe(':1\r\n')
    await until(async () => (await clients()) === before)
    expect(logs.filter((l) => l.level === 'error' || l.level === 'critical')).toEqual([])
    expect(root.pending.size).toBe(0)
  })

  it("a call past proxy_redis_init's timeout gets status 1; its late reply is dropped, and the connection serves the next call", async () => {
    const { host } = newHost('info', { redis: { clusters: { raw: redis.url } } })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('go', 'redis-raw'), name: 'raw', config: { cluster: 'raw', timeout: 200 } }])
    const plugin = host.plugins[0]!
    const call = async (...args: string[]) => {
      const ex = pipeline.exchange({ path: '/', authority: 'a', headers: { 'x-query': resp(...args).toString('base64') } })
      const r = await ex.requestHeaders(true)
      ex.done()
      return r.localResponse!
    }
    const started = Date.now()
    // Redis answers this one (nil) after 1 s, long after the call timed out.
    const late = await call('BLPOP', `never-${process.pid}`, '1')
    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    expect(Date.now() - started).toBeLessThan(900)
    expect(late.headers).toContainEqual(['x-redis-status', '1'])
    expect(rootOf(plugin).pending.size).toBe(0)
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() - started) + 100))
    // The nil reply that came late belongs to nobody: the next call gets its own reply.
    const ping = await call('PING')
    expect(ping.headers).toContainEqual(['x-redis-status', '0'])
    expect(ping.body.toString()).toBe('+PONG\r\n')
  })
})
