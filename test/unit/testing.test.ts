// Unit tests of the test kit's fakes against the host's interfaces (Clock, HttpCallDispatcher,
// RedisBridge): no plugin, no socket.
import { describe, expect, it } from 'vitest'
import { WasmResult } from '../../src/abi/enums.js'
import type { HttpCallout, RedisCallResult } from '../../src/host/services.js'
import { createFakeClock, FAKE_CLOCK_START, isFakeClock } from '../../src/testing/fake-clock.js'
import { HttpCallRecorder } from '../../src/testing/http-calls.js'
import { decodeCommand, encodeResp, RedisCallRecorder } from '../../src/testing/redis-calls.js'
import { systemClock } from '../../src/host/clock.js'

function callout(over: Partial<HttpCallout> = {}): HttpCallout & { abort: AbortController } {
  const abort = new AbortController()
  return {
    upstream: 'outbound|80||auth.static',
    headers: [[':method', 'GET'], [':path', '/token'], [':authority', 'auth'], ['x-a', '1']],
    body: Buffer.from('q'),
    trailers: [],
    timeoutMs: 500,
    maxResponseBytes: 1 << 20,
    plugin: 'p',
    token: 4,
    signal: abort.signal,
    abort,
    ...over,
  }
}

describe('fake clock', () => {
  it('stands still, then runs due timers in due order (ties in arming order), re-armed ones included', async () => {
    const clock = createFakeClock()
    expect(clock.now()).toBe(FAKE_CLOCK_START)
    expect(clock.realtimeNs()).toBe(BigInt(FAKE_CLOCK_START) * 1_000_000n)
    const seen: string[] = []
    clock.setTimer(() => seen.push(`b@${clock.now() - FAKE_CLOCK_START}`), 20)
    clock.setTimer(() => seen.push(`a@${clock.now() - FAKE_CLOCK_START}`), 10)
    clock.setTimer(() => seen.push(`c@${clock.now() - FAKE_CLOCK_START}`), 20)
    const tick = () => {
      seen.push(`tick@${clock.now() - FAKE_CLOCK_START}`)
      clock.setTimer(tick, 15)
    }
    clock.setTimer(tick, 15)
    expect(clock.pendingTimers).toBe(4)
    expect(clock.nextTimerAt).toBe(FAKE_CLOCK_START + 10)
    expect(await clock.advance(45)).toBe(6)
    expect(seen).toEqual(['a@10', 'tick@15', 'b@20', 'c@20', 'tick@30', 'tick@45'])
    expect(clock.now()).toBe(FAKE_CLOCK_START + 45)
    expect(clock.pendingTimers).toBe(1)
  })

  it('cancelled timers never run; delays under 1 ms are 1 ms; monotonic time is never 0 and increases', async () => {
    const clock = createFakeClock({ now: new Date('2030-05-01T00:00:00Z') })
    expect(clock.now()).toBe(Date.UTC(2030, 4, 1))
    let ran = 0
    clock.setTimer(() => ran++, 5).cancel()
    clock.setTimer(() => ran++, 0)
    expect(await clock.advance(0)).toBe(0)
    expect(await clock.advance(1)).toBe(1)
    expect(ran).toBe(1)
    const a = clock.monotonicNs()
    const b = clock.monotonicNs()
    expect(a).toBeGreaterThan(0n)
    expect(b).toBeGreaterThan(a)
    await clock.advance(1000)
    expect(clock.monotonicNs() - b).toBeGreaterThanOrEqual(1_000_000_000n)
    await expect(clock.advance(-1)).rejects.toThrow(RangeError)
    expect(isFakeClock(clock)).toBe(true)
    expect(isFakeClock(systemClock)).toBe(false)
  })
})

describe('HTTP callout recorder (HttpCallDispatcher)', () => {
  it('records the call and answers with the reply the test gives, :status first, names lower-cased', async () => {
    const rec = new HttpCallRecorder(createFakeClock())
    const c = callout()
    const result = rec.dispatch(c)!
    const call = rec.calls[0]!
    expect([call.upstream, call.method, call.path, call.authority, call.timeoutMs, call.token, call.state]).toEqual(['outbound|80||auth.static', 'GET', '/token', 'auth', 500, 4, 'pending'])
    expect(call.headers.get('x-a')).toBe('1')
    expect(call.body.toString()).toBe('q')
    expect(rec.calls.pending).toEqual([call])
    await call.respond({ status: 201, headers: { 'X-Token': 'abc' }, body: 'ok', trailers: { 'x-t': '1' } })
    expect(await result).toEqual({ kind: 'response', headers: [[':status', '201'], ['x-token', 'abc']], body: Buffer.from('ok'), trailers: [['x-t', '1']] })
    expect(call.state).toBe('answered')
    expect(rec.calls.pending).toEqual([])
    await expect(call.respond()).rejects.toMatchObject({ code: 'PWH_ERR_TESTING_CALL_SETTLED' })
  })

  it('fails with reset and connect-failure; unknown upstreams get undefined (BadArgument)', async () => {
    const rec = new HttpCallRecorder(createFakeClock(), { upstreams: ['outbound|80||auth.static'] })
    expect(rec.dispatch(callout({ upstream: 'nope' }))).toBeUndefined()
    const a = rec.dispatch(callout())!
    const b = rec.dispatch(callout({ token: 8 }))!
    await rec.calls[0]!.fail('reset')
    await rec.calls[1]!.fail('connect-failure')
    expect((await a).kind).toBe('reset')
    expect((await b).kind).toBe('connect-failure')
    expect(rec.calls.length).toBe(2)
  })

  it("fail('timeout') moves a fake clock to the call's deadline; a call without timeout cannot time out", async () => {
    const clock = createFakeClock()
    const rec = new HttpCallRecorder(clock)
    const c = callout({ timeoutMs: 500 })
    // The host's side of the contract: it enforces the timeout on its clock and aborts the call.
    clock.setTimer(() => c.abort.abort(), c.timeoutMs)
    void rec.dispatch(c)
    await clock.advance(200)
    await rec.calls[0]!.fail('timeout')
    expect(clock.now()).toBe(FAKE_CLOCK_START + 500)
    expect(rec.calls[0]!.state).toBe('cancelled')
    await expect(rec.calls[0]!.respond()).rejects.toMatchObject({ code: 'PWH_ERR_TESTING_CALL_SETTLED' })
    void rec.dispatch(callout({ timeoutMs: 0, token: 8 }))
    await expect(rec.calls[1]!.fail('timeout')).rejects.toMatchObject({ code: 'PWH_ERR_TESTING_CALL_NO_TIMEOUT' })
  })

  it('next() gives each call once, waiting for one not made yet', async () => {
    const rec = new HttpCallRecorder(createFakeClock())
    void rec.dispatch(callout({ token: 4 }))
    const first = await rec.calls.next()
    const later = rec.calls.next()
    void rec.dispatch(callout({ token: 8 }))
    expect(first.token).toBe(4)
    expect((await later).token).toBe(8)
    expect(rec.calls.last?.token).toBe(8)
    expect(rec.calls.map((c) => c.token)).toEqual([4, 8])
    expect(Array.isArray(rec.calls.map((c) => c))).toBe(true)
  })
})

describe('Redis recorder (RedisBridge)', () => {
  const info = (token: number) => ({ plugin: 'p', token, signal: new AbortController().signal, timeoutMs: 0 })
  const query = (...args: string[]) => Buffer.from(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`)

  it('decodes the command, records inits, and answers with the RESP bytes of a JS value', async () => {
    const rec = new RedisCallRecorder()
    const owner = {}
    expect(rec.init(owner, 'outbound|6379||redis.dns', { username: 'u', password: 'p', timeoutMs: 1000, params: { db: '1' } })).toBe(WasmResult.Ok)
    expect(rec.inits).toEqual([{ cluster: 'outbound|6379||redis.dns', username: 'u', password: 'p', timeoutMs: 1000, params: { db: '1' } }])
    const reply = rec.call(owner, 'outbound|6379||redis.dns', query('incr', 'ключ'), info(7))!
    const call = rec.calls[0]!
    expect(call.command).toEqual(['incr', 'ключ'])
    await call.respond(3)
    expect(await reply).toEqual({ ok: true, reply: Buffer.from(':3\r\n') })
    const failed = rec.call(owner, 'outbound|6379||redis.dns', query('get', 'k'), info(11))!
    await rec.calls[1]!.fail()
    expect((await failed as RedisCallResult).ok).toBe(false)
    await expect(rec.calls[1]!.respond(1)).rejects.toMatchObject({ code: 'PWH_ERR_TESTING_CALL_SETTLED' })
  })

  it('unknown clusters get BadArgument / undefined', () => {
    const rec = new RedisCallRecorder({ clusters: ['a'] })
    expect(rec.init({}, 'b', { username: '', password: '', timeoutMs: 0, params: {} })).toBe(WasmResult.BadArgument)
    expect(rec.call({}, 'b', query('get', 'k'), info(7))).toBeUndefined()
  })

  it('encodes every RESP2 reply type byte for byte', () => {
    expect(encodeResp(1).toString()).toBe(':1\r\n')
    expect(encodeResp(-2n).toString()).toBe(':-2\r\n')
    expect(encodeResp(1.5).toString()).toBe('$3\r\n1.5\r\n')
    expect(encodeResp('héllo').toString()).toBe('$6\r\nhéllo\r\n')
    expect(encodeResp(Buffer.from([0, 13, 10])).equals(Buffer.from('$3\r\n\x00\r\n\r\n', 'latin1'))).toBe(true)
    expect(encodeResp(null).toString()).toBe('$-1\r\n')
    expect(encodeResp({ simple: 'OK' }).toString()).toBe('+OK\r\n')
    expect(encodeResp(new Error('ERR wrong\r\ntype')).toString()).toBe('-ERR wrong type\r\n')
    expect(encodeResp(['a', [1, null], []]).toString()).toBe('*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n*0\r\n')
    expect(() => encodeResp(true as never)).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
  })

  it('decodes RESP command arrays and refuses anything else', () => {
    expect(decodeCommand(query('set', 'k', 'a b'))).toEqual(['set', 'k', 'a b'])
    expect(decodeCommand(Buffer.from('PING\r\n'))).toEqual([])
    expect(decodeCommand(Buffer.from('*1\r\n$9\r\nshort\r\n'))).toEqual([])
  })
})
