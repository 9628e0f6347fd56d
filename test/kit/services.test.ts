// Callouts, Redis, metrics and shared data as plugin authors test them: the kit's recorders in
// the host's service seams, the host's own hostcall code in between.
import { afterEach, describe, expect, it } from 'vitest'
import 'proxy-wasm-host/testing/vitest'
import { createPluginTester, type PluginTester } from 'proxy-wasm-host/testing'
import { fixture } from '../helpers.js'

const httpCall = { serviceSource: 'ip', serviceName: 'auth', servicePort: 80, requestPath: '/token', tokenHeader: 'x-token' }
const redisConfig = { serviceName: 'redis', servicePort: 6379, domain: 'redis.example.com', username: 'u', password: 'p', timeout: 500, qpm: 3 }
let t: PluginTester | undefined
afterEach(() => t?.close())

describe('HTTP callouts', () => {
  it.each([
    ['reset', 502],
    ['connect-failure', 503],
  ] as const)("fail('%s'): the seed sees status %d and answers 500", async (kind, status) => {
    t = await createPluginTester(fixture('go', 'http-call'), { config: httpCall })
    const pending = t.request({ headers: { host: 'a.com' } })
    await t.httpCalls[0]!.fail(kind)
    expect(await pending).toAnswer(500, 'http call failed')
    expect(t).toHaveLogged('error', `http call failed, status: ${status}`)
  })

  it("fail('timeout') with the real clock waits for the host's timeout (500 ms) and its 504", async () => {
    t = await createPluginTester(fixture('go', 'http-call'), { config: httpCall })
    const pending = t.request({ headers: { host: 'a.com' } })
    const started = Date.now()
    await t.httpCalls[0]!.fail('timeout')
    expect(Date.now() - started).toBeGreaterThanOrEqual(450)
    expect(await pending).toAnswer(500)
    expect(t).toHaveLogged('error', 'http call failed, status: 504')
    expect(t.httpCalls[0]!.state).toBe('cancelled')
    await expect(t.httpCalls[0]!.respond()).rejects.toMatchObject({ code: 'PWH_ERR_TESTING_CALL_SETTLED' })
  })

  it('an unknown upstream: BadArgument, the host warns, and the seed stays paused until the pause timeout', async () => {
    t = await createPluginTester(fixture('go', 'http-call'), { config: httpCall, upstreams: ['outbound|80||other.static'], clock: 'fake' })
    const pending = t.request({ headers: { host: 'a.com' } })
    expect(t.httpCalls).toHaveLength(0)
    expect(t).toHaveLogged('warn', 'http call to unknown upstream "outbound|80||auth.static" answered BadArgument')
    await t.tick(60_000)
    expect(await pending).toAnswer(504, 'plugin pause timeout')
  })

  it('one callback at a time: the header callback pauses, the answer resumes the stream', async () => {
    t = await createPluginTester(fixture('go', 'http-call'), { config: httpCall })
    const s = t.stream()
    expect(await s.requestHeaders([[':authority', 'a.com'], [':path', '/'], [':method', 'GET']], { endOfStream: false })).toBe('StopIteration')
    expect(s.resumes).toEqual([])
    await t.httpCalls[0]!.respond({ headers: { 'x-token': 't1' } })
    expect(s.resumes).toEqual(['request'])
    expect(s.request.headers).toHaveHeader('x-token', 't1')
  })

  it('a callout from a tick, answered; the reply reaches the root context', async () => {
    t = await createPluginTester(fixture('go', 'callout-tick'), { config: { cluster: 'outbound|80||svc.static', host: 'svc' }, clock: 'fake' })
    const next = t.httpCalls.next()
    await t.tick(20)
    const call = await next
    expect([call.upstream, call.method, call.path, call.authority, call.timeoutMs]).toEqual(['outbound|80||svc.static', 'GET', '/tick', 'svc', 1000])
    await call.respond({ status: 200, body: 'pong' })
    expect(t).toHaveLogged('info', 'tick response: headers=1 body=4 trailers=0 status=200 body=pong')
    expect(t.logs.find((l) => l.message.startsWith('tick response'))?.contextId).toBe(1)
  })
})

describe('Redis (faked)', () => {
  it('records proxy_redis_init and decodes commands; fail() takes the seed\'s 430 path', async () => {
    t = await createPluginTester(fixture('go', 'redis-ratelimit'), { config: redisConfig })
    expect(t.redisInits).toEqual([{ cluster: 'outbound|6379||redis.dns', username: 'u', password: 'p', timeoutMs: 500, params: {} }])
    const pending = t.request({ headers: { host: 'a.com' } })
    expect(t.redisCalls[0]!.cluster).toBe('outbound|6379||redis.dns')
    expect(t.redisCalls[0]!.command[0]).toBe('incr')
    await t.redisCalls[0]!.fail()
    expect(await pending).toAnswer(430, 'Error while calling redis')
  })

  it('the reply bytes the plugin reads are the RESP encoding of the value the test gave', async () => {
    t = await createPluginTester(fixture('go', 'redis-raw'), { config: { cluster: 'outbound|6379||r.dns?db=2', username: '', password: '', timeout: 100 } })
    expect(t.redisInits[0]?.params.db).toBe('2')
    const query = Buffer.from('*2\r\n$3\r\nget\r\n$1\r\nk\r\n').toString('base64')
    const pending = t.request({ headers: { host: 'a', 'x-query': query } })
    expect(t.redisCalls[0]!.command).toEqual(['get', 'k'])
    await t.redisCalls[0]!.respond(['v', 7, null, new Error('ERR x'), { simple: 'OK' }])
    const r = await pending
    expect(r).toAnswer(200, '*5\r\n$1\r\nv\r\n:7\r\n$-1\r\n-ERR x\r\n+OK\r\n')
    expect(r.localResponse).toHaveHeader('x-redis-status', '0')
    expect(r.localResponse).toHaveHeader('x-redis-token', String(t.redisCalls[0]!.token))
  })
})

describe('Redis (faked): timeouts and shutdown', () => {
  const rawConfig = (timeout: number) => ({ config: { cluster: 'outbound|6379||r.dns', username: '', password: '', timeout }, clock: 'fake' as const })
  const get = { headers: { host: 'a', 'x-query': Buffer.from('*2\r\n$3\r\nget\r\n$1\r\nk\r\n').toString('base64') } }

  it("fail('timeout'): the clock moves to the deadline of proxy_redis_init's timeout and the plugin gets the failed call", async () => {
    t = await createPluginTester(fixture('go', 'redis-raw'), rawConfig(100))
    const start = t.clock.now()
    const pending = t.request(get)
    const call = t.redisCalls[0]!
    expect(call.timeoutMs).toBe(100)
    await call.fail('timeout')
    const r = await pending
    expect(t.clock.now() - start).toBe(100)
    expect(r.localResponse).toHaveHeader('x-redis-status', '1')
    expect(r.localResponse?.text).toBe('')
    expect(call.state).toBe('cancelled')
    await expect(call.respond('late')).rejects.toMatchObject({ code: 'PWH_ERR_TESTING_CALL_SETTLED' })
  })

  it('the host times the call out on its own clock, whatever the bridge does (the recorder never answers by itself)', async () => {
    t = await createPluginTester(fixture('go', 'redis-raw'), rawConfig(100))
    const pending = t.request(get)
    await t.tick(99)
    expect(t.redisCalls[0]!.state).toBe('pending')
    await t.tick(1)
    expect((await pending).localResponse).toHaveHeader('x-redis-status', '1')
    expect(t.redisCalls[0]!.state).toBe('cancelled')
  })

  it("a call without a timeout (proxy_redis_init gave 0) cannot time out: fail('timeout') says so", async () => {
    t = await createPluginTester(fixture('go', 'redis-raw'), rawConfig(0))
    const pending = t.request(get)
    await t.tick(60_000 - 1)
    await expect(t.redisCalls[0]!.fail('timeout')).rejects.toMatchObject({ code: 'PWH_ERR_TESTING_CALL_NO_TIMEOUT' })
    await t.redisCalls[0]!.respond(null)
    expect((await pending).localResponse).toHaveHeader('x-redis-status', '0')
  })

  it("with the real clock fail('timeout') waits for the host's timer", async () => {
    t = await createPluginTester(fixture('go', 'redis-raw'), { ...rawConfig(50), clock: 'system' })
    const pending = t.request(get)
    const started = Date.now()
    await t.redisCalls[0]!.fail('timeout')
    expect(Date.now() - started).toBeGreaterThanOrEqual(45)
    expect((await pending).localResponse).toHaveHeader('x-redis-status', '1')
  })

  it('the root context shuts down while a call is pending: the call is cancelled, no callback runs, nothing stays pending', async () => {
    t = await createPluginTester(fixture('go', 'redis-raw'), { ...rawConfig(100), pauseTimeoutMs: 1000 })
    const pending = t.request(get)
    const call = t.redisCalls[0]!
    const root = [...t.plugin.vm!.contexts.values()].find((c) => c.isRoot) as unknown as { pending: Map<number, unknown> }
    expect(root.pending.size).toBe(1)
    t.plugin.close()
    expect(root.pending.size).toBe(0)
    expect(call.state).toBe('cancelled')
    await expect(call.respond('late')).rejects.toMatchObject({ code: 'PWH_ERR_TESTING_CALL_SETTLED' })
    // Past the call's timeout: its timer was stopped with it. The paused request ends by the
    // pause timeout, not by a callback (which would answer 200 with x-redis-status).
    await t.tick(1000)
    const r = await pending
    expect(r.localResponse?.status).toBe(504)
    expect(r.localResponse?.headers).not.toHaveHeader('x-redis-status')
    expect(t.logs.filter((l) => l.level === 'error' || l.level === 'critical')).toEqual([])
  })
})

describe('metrics and shared data', () => {
  it('counter, gauge and histogram by the names the plugin defined, synchronously; what prom-client exports; Prometheus text', async () => {
    t = await createPluginTester(fixture('go', 'metrics'))
    await t.request({ headers: { host: 'a', 'x-gauge-add': '5', 'x-record': '7' } })
    await t.request({ headers: { host: 'a', 'x-gauge-add': '-2', 'x-record': '3' } })
    expect(t.metrics.get('demo.requests_total')).toBe(2)
    expect(t.metrics.get('demo.inflight')).toBe(3)
    expect(t.metrics.get('demo.latency_ms')).toBe(2)
    expect(t.metrics.histogram('demo.latency_ms')).toEqual({ count: 2, sum: 10 })
    expect(t.metrics.histogram('demo.requests_total')).toBeUndefined()
    // A name Envoy does not export is still read by the name the plugin defined (+2 per request).
    expect(t.metrics.get('9lives')).toBe(4)
    expect(t.metrics.get('no.such')).toBeUndefined()
    // The prom-client path: the exported names only.
    expect(await t.metrics.exported('demo.requests_total')).toBe(2)
    expect(await t.metrics.exported('demo.latency_ms')).toBe(2)
    expect(await t.metrics.exported('9lives')).toBeUndefined()
    expect(await t.metrics.text()).toMatch(/^demo_requests_total 2$/m)
  })

  it('metrics past limits.maxMetrics read as undefined: their null stats count nothing', async () => {
    t = await createPluginTester(fixture('go', 'metrics'), { limits: { maxMetrics: 2 } })
    await t.request({ headers: { host: 'a', 'x-record': '7' } })
    expect([t.metrics.get('demo.requests_total'), t.metrics.get('demo.inflight')]).toEqual([1, 1])
    expect([t.metrics.histogram('demo.latency_ms'), t.metrics.get('9lives')]).toEqual([undefined, undefined])
    expect(t).toHaveLogged('warn', 'limits.maxMetrics (2) reached')
  })

  it('shared data seeded by the test, read by the plugin, and the plugin\'s writes read back', async () => {
    t = await createPluginTester(fixture('go', 'shared-data'), { vmId: 'vm1' })
    t.sharedData.set('hits', '41')
    const get = await t.request({ headers: { host: 'a', 'x-op': 'get', 'x-key': 'hits' } })
    expect(get).toAnswer(200, '41')
    expect(get.localResponse).toHaveHeader('x-cas', String(t.sharedData.get('hits')!.cas))
    expect(await t.request({ headers: { host: 'a', 'x-op': 'incr', 'x-key': 'hits' } })).toAnswer(200, '42')
    expect(t.sharedData.get('hits')?.text).toBe('42')
    expect(t.sharedData.get('hits', 'other-vm')).toBeUndefined()
  })
})
