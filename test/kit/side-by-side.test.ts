// The kit's side of the comparison in docs/testing.md ("Side by side"): each test here is the code
// shown there, verbatim (test/unit/testing-docs.test.ts checks both the text and the line counts).
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import 'proxy-wasm-host/testing/vitest'
import { createPluginTester, type PluginTester } from 'proxy-wasm-host/testing'
import { fixture } from '../helpers.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'

const wasm = (name: string) => fixture('go', name)
let t: PluginTester
let redis: RedisServer
beforeAll(async () => {
  redis = await startRedis()
})
afterEach(() => t?.close())
afterAll(() => redis?.stop())

it('hello-world answers every request itself', async () => {
  t = await createPluginTester(wasm('hello-world'))
  const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
  expect(r).toAnswer(200, 'hello world')
})

it('mockEnable: false adds hello: world to the request', async () => {
  t = await createPluginTester(wasm('hello-mock'), { config: { mockEnable: false } })
  const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
  expect(r.upstreamRequest).toHaveHeader('hello', 'world')
})

it('http-call: the token header the service returns lands in the request', async () => {
  t = await createPluginTester(wasm('http-call'), { config: { serviceSource: 'ip', serviceName: 'auth', servicePort: 80, requestPath: '/token', tokenHeader: 'x-token' } })
  const pending = t.request({ path: '/api', headers: { host: 'a.com' } })
  expect(t.httpCalls[0]!.upstream).toBe('outbound|80||auth.static')
  await t.httpCalls[0]!.respond({ status: 200, headers: { 'x-token': 'abc' } })
  expect((await pending).upstreamRequest).toHaveHeader('x-token', 'abc')
})

it('http-call: a timeout reaches the plugin as a 504, the seed answers 500', async () => {
  t = await createPluginTester(wasm('http-call'), { config: { serviceSource: 'ip', serviceName: 'auth', servicePort: 80, requestPath: '/token', tokenHeader: 'x-token' }, clock: 'fake' })
  const pending = t.request({ path: '/api', headers: { host: 'a.com' } })
  await t.httpCalls[0]!.fail('timeout')
  expect(await pending).toAnswer(500, 'http call failed')
})

it('Redis rate limit, faked Redis: qpm 3, the fourth request gets 429', async () => {
  t = await createPluginTester(wasm('redis-ratelimit'), { config: { serviceName: 'redis', servicePort: 6379, domain: 'redis.example.com', qpm: 3 } })
  for (let n = 1; n <= 4; n++) {
    const pending = t.request({ headers: { host: 'a.com' } })
    await t.redisCalls.last!.respond(n)
    if (n === 1) await t.redisCalls.last!.respond(1)
    const r = await pending
    if (n < 4) expect(r.response).toHaveHeader('CallTimeLeft', String(3 - n))
    else expect(r).toAnswer(429, 'Too many requests')
  }
})

it('Redis rate limit, real redis-server: qpm 3, the fourth request gets 429', async () => {
  t = await createPluginTester(wasm('redis-ratelimit'), { config: { serviceName: 'redis', servicePort: 6379, domain: 'redis.example.com', qpm: 3 }, redis: redis.url, clock: 'fake' })
  for (let n = 1; n <= 3; n++) expect((await t.request({ headers: { host: 'a.com' } })).response).toHaveHeader('CallTimeLeft', String(3 - n))
  expect(await t.request({ headers: { host: 'a.com' } })).toAnswer(429, 'Too many requests')
})

it('a paused request resumes on the next tick', async () => {
  t = await createPluginTester(wasm('pause-tick'), { clock: 'fake' })
  expect(t.tickPeriodMs).toBe(20)
  const pending = t.request({ headers: { host: 'a.com' } })
  await t.tick(20)
  expect((await pending).upstreamRequest).toHaveHeader('x-resumed', 'tick')
})

it('a metric the plugin counts, read back by its name', async () => {
  t = await createPluginTester(wasm('metrics'))
  for (let i = 0; i < 3; i++) await t.request({ headers: { host: 'a.com' } })
  expect(t.metrics.get('demo.requests_total')).toBe(3)
})

it('logs by level', async () => {
  t = await createPluginTester(wasm('logging'))
  await t.request({ headers: { host: 'a.com' } })
  expect(t.logs.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual(['warn message'])
  expect(t).toHaveLogged('error', 'error message')
})

it('one callback, exact inputs, the action it returned', async () => {
  t = await createPluginTester(wasm('hello-mock'), { config: { mockEnable: true } })
  const s = t.stream()
  expect(await s.requestHeaders([[':authority', 'a.com'], [':path', '/x'], ['Hello', 'World']])).toBe('Continue')
  expect(s.localResponse?.status).toBe(200)
})
