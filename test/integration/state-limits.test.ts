// The state caps (limits.maxSharedData*, limits.maxSharedQueue*, limits.maxMetrics): each store —
// in memory and in a real redis-server — counts per vm_id and refuses only what would grow past a
// cap; through the hostcalls real Go plugins get the answers their SDK tolerates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SharedDataLimits, SharedDataStore, SharedQueueLimits, SharedQueueStore } from '../../src/host/services.js'
import { createMemorySharedData, createMemorySharedQueues } from '../../src/state/memory.js'
import { createRedisSharedState, type RedisSharedState } from '../../src/state/redis-store.js'
import { fixture, hostsClosedAfterEach, pipelineOf, run } from '../helpers.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'

const newHost = hostsClosedAfterEach()
let redis: RedisServer
const states: RedisSharedState[] = []
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  for (const s of states) s.close()
  await redis?.stop()
})

let prefixes = 0
function redisState(): RedisSharedState {
  const s = createRedisSharedState({ redis: redis.url, keyPrefix: `lim${process.pid}x${++prefixes}` })
  states.push(s)
  return s
}

const stores: Array<[string, () => { data: SharedDataStore; queues: SharedQueueStore }]> = [
  ['memory', () => ({ data: createMemorySharedData(), queues: createMemorySharedQueues() })],
  ['Redis', () => {
    const s = redisState()
    return { data: s.sharedData, queues: s.sharedQueues }
  }],
]
const data = (l: Partial<SharedDataLimits>): SharedDataLimits => ({ maxBytes: 0, maxKeys: 0, ...l })
const queue = (l: Partial<SharedQueueLimits>): SharedQueueLimits => ({ maxQueues: 0, maxItems: 0, maxBytes: 0, ...l })
const b = (s: string) => Buffer.from(s)
const noop = () => undefined

describe.each(stores)('%s store: caps per vm_id', (_name, make) => {
  it('shared data: a new key past maxKeys is refused; overwrites still succeed; a CAS mismatch comes first', () => {
    const { data: sd } = make()
    const l = data({ maxKeys: 2 })
    expect(sd.set('vm', 'a', b('1'), 0, l)).toBe(true)
    expect(sd.set('vm', 'b', b('2'), 0, l)).toBe(true)
    expect(sd.set('vm', 'c', b('3'), 0, l)).toBe('keys')
    expect(sd.get('vm', 'c')).toBeUndefined()
    expect(sd.set('vm', 'a', b('longer value'), 0, l)).toBe(true)
    expect(sd.set('vm', 'a', b('x'), 999_999, l)).toBe(false)
    // Another vm_id has caps of its own.
    expect(sd.set('other', 'c', b('3'), 0, l)).toBe(true)
    // Without caps (a host of an older version, or 0): nothing is refused.
    expect(sd.set('vm', 'c', b('3'), 0)).toBe(true)
  })

  it('shared data: keys and values count as bytes; only writes that grow past maxBytes are refused', () => {
    const { data: sd } = make()
    const l = data({ maxBytes: 10 })
    expect(sd.set('vm', 'k', b('abcd'), 0, l)).toBe(true) // 5
    expect(sd.set('vm', 'j', b('abcde'), 0, l)).toBe('bytes') // 5 + 6 > 10
    expect(sd.set('vm', 'k', b('abcdefghi'), 0, l)).toBe(true) // 10: exactly the cap
    expect(sd.set('vm', 'k', b('abcdefghij'), 0, l)).toBe('bytes')
    expect(sd.get('vm', 'k')?.value.toString()).toBe('abcdefghi')
    expect(sd.set('vm', 'k', b(''), 0, l)).toBe(true) // shrinks to 1
    expect(sd.set('vm', 'j', b('abcde'), 0, l)).toBe(true) // 7
  })

  it('queues: a new queue past maxQueues is refused, reopening one is not; names count as bytes', () => {
    const { queues: q } = make()
    const l = queue({ maxQueues: 1 })
    const id = q.register('vm', 'first', noop, l)
    expect(typeof id).toBe('number')
    expect(q.register('vm', 'second', noop, l)).toBe('queues')
    expect(q.resolve('vm', 'second')).toBeUndefined()
    expect(q.register('vm', 'first', noop, l)).toBe(id)
    expect(typeof q.register('other', 'second', noop, l)).toBe('number')
    expect(q.register('named', 'a-long-name', noop, queue({ maxBytes: 5 }))).toBe('bytes')
  })

  it('queues: items and bytes waiting past the caps are refused until some are dequeued', () => {
    const { queues: q } = make()
    const l = queue({ maxItems: 2, maxBytes: 10 })
    const id = q.register('vm', 'q', noop, l) as number // the name: 1 byte
    expect(q.enqueue(id, b('abcd'), l)).toBe(true) // 5
    expect(q.enqueue(id, b('abcdef'), l)).toBe('bytes') // 11
    expect(q.enqueue(id, b('abc'), l)).toBe(true) // 8, 2 items
    expect(q.enqueue(id, b('a'), l)).toBe('items')
    expect(q.dequeue(id)?.toString()).toBe('abcd') // 4, 1 item
    expect(q.enqueue(id, b('abcdef'), l)).toBe(true) // 10
    expect(q.dequeue(id)?.toString()).toBe('abc')
    expect(q.dequeue(id)?.toString()).toBe('abcdef')
    expect(q.dequeue(id)).toBeNull()
    // Emptied: the counts are back to the name alone.
    expect(q.enqueue(id, b('123456789'), l)).toBe(true)
    expect(q.enqueue(id, b('x'), l)).toBe('bytes')
  })
})

const op = (p: Awaited<ReturnType<typeof pipelineOf>>, headers: Record<string, string>) => run(p, { path: '/', authority: 'example.com', headers })
const limitWarns = (logs: Array<{ level: string; message: string }>) => logs.filter((l) => l.level === 'warn' && l.message.startsWith('limits.')).map((l) => l.message)

describe('through the hostcalls: what Go plugins (Higress SDK) get', () => {
  it.each(['memory', 'Redis'] as const)('%s: a shared-data key past the cap is an error, a CAS-retry loop ends at once, overwrites work, one warn line', async (kind) => {
    const sharedData = kind === 'Redis' ? redisState().sharedData : 'memory'
    const { host, logs } = newHost('info', { sharedData, limits: { maxSharedDataKeys: 1 } })
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'shared-data'), name: 'sd', vmId: 'cap' }])
    expect((await op(p, { 'x-op': 'set', 'x-key': 'a', 'x-value': '1' })).response.body.toString()).toBe('ok')
    const refused = await op(p, { 'x-op': 'set', 'x-key': 'b', 'x-value': '2' })
    expect(refused.local?.status).toBe(409)
    expect(refused.response.body.toString()).toBe('error status returned by host: internal failure')
    // The wasm-go CAS-retry loop: InternalFailure is not CasMismatch, so it stops at the first try.
    const incr = await op(p, { 'x-op': 'incr', 'x-key': 'c' })
    expect(incr.local?.status).toBe(500)
    expect(incr.response.body.toString()).toBe('error status returned by host: internal failure')
    expect((await op(p, { 'x-op': 'set', 'x-key': 'a', 'x-value': '22' })).response.body.toString()).toBe('ok')
    expect((await op(p, { 'x-op': 'get', 'x-key': 'a' })).response.body.toString()).toBe('22')
    expect(limitWarns(logs)).toEqual(['limits.maxSharedDataKeys (1) reached for vm_id "cap": proxy_set_shared_data answers InternalFailure for new keys; raise limits.maxSharedDataKeys if the plugin needs more (docs/isolation.md)'])
    expect(host.plugins[0]!.healthy).toBe(true)
  })

  it.each(['memory', 'Redis'] as const)('%s: a full queue answers NotFound until an item is dequeued', async (kind) => {
    const sharedQueues = kind === 'Redis' ? redisState().sharedQueues : 'memory'
    const { host, logs } = newHost('info', { sharedQueues, limits: { maxSharedQueueItems: 1 } })
    const rx = await pipelineOf(host, [{ wasm: fixture('go', 'shared-queue'), name: 'rx', vmId: 'q', config: { queue: 'jobs', receiver: true } }])
    // Nobody drains it any more: the receiver's root is gone.
    rx.plan()[0]!.close()
    const tx = await pipelineOf(host, [{ wasm: fixture('go', 'shared-queue'), name: 'tx', vmId: 'q', config: { queue: 'jobs' } }])
    expect((await op(tx, { 'x-enqueue': 'one' })).local?.status).toBe(200)
    const full = await op(tx, { 'x-enqueue': 'two' })
    expect(full.local?.status).toBe(404)
    expect(full.response.body.toString()).toBe('error status returned by host: not found')
    expect((await op(tx, { 'x-dequeue': '1' })).response.body.toString()).toBe('one')
    expect((await op(tx, { 'x-enqueue': 'three' })).local?.status).toBe(200)
    expect(limitWarns(logs)).toEqual([expect.stringMatching(/^limits\.maxSharedQueueItems \(1\) reached for the vm_id of queue 1: proxy_enqueue_shared_queue answers NotFound until items are dequeued;/)])
  })

  it('metrics past maxMetrics: the plugin starts and serves (Go panics on any answer but Ok), the extra stats count nothing and are not exported', async () => {
    const { host, logs } = newHost('info', { limits: { maxMetrics: 2 } })
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'metrics') }])
    // Counter and gauge get stats; the histogram and "9lives" get the VM's null stats (ids of their type).
    expect(logs.map((l) => l.message)).toContain('metric ids 4 5 6 8')
    for (let i = 0; i < 3; i++) await run(p, { path: '/', authority: 'a', headers: { 'x-record': '7' } })
    const r = await run(p, { path: '/', authority: 'a', headers: { 'x-gauge-add': '5' } })
    expect([r.upstream?.headers.get('x-counter'), r.upstream?.headers.get('x-gauge')]).toEqual(['4', '8'])
    const text = await host.metricsRegistry.metrics()
    expect(text).toContain('demo_requests_total 4\n')
    expect(text).not.toContain('demo_latency_ms')
    expect(limitWarns(logs)).toEqual([expect.stringMatching(/^limits\.maxMetrics \(2\) reached for the host's metrics: proxy_define_metric answers Ok with a stat that counts nothing and is not exported for "demo\.latency_ms" and later new names;/)])
    expect(host.plugins[0]!.healthy).toBe(true)
  })

  it('limits are checked: a negative or non-numeric cap is a PWH_ERR_CONFIG_INVALID', () => {
    expect(() => newHost('info', { limits: { maxSharedDataBytes: -1 } })).toThrow(/limits\.maxSharedDataBytes must be a number of 0 or more/)
    expect(() => newHost('info', { limits: { maxMetrics: Number.NaN } })).toThrow(/limits\.maxMetrics/)
  })
})
