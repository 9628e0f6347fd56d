// The Redis-backed shared state: exact CAS across separate Node processes, queues from one
// process to another, and what plugins get when Redis is down. Real redis-server, real Go plugins,
// the built package in child processes.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRedisSharedState, type RedisSharedState } from '../../src/state/redis-store.js'
import { fixture, hostsClosedAfterEach, pipelineOf, run } from '../helpers.js'
import { privateBuild } from '../helpers/build.js'
import { rawRequest, startRedis, startRedisCluster, type RedisServer } from '../helpers/redis-server.js'

const newHost = hostsClosedAfterEach()
const childScript = fileURLToPath(new URL('../helpers/state-child.mjs', import.meta.url))
let redis: RedisServer
let build: ReturnType<typeof privateBuild>
const children: ChildProcess[] = []
const states: RedisSharedState[] = []

beforeAll(async () => {
  redis = await startRedis()
  build = privateBuild('proxy-wasm-host-state-test')
}, 120_000)
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL')
  for (const s of states) s.close()
  await redis?.stop()
  build?.remove()
})

function child(spec: Record<string, unknown>) {
  const proc = spawn(process.execPath, [childScript, JSON.stringify({ dist: build.dist, redis: redis.url, ...spec })], { stdio: ['pipe', 'pipe', 'pipe'] })
  children.push(proc)
  const lines: string[] = []
  let waiting: Array<{ re: RegExp; resolve: (l: string) => void }> = []
  const onData = (d: Buffer) => {
    for (const line of d.toString().split('\n').filter(Boolean)) {
      lines.push(line)
      waiting = waiting.filter((w) => (w.re.test(line) ? (w.resolve(line), false) : true))
    }
  }
  proc.stdout!.on('data', onData)
  proc.stderr!.on('data', onData)
  const exited = new Promise<number | null>((r) => proc.once('exit', r))
  return {
    lines,
    exited,
    send: (line: string) => proc.stdin!.write(`${line}\n`),
    waitFor: (re: RegExp, ms = 30_000) => {
      const hit = lines.find((l) => re.test(l))
      if (hit) return Promise.resolve(hit)
      return new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no line matched ${re}; output:\n${lines.join('\n')}`)), ms)
        waiting.push({ re, resolve: (l) => (clearTimeout(t), resolve(l)) })
        void exited.then((code) => reject(new Error(`child exited (${code}) before ${re}; output:\n${lines.join('\n')}`)))
      })
    },
  }
}

function redisState(prefix: string) {
  const s = createRedisSharedState({ redis: redis.url, keyPrefix: prefix })
  states.push(s)
  return s
}

describe('Redis-backed shared data', () => {
  it('two separate Node processes × 1000 CAS-retry increments of one key → exactly 2000', async () => {
    const prefix = `cas${Date.now()}`
    // Seeded first: with no key both processes could read NotFound and write with CAS 0, which the
    // ABI makes unconditional (one increment would be lost by design, not by the store).
    const seed = redisState(prefix)
    seed.sharedData.set('', 'counter', Buffer.from('0'), 0)
    const a = child({ mode: 'incr', n: 1000, wasm: fixture('go', 'shared-data'), prefix })
    const b = child({ mode: 'incr', n: 1000, wasm: fixture('go', 'shared-data'), prefix })
    // Both are loaded before either starts, so that they really run at the same time.
    await new Promise((r) => setTimeout(r, 1500))
    a.send('go')
    b.send('go')
    const [da, db] = await Promise.all([a.waitFor(/^done /, 120_000), b.waitFor(/^done /, 120_000)])
    const retries = Number(/retries=(\d+)/.exec(da)![1]) + Number(/retries=(\d+)/.exec(db)![1])
    expect(seed.sharedData.get('', 'counter')?.value.toString()).toBe('2000')
    // The processes did contend: some writes were refused with CasMismatch and retried.
    expect(retries).toBeGreaterThan(0)
  }, 180_000)

  it('same semantics as in memory: CAS from one global counter, stale CAS refused, scoped by vm_id', async () => {
    const s = redisState(`sem${Date.now()}`)
    const { host } = newHost('info', { sharedData: s.sharedData, sharedQueues: s.sharedQueues })
    const a = await pipelineOf(host, [{ wasm: fixture('go', 'shared-data'), vmId: 'v1' }])
    const b = await pipelineOf(host, [{ wasm: fixture('go', 'shared-data'), vmId: 'v2' }])
    const op = (p: typeof a, h: Record<string, string>) => run(p, { path: '/', authority: 'x', headers: h })
    await op(a, { 'x-op': 'set', 'x-key': 'k', 'x-value': 'one' })
    expect((await op(a, { 'x-op': 'get', 'x-key': 'k' })).local?.headers.get('x-cas')).toBe('1')
    await op(b, { 'x-op': 'set', 'x-key': 'k', 'x-value': 'other vm' })
    expect((await op(a, { 'x-op': 'get', 'x-key': 'k' })).response.body.toString()).toBe('one')
    expect((await op(b, { 'x-op': 'get', 'x-key': 'k' })).local?.headers.get('x-cas')).toBe('2')
    const stale = await op(a, { 'x-op': 'set', 'x-key': 'k', 'x-value': 'two', 'x-cas': '2' })
    expect(stale.response.body.toString()).toBe('error status returned by host: cas mismatch')
    expect((await op(a, { 'x-op': 'set', 'x-key': 'k', 'x-value': 'two', 'x-cas': '1' })).local?.status).toBe(200)
    expect((await op(a, { 'x-op': 'get', 'x-key': 'k' })).local?.headers.get('x-cas')).toBe('3')
    // Binary-safe keys and values.
    s.sharedData.set('v1', 'k\0\xff', Buffer.from([0, 255, 13, 10]), 0)
    expect([...s.sharedData.get('v1', 'k\0\xff')!.value]).toEqual([0, 255, 13, 10])
  })

  it('Redis down: the plugin gets InternalFailure (no hang, no crash) and the host logs it once', async () => {
    const down = await startRedis()
    const s = createRedisSharedState({ redis: down.url, keyPrefix: 'down', timeoutMs: 300 })
    states.push(s)
    const { host, logs } = newHost('info', { sharedData: s.sharedData })
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'shared-data') }])
    expect((await run(p, { path: '/', authority: 'x', headers: { 'x-op': 'incr', 'x-key': 'n' } })).response.body.toString()).toBe('1')
    await down.stop()
    for (let i = 0; i < 2; i++) {
      const r = await run(p, { path: '/', authority: 'x', headers: { 'x-op': 'incr', 'x-key': 'n' } })
      expect(r.local?.status).toBe(500)
      expect(r.response.body.toString()).toBe('error status returned by host: internal failure')
    }
    expect(logs.filter((l) => l.message.startsWith('shared data store failed'))).toHaveLength(1)
  })

  it('works on a 3-master Redis Cluster (all keys under one hash tag)', async () => {
    const cluster = await startRedisCluster(3)
    try {
      const s = createRedisSharedState({ redis: { nodes: cluster.addresses }, keyPrefix: 'rc' })
      states.push(s)
      expect(s.sharedData.set('', 'a', Buffer.from('1'), 0)).toBe(true)
      const e = s.sharedData.get('', 'a')!
      expect(s.sharedData.set('', 'a', Buffer.from('2'), e.cas + 1)).toBe(false)
      expect(s.sharedData.set('', 'a', Buffer.from('2'), e.cas)).toBe(true)
      expect(s.sharedData.get('', 'a')?.value.toString()).toBe('2')
      s.close()
    } finally {
      await cluster.stop()
    }
  }, 60_000)
})

describe('Redis-backed shared queues', () => {
  it('an item enqueued in process A is dequeued in process B (proxy_on_queue_ready through pub/sub)', async () => {
    const prefix = `q${Date.now()}`
    const config = { queue: 'jobs', receiver: true }
    const b = child({ mode: 'rx', wasm: fixture('go', 'shared-queue'), prefix, vmId: 'gw', config })
    await b.waitFor(/^ready$/)
    await b.waitFor(/registered jobs as 1/)
    const a = child({ mode: 'tx', wasm: fixture('go', 'shared-queue'), prefix, vmId: 'gw', config: { queue: 'jobs' } })
    await a.waitFor(/^ready$/)
    a.send('from-process-A')
    expect(await a.waitFor(/^200 /)).toBe('200 enqueued 1')
    await b.waitFor(/dequeued from-process-A/)
    await b.waitFor(/queue 1 empty/)
    // The item is gone from Redis.
    const len = await rawRequest(redis.port, `*2\r\n$4\r\nKEYS\r\n$${prefix.length + 2}\r\n${prefix}:*\r\n`)
    expect(len.toString()).not.toContain(':q:')
    a.send('exit')
    b.send('exit')
    expect(await a.exited).toBe(0)
    expect(await b.exited).toBe(0)
  }, 60_000)
})
