import { describe, expect, it } from 'vitest'
import { handle } from '../../src/adapters/node/handle.js'
import { systemClock } from '../../src/host/clock.js'
import type { FailStrategy } from '../../src/host/plugin.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { echoApp, expectDocumented, hostileRound, listen, useBystander } from './harness.js'

const newHost = hostsClosedAfterEach()
const by = useBystander()

/** The plugin's steering (foreign functions) and a clock whose `now` the test moves. */
function rig() {
  const state = { configure: '1', action: '-', names: 0, now: 1_000_000 }
  const foreignFunctions = {
    restart_vm: () => Buffer.from(String.fromCharCode(65 + state.names++)),
    restart_configure: () => Buffer.from(state.configure),
    restart_action: () => Buffer.from(state.action),
  }
  const clock = { ...systemClock, now: () => state.now }
  return { state, foreignFunctions, clock }
}

async function setup(failStrategy: FailStrategy, extra: Record<string, number> = {}) {
  const r = rig()
  const { host, logs } = newHost('info', { foreignFunctions: r.foreignFunctions, clock: r.clock })
  const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-restart'), name: 'restart', failStrategy, ...extra }])
  const target = await listen(handle(pipeline, echoApp))
  const request = async (path = '/') => {
    const { hostile } = await hostileRound(target, by, path)
    const vm = hostile.status === 200 ? (JSON.parse(hostile.body).headers['x-vm'] as string) : undefined
    return { status: hostile.status, vm, resp: hostile.headers.get('x-vm-resp') ?? undefined }
  }
  const errors = () => logs.filter((l) => l.level === 'error' && l.origin === 'host').map((l) => l.message)
  return { ...r, host, logs, pipeline, target, request, errors }
}

describe('hostile plugin: restarts that fail', () => {
  it('FAIL_RELOAD: a VM whose configure fails never serves; retries back off 200 ms doubling to 30 s; no exception reaches the adapter', async () => {
    const t = await setup('FAIL_RELOAD')
    try {
      expect(await t.request()).toEqual({ status: 200, vm: 'A', resp: 'A' })
      t.state.action = 't'
      expect((await t.request()).status).toBe(500)
      t.state.action = '-'
      t.state.configure = '0'
      // The next request retries at once (reload after a trap), and gets the fail-close answer.
      expect(await t.request()).toEqual({ status: 500, vm: undefined, resp: undefined })
      expect(t.state.names).toBe(2)
      const waits: number[] = []
      for (let attempt = 0; attempt < 10; attempt++) {
        const wait = Number(/next attempt in (\d+) ms/.exec(t.errors().at(-1)!)![1])
        waits.push(wait)
        t.state.now += wait - 1
        expect((await t.request()).status).toBe(500)
        expect(t.state.names).toBe(2 + attempt) // too early: no attempt
        t.state.now += 1
        expect((await t.request()).status).toBe(500)
        expect(t.state.names).toBe(3 + attempt) // one more attempt, refused again
      }
      expect(waits).toEqual([200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000])
      expect(t.errors().at(-1)).toMatch(/^reload failed, requests get the fail strategy; next attempt in 30000 ms: .* rejected its configuration in proxy_on_configure/)
      t.state.configure = '1'
      t.state.now += 30_000
      const back = await t.request()
      expect(back).toEqual({ status: 200, vm: 'M', resp: 'M' })
      expect(t.host.plugins[0]!.healthy).toBe(true)
      expectDocumented('PWH_ERR_PLUGIN_CONFIGURE_FAILED')
    } finally {
      await t.target.close()
    }
  })

  it('FAIL_OPEN: a failed plugin is skipped, the request goes on', async () => {
    const t = await setup('FAIL_OPEN')
    try {
      t.state.action = 't'
      const r = await t.request()
      expect(r.status).toBe(200)
      expect(r.vm).toBeUndefined()
      t.state.action = '-'
      expect((await t.request()).vm).toBeUndefined()
      expect(t.state.names).toBe(1) // FAIL_OPEN does not reload
    } finally {
      await t.target.close()
    }
  })

  it('wasm_need_rebuild with a new VM that rejects its configuration: the old VM serves on, the rebuild retries with backoff', async () => {
    const t = await setup('FAIL_CLOSE')
    try {
      t.state.action = 'r'
      expect((await t.request()).vm).toBe('A')
      t.state.action = '-'
      t.state.configure = '0'
      expect(await t.request()).toEqual({ status: 200, vm: 'A', resp: 'A' })
      expect(t.state.names).toBe(2)
      expect(t.errors().at(-1)).toMatch(/^rebuild failed, the current VM serves on; next attempt in 200 ms/)
      expect((await t.request()).vm).toBe('A')
      expect(t.state.names).toBe(2)
      t.state.configure = '1'
      t.state.now += 200
      expect(await t.request()).toEqual({ status: 200, vm: 'C', resp: 'C' })
      expect(t.logs.map((l) => l.message)).toContain('root done A')
    } finally {
      await t.target.close()
    }
  })

  it('in-flight requests finish on the old VM; its root shuts down after the last one', async () => {
    const t = await setup('FAIL_CLOSE')
    try {
      const slow = t.pipeline.exchange({ authority: 'a', path: '/slow' })
      expect((await slow.requestHeaders(true)).headers!.get('x-vm')).toBe('A')
      t.state.action = 'r'
      expect((await t.request()).vm).toBe('A')
      t.state.action = '-'
      expect(await t.request()).toEqual({ status: 200, vm: 'B', resp: 'B' })
      expect(t.logs.map((l) => l.message)).not.toContain('root done A')
      const resp = await slow.responseHeaders(200, {}, true)
      expect(resp.headers!.get('x-vm-resp')).toBe('A')
      slow.done()
      expect(t.logs.map((l) => l.message)).toContain('root done A')
      expect((await t.request()).vm).toBe('B')
    } finally {
      await t.target.close()
    }
  })

  it('a stream of a failed VM that ends after the reload does not count against the new VM', async () => {
    const t = await setup('FAIL_RELOAD')
    try {
      const slow = t.pipeline.exchange({ authority: 'a', path: '/slow' })
      expect((await slow.requestHeaders(true)).headers!.get('x-vm')).toBe('A')
      t.state.action = 't'
      expect((await t.request()).status).toBe(500)
      t.state.action = '-'
      expect((await t.request()).vm).toBe('B')
      slow.done()
      t.state.action = 'r'
      expect((await t.request()).vm).toBe('B')
      t.state.action = '-'
      expect((await t.request()).vm).toBe('C')
      // No request runs on B any more: its root shut down at once.
      expect(t.logs.map((l) => l.message)).toContain('root done B')
    } finally {
      await t.target.close()
    }
  })

  it('rebuildAfterRequests: a new VM after every N requests', async () => {
    const t = await setup('FAIL_CLOSE', { rebuildAfterRequests: 2 })
    try {
      const seen: Array<string | undefined> = []
      for (let i = 0; i < 6; i++) seen.push((await t.request()).vm)
      expect(seen).toEqual(['A', 'A', 'B', 'B', 'C', 'C'])
      expect(t.logs.map((l) => l.message).filter((m) => m.startsWith('root done'))).toEqual(['root done A', 'root done B'])
    } finally {
      await t.target.close()
    }
  })

  it('rebuildMaxMemoryBytes: a VM whose memory grew past the threshold is replaced after the request', async () => {
    const t = await setup('FAIL_CLOSE', { rebuildMaxMemoryBytes: 1024 * 1024 })
    try {
      expect((await t.request()).vm).toBe('A')
      t.state.action = 'g'
      expect((await t.request()).vm).toBe('A')
      t.state.action = '-'
      expect((await t.request()).vm).toBe('B')
      expect(t.host.plugins[0]!.vm!.memory.byteLength).toBe(2 * 65536)
    } finally {
      await t.target.close()
    }
  })
})
