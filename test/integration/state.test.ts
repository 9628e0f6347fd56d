// Shared data, shared queues and metrics in one process (the default stores), with real Go plugins.
import { describe, expect, it } from 'vitest'
import { Registry } from 'prom-client'
import { createMemorySharedData } from '../../src/state/memory.js'
import type { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { fixture, hostsClosedAfterEach, pipelineOf, run } from '../helpers.js'

const newHost = hostsClosedAfterEach()
const op = (pipeline: PluginPipeline, headers: Record<string, string>) => run(pipeline, { path: '/', authority: 'example.com', headers })
const until = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5))
  return cond()
}

describe('shared data (shared-data fixture)', () => {
  it('two plugins with the same vm_id see each other\'s writes; another vm_id does not', async () => {
    const { host } = newHost('info')
    const a = await pipelineOf(host, [{ wasm: fixture('go', 'shared-data'), vmId: 'vm1', name: 'a' }])
    const b = await pipelineOf(host, [{ wasm: fixture('go', 'shared-data'), vmId: 'vm1', name: 'b' }])
    const c = await pipelineOf(host, [{ wasm: fixture('go', 'shared-data'), vmId: 'other', name: 'c' }])
    expect((await op(a, { 'x-op': 'set', 'x-key': 'k', 'x-value': 'from-a' })).response.body.toString()).toBe('ok')
    const got = await op(b, { 'x-op': 'get', 'x-key': 'k' })
    expect(got.local?.status).toBe(200)
    expect(got.response.body.toString()).toBe('from-a')
    const miss = await op(c, { 'x-op': 'get', 'x-key': 'k' })
    expect(miss.local?.status).toBe(404)
    expect(miss.response.body.toString()).toBe('error status returned by host: not found')
  })

  it('CAS: every write gets a new CAS; a stale CAS is refused with CasMismatch; CAS 0 always writes', async () => {
    const { host } = newHost('info')
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'shared-data') }])
    await op(p, { 'x-op': 'set', 'x-key': 'k', 'x-value': 'v1' })
    const first = Number((await op(p, { 'x-op': 'get', 'x-key': 'k' })).local?.headers.get('x-cas'))
    expect(first).toBe(1)
    expect((await op(p, { 'x-op': 'set', 'x-key': 'k', 'x-value': 'v2', 'x-cas': String(first) })).local?.status).toBe(200)
    const second = Number((await op(p, { 'x-op': 'get', 'x-key': 'k' })).local?.headers.get('x-cas'))
    expect(second).toBe(2)
    const stale = await op(p, { 'x-op': 'set', 'x-key': 'k', 'x-value': 'v3', 'x-cas': String(first) })
    expect(stale.local?.status).toBe(409)
    expect(stale.response.body.toString()).toBe('error status returned by host: cas mismatch')
    expect((await op(p, { 'x-op': 'get', 'x-key': 'k' })).response.body.toString()).toBe('v2')
    // A new key is created whatever CAS is given; CAS 0 overwrites unconditionally; empty values are fine.
    expect((await op(p, { 'x-op': 'set', 'x-key': 'new', 'x-value': 'n', 'x-cas': '999' })).local?.status).toBe(200)
    expect((await op(p, { 'x-op': 'set', 'x-key': 'k', 'x-value': '', 'x-cas': '0' })).local?.status).toBe(200)
    const empty = await op(p, { 'x-op': 'get', 'x-key': 'k' })
    expect(empty.local?.status).toBe(200)
    expect(empty.response.body.length).toBe(0)
    expect(Number(empty.local?.headers.get('x-cas'))).toBe(4)
  })

  it('one store given to two hosts is shared; CAS-retry increments add up', async () => {
    const sharedData = createMemorySharedData()
    const p1 = await pipelineOf(newHost('info', { sharedData }).host, [{ wasm: fixture('go', 'shared-data') }])
    const p2 = await pipelineOf(newHost('info', { sharedData }).host, [{ wasm: fixture('go', 'shared-data') }])
    for (let i = 0; i < 50; i++) {
      await Promise.all([op(p1, { 'x-op': 'incr', 'x-key': 'n' }), op(p2, { 'x-op': 'incr', 'x-key': 'n' })])
    }
    expect((await op(p1, { 'x-op': 'get', 'x-key': 'n' })).response.body.toString()).toBe('100')
    expect(sharedData.get('', 'n')?.value.toString()).toBe('100')
  })
})

describe('shared queues (shared-queue fixture)', () => {
  it('an item enqueued by one plugin reaches proxy_on_queue_ready of the registering root, which dequeues it', async () => {
    const { host, logs } = newHost('info')
    await pipelineOf(host, [{ wasm: fixture('go', 'shared-queue'), name: 'rx', vmId: 'q', config: { queue: 'jobs', receiver: true } }])
    expect(logs.map((l) => l.message)).toContain('registered jobs as 1')
    const tx = await pipelineOf(host, [{ wasm: fixture('go', 'shared-queue'), name: 'tx', vmId: 'q', config: { queue: 'jobs' } }])
    const r = await op(tx, { 'x-enqueue': 'hello' })
    expect(r.response.body.toString()).toBe('enqueued 1')
    await op(tx, { 'x-enqueue': 'world' })
    expect(await until(() => logs.some((l) => l.message === 'dequeued world'))).toBe(true)
    const rx = logs.filter((l) => l.plugin === 'rx').map((l) => l.message)
    expect(rx.filter((m) => m.startsWith('dequeued'))).toEqual(['dequeued hello', 'dequeued world'])
  })

  it('resolving in another vm_id, an unknown queue, and dequeue from an empty queue', async () => {
    const { host } = newHost('info')
    await pipelineOf(host, [{ wasm: fixture('go', 'shared-queue'), vmId: 'owner', config: { queue: 'q1', receiver: false } }])
    const other = await pipelineOf(host, [{ wasm: fixture('go', 'shared-queue'), vmId: 'elsewhere', config: { queue: 'q1', vmId: 'owner' } }])
    const unknown = await op(other, { 'x-enqueue': 'x' })
    expect(unknown.local?.status).toBe(404)
    expect(unknown.response.body.toString()).toBe('error status returned by host: not found')
    await pipelineOf(host, [{ wasm: fixture('go', 'shared-queue'), vmId: 'owner', config: { queue: 'q1', receiver: true } }])
    expect((await op(other, { 'x-enqueue': 'cross-vm' })).local?.status).toBe(200)
    const item = await op(other, { 'x-dequeue': '1' })
    // The receiver may have taken it first (its callback runs after the enqueueing call returned).
    expect([200, 204]).toContain(item.local?.status)
    expect((await op(other, { 'x-dequeue': '1' })).local?.status).toBe(204)
  })
})

describe('metrics (metrics fixture)', () => {
  it('Envoy ids, values read back with proxy_get_metric, and prom-client text with Envoy\'s names', async () => {
    const { host, logs } = newHost('info')
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'metrics') }])
    expect(logs.map((l) => l.message)).toContain('metric ids 4 5 6 8')
    const seen = []
    for (const [add, rec] of [['3', '7'], ['-1', '120'], ['10', '4000']]) {
      const r = await run(p, { path: '/', authority: 'example.com', headers: { 'x-gauge-add': add!, 'x-record': rec! } })
      seen.push([r.upstream?.headers.get('x-counter'), r.upstream?.headers.get('x-gauge')])
    }
    expect(seen).toEqual([['1', '3'], ['2', '2'], ['3', '12']])
    const text = await host.metricsRegistry.metrics()
    expect(text).toContain('# HELP demo_requests_total wasmcustom.demo.requests_total')
    expect(text).toContain('# TYPE demo_requests_total counter\ndemo_requests_total 3\n')
    expect(text).toContain('# TYPE demo_inflight gauge\ndemo_inflight 12\n')
    expect(text).toContain('# TYPE demo_latency_ms histogram')
    expect(text).toContain('demo_latency_ms_bucket{le="5"} 0\n')
    expect(text).toContain('demo_latency_ms_bucket{le="10"} 1\n')
    expect(text).toContain('demo_latency_ms_bucket{le="250"} 2\n')
    expect(text).toContain('demo_latency_ms_bucket{le="5000"} 3\n')
    expect(text).toContain('demo_latency_ms_sum 4127\n')
    expect(text).toContain('demo_latency_ms_count 3\n')
    // A name starting with a digit is not shown by Envoy's Prometheus output.
    expect(text).not.toContain('9lives')
    expect(logs.some((l) => l.level === 'warn' && l.message.includes('"9lives" is not exported'))).toBe(true)
  })

  it('two VMs defining the same name share one stat, and an app registry can be given', async () => {
    const registry = new Registry()
    const { host } = newHost('info', { metricsRegistry: registry })
    const p1 = await pipelineOf(host, [{ wasm: fixture('go', 'metrics'), name: 'm1' }])
    const p2 = await pipelineOf(host, [{ wasm: fixture('go', 'metrics'), name: 'm2' }])
    await run(p1, { path: '/', authority: 'a' })
    const r = await run(p2, { path: '/', authority: 'a' })
    expect(r.upstream?.headers.get('x-counter')).toBe('2')
    expect(host.metricsRegistry).toBe(registry)
    expect(await registry.metrics()).toContain('demo_requests_total 2\n')
  })
})
