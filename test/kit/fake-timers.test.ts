// vitest's fake timers (which replace process.hrtime, Date and setTimeout) installed before a Go
// plugin loads: the host's clocks were captured at import, so the plugin never sees them.
import { afterEach, describe, expect, it, vi } from 'vitest'
import 'proxy-wasm-host/testing/vitest'
import { createPluginTester } from 'proxy-wasm-host/testing'
import { systemClock, type Clock } from '../../src/host/clock.js'
import { fixture } from '../helpers.js'

afterEach(() => vi.useRealTimers())

describe('vi.useFakeTimers() and Go plugins', () => {
  it('a Go plugin loads and serves, and its ticks run on real timers', async () => {
    vi.useFakeTimers()
    vi.setSystemTime(0)
    expect(process.hrtime.bigint()).toBe(0n)
    const t = await createPluginTester(fixture('go', 'pause-tick'))
    try {
      const r = await t.request({ headers: { host: 'a' } })
      expect(r.upstreamRequest).toHaveHeader('x-resumed', 'tick')
      expect(t).toHaveLogged('info', 'resumed 1')
    } finally {
      t.close()
    }
  })

  it('installed after load too', async () => {
    const t = await createPluginTester(fixture('go', 'pause-tick'))
    try {
      vi.useFakeTimers()
      vi.setSystemTime(0)
      const r = await t.request({ headers: { host: 'a' } })
      expect(r.upstreamRequest).toHaveHeader('x-resumed', 'tick')
    } finally {
      t.close()
    }
  })

  it("the kit's fake clock works under them too", async () => {
    vi.useFakeTimers()
    const t = await createPluginTester(fixture('go', 'pause-tick'), { clock: 'fake' })
    try {
      const pending = t.request({ headers: { host: 'a' } })
      await t.tick(20)
      expect((await pending).upstreamRequest).toHaveHeader('x-resumed', 'tick')
    } finally {
      t.close()
    }
  })

  it('control: a clock that reads the faked process.hrtime kills the Go runtime at start', async () => {
    vi.useFakeTimers()
    vi.setSystemTime(0)
    const naive: Clock = { ...systemClock, monotonicNs: () => process.hrtime.bigint(), realtimeNs: () => BigInt(Date.now()) * 1_000_000n }
    const err = await createPluginTester(fixture('go', 'hello-world'), { clock: naive }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'PWH_ERR_PLUGIN_START_FAILED' })
    expect((err as Error).message).toContain('nanotime returning zero')
  })
})
