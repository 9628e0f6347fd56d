import { describe, expect, it } from 'vitest'
import { handle } from '../../src/adapters/node/handle.js'
import { isProxyWasmHostError } from '../../src/errors.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { echoApp, expectDocumented, hostileRound, listen, useBystander } from './harness.js'

const newHost = hostsClosedAfterEach()
const by = useBystander()

describe('hostile plugin: memory that grows without end', () => {
  it.each([
    [4 * 1024 * 1024, 64],
    [undefined, 16384], // the default: 1 GiB, Envoy's (the pages are reserved, not touched)
  ])('maxMemoryBytes %s: memory.grow answers -1 at the cap, the VM stays healthy', async (cap, pages) => {
    const { host } = newHost('info', cap === undefined ? {} : { limits: { maxMemoryBytes: cap } })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-memory'), name: 'grow' }])
    const target = await listen(handle(pipeline, echoApp))
    try {
      const { hostile } = await hostileRound(target, by, '/grow')
      expect(hostile.status).toBe(200)
      const seen = JSON.parse(hostile.body).headers as Record<string, string>
      expect(seen['x-big-grow']).toBe('4294967295')
      expect(seen['x-memory-pages']).toBe(String(pages))
      expect(host.plugins[0]!.vm!.memory.byteLength).toBe(pages * 65536)
      expect(host.plugins[0]!.healthy).toBe(true)
    } finally {
      await target.close()
    }
  })

  it('growing one page at a time (about a millisecond per grow) is stopped by the CPU limit', async () => {
    const failures: string[] = []
    const { host } = newHost('info', { limits: { callbackTimeoutMs: 300 }, onPluginFailure: (e) => failures.push(e.code) })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-memory'), name: 'grow', config: '1' }])
    const target = await listen(handle(pipeline, echoApp))
    try {
      const { hostile } = await hostileRound(target, by, '/grow')
      expect(hostile.status).toBe(500)
      expect(failures).toEqual(['PWH_ERR_PLUGIN_CPU_LIMIT'])
    } finally {
      await target.close()
    }
  })

  it('a module whose memory starts over the cap is refused at load with PWH_ERR_PLUGIN_MEMORY_LIMIT', async () => {
    const { host } = newHost('info', { limits: { maxMemoryBytes: 65536 } })
    const err = await host.load({ wasm: fixture('wat', 'hostile-memory') }).catch((e: unknown) => e)
    expect(isProxyWasmHostError(err, 'PWH_ERR_PLUGIN_MEMORY_LIMIT')).toBe(true)
    expect((err as Error).message).toMatch(/hostile-memory\.wasm: the module's memory starts at 131072 bytes, over limits\.maxMemoryBytes \(65536\)/)
    expectDocumented('PWH_ERR_PLUGIN_MEMORY_LIMIT')
  })

  it('limits are checked: a negative or non-numeric limit is a PWH_ERR_CONFIG_INVALID', async () => {
    expect(() => newHost('info', { limits: { maxMemoryBytes: -1 } })).toThrow(/limits\.maxMemoryBytes must be a number of 0 or more/)
    expect(() => newHost('info', { limits: { callbackTimeoutMs: Number.NaN } })).toThrow(/limits\.callbackTimeoutMs/)
  })
})
