import { describe, expect, it } from 'vitest'
import { handle } from '../../src/adapters/node/handle.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { echoApp, expectDocumentedText, get, hostileRound, listen, useBystander } from './harness.js'

const newHost = hostsClosedAfterEach()
const by = useBystander()
const MiB = 1024 * 1024

describe('hostile plugin: host memory filled through shared data, shared queues and metrics', () => {
  it('under the default caps RSS levels off while the plugin keeps writing; the plugin gets tolerated answers, the bystander answers', async () => {
    const { host, logs } = newHost('warn')
    // 1000 rounds per request, each a new 4 KiB key, a 4 KiB item never dequeued, a new queue and
    // a new metric: without caps every 10 requests would keep ~100 MiB more.
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-state'), name: 'hoarder', config: '1000' }])
    const target = await listen(handle(pipeline, echoApp))
    try {
      const before = process.memoryUsage().rss
      let seen: Record<string, string> = {}
      const round = async () => {
        const { hostile } = await hostileRound(target, by, '/fill')
        expect(hostile.status).toBe(200)
        seen = JSON.parse(hostile.body).headers as Record<string, string>
      }
      // 40 000 rounds: past every default cap (64 MiB of shared data, 64 MiB of queued items,
      // 1024 queues, 10 000 metrics).
      for (let i = 0; i < 40; i++) await round()
      const atCaps = process.memoryUsage().rss
      expect(Number(seen['x-sd-refused'])).toBeGreaterThan(20_000)
      expect(Number(seen['x-q-refused'])).toBeGreaterThan(20_000)
      expect(Number(seen['x-qreg-refused'])).toBeGreaterThan(30_000)
      // 80 000 rounds more, 640 MiB more of values, items and metrics: none of it is kept.
      for (let i = 0; i < 80; i++) await round()
      const after = process.memoryUsage().rss
      expect(seen['x-rounds']).toBe('120000')
      expect(after - atCaps, `RSS grew ${((after - atCaps) / MiB).toFixed(0)} MiB after the caps`).toBeLessThan(96 * MiB)
      expect(after - before, `RSS grew ${((after - before) / MiB).toFixed(0)} MiB`).toBeLessThan(512 * MiB)
      // The answers every SDK takes: InternalFailure (10) for a write, NotFound (1) for a full
      // queue, and Ok for every metric call (a null stat past the cap).
      expect(seen['x-sd-last']).toBe('10')
      expect(seen['x-q-last']).toBe('1')
      expect(seen['x-qreg-last']).toBe('10')
      expect(seen['x-metric-errors']).toBe('0')
      expect(host.plugins[0]!.healthy).toBe(true)
      // One warn line per cap, naming it.
      const warns = logs.filter((l) => l.level === 'warn' && l.plugin === 'hoarder').map((l) => /^limits\.(\w+) \(/.exec(l.message)?.[1])
      expect(warns.sort()).toEqual(['maxMetrics', 'maxSharedDataBytes', 'maxSharedQueueBytes', 'maxSharedQueues'])
      // The metrics past the cap are not exported.
      expect((await host.metricsRegistry.getMetricsAsJSON()).length).toBe(10_000)
      expect((await get(by.url)).body).toBe('bystander ok')
      expectDocumentedText('limits.maxSharedDataBytes')
    } finally {
      await target.close()
    }
  }, 120_000)
})
