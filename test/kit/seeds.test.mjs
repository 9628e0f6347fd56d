// The seed examples (Alibaba MSE "develop a Go plugin") tested as a plugin author would, with the
// public test kit. This one file runs under vitest and under `node --test`.
import { fileURLToPath } from 'node:url'
import { createPluginTester } from 'proxy-wasm-host/testing'
import { afterEach, assert, describe, it } from './framework.mjs'

const wasm = (name) => fileURLToPath(new URL(`../../fixtures/build/go/${name}.wasm`, import.meta.url))

let t
afterEach(() => t?.close())

describe('seed examples', () => {
  it('hello-world answers every request itself', async () => {
    t = await createPluginTester(wasm('hello-world'))
    const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
    assert.equal(r.localResponse?.status, 200)
    assert.equal(r.localResponse?.text, 'hello world')
    assert.equal(r.upstreamRequest, undefined)
  })

  it('mockEnable: false adds hello: world to the request', async () => {
    t = await createPluginTester(wasm('hello-mock'), { config: { mockEnable: false } })
    const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
    assert.equal(r.localResponse, undefined)
    assert.equal(r.upstreamRequest?.headers.get('hello'), 'world')
    assert.equal(r.response.status, 200)
  })

  it('mockEnable: true answers hello world', async () => {
    t = await createPluginTester(wasm('hello-mock'), { config: { mockEnable: true } })
    const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
    assert.equal(r.localResponse?.status, 200)
    assert.equal(r.response.text, 'hello world')
  })

  it('a paused request resumes on the next tick of the fake clock', async () => {
    t = await createPluginTester(wasm('pause-tick'), { clock: 'fake' })
    assert.equal(t.tickPeriodMs, 20)
    let settled = false
    const pending = t.request({ path: '/', headers: { host: 'a.com' } }).finally(() => (settled = true))
    await t.tick(19)
    assert.equal(settled, false)
    await t.tick(1)
    const r = await pending
    assert.equal(r.upstreamRequest?.headers.get('x-resumed'), 'tick')
    assert.deepEqual(t.logs.map((l) => `${l.level} ${l.message}`), ['info resumed 1'])
  })

  it('logs are captured by level, with the context id of the stream', async () => {
    t = await createPluginTester(wasm('logging'), { logLevel: 'warn' })
    const s = t.stream()
    await s.requestHeaders([[':authority', 'a.com'], [':path', '/']])
    assert.deepEqual(t.logs.map((l) => [l.level, l.message, l.contextId]), [
      ['warn', 'warn message', s.contextId],
      ['error', 'error message', s.contextId],
      ['critical', 'critical message', s.contextId],
      ['error', 'stderr line', s.contextId],
    ])
  })

  it('one callback at a time, with exact inputs, and the action it returned', async () => {
    t = await createPluginTester(wasm('hello-mock'), { config: { mockEnable: true } })
    const s = t.stream()
    const action = await s.requestHeaders([[':authority', 'a.com'], [':path', '/x'], ['Hello', 'World']], { endOfStream: false })
    assert.equal(action, 'Continue')
    assert.equal(s.lastAction, 'Continue')
    assert.deepEqual(s.request.headers?.entries(), [[':authority', 'a.com'], [':path', '/x'], ['Hello', 'World'], ['hello', 'world']])
    assert.equal(s.localResponse?.status, 200)
    assert.equal(s.localResponse?.body.toString(), 'hello world')
  })

  it('http-call: the token header the service returns lands in the request', async () => {
    t = await createPluginTester(wasm('http-call'), { config: httpCallConfig })
    const pending = t.request({ path: '/api', headers: { host: 'a.com' } })
    const call = t.httpCalls[0]
    assert.equal(call.upstream, 'outbound|80||auth.static')
    assert.equal(call.path, '/token')
    await call.respond({ status: 200, headers: { 'x-token': 'abc' } })
    const r = await pending
    assert.equal(r.upstreamRequest?.headers.get('x-token'), 'abc')
  })

  it('http-call: a non-200 answer gives the seed\'s 500', async () => {
    t = await createPluginTester(wasm('http-call'), { config: httpCallConfig })
    const pending = t.request({ headers: { host: 'a.com' } })
    await t.httpCalls[0].respond({ status: 403 })
    const r = await pending
    assert.equal(r.localResponse?.status, 500)
    assert.equal(r.localResponse?.text, 'http call failed')
  })

  it('http-call: a timeout reaches the plugin as Envoy\'s 504', async () => {
    t = await createPluginTester(wasm('http-call'), { config: httpCallConfig, clock: 'fake' })
    const pending = t.request({ headers: { host: 'a.com' } })
    assert.equal(t.httpCalls[0].timeoutMs, 500)
    await t.httpCalls[0].fail('timeout')
    const r = await pending
    assert.equal(r.localResponse?.status, 500)
    assert.ok(t.logs.some((l) => l.level === 'error' && l.message.includes('http call failed, status: 504')))
  })

  it('Redis rate limit (faked Redis): qpm 3, the fourth request in a minute gets 429', async () => {
    t = await createPluginTester(wasm('redis-ratelimit'), { config: redisConfig(3), clock: 'fake' })
    const minute = String(Date.UTC(2025, 0, 1) / 1000)
    for (let n = 1; n <= 4; n++) {
      const pending = t.request({ headers: { host: 'a.com' } })
      const incr = t.redisCalls[t.redisCalls.length - 1]
      assert.deepEqual(incr.command, ['incr', minute])
      await incr.respond(n)
      if (n === 1) await t.redisCalls[t.redisCalls.length - 1].respond(1) // the seed's EXPIRE
      const r = await pending
      if (n <= 3) assert.equal(r.response.headers.get('calltimeleft'), String(3 - n))
      else {
        assert.equal(r.localResponse?.status, 429)
        assert.equal(r.localResponse?.headers.get('calltimeleft'), '0')
      }
    }
    assert.deepEqual(t.redisCalls[1].command, ['expire', minute, '60'])
  })

  it('a metric the plugin counts, read back by its name', async () => {
    t = await createPluginTester(wasm('metrics'))
    for (let i = 0; i < 3; i++) await t.request({ headers: { host: 'a.com' } })
    assert.equal(t.metrics.get('demo.requests_total'), 3)
  })
})

const httpCallConfig = { serviceSource: 'ip', serviceName: 'auth', servicePort: 80, requestPath: '/token', tokenHeader: 'x-token' }
const redisConfig = (qpm) => ({ serviceName: 'redis', servicePort: 6379, domain: 'redis.example.com', username: '', password: '', timeout: 500, qpm })
