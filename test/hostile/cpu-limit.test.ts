import { describe, expect, it } from 'vitest'
import { handle } from '../../src/adapters/node/handle.js'
import type { PluginFailureError } from '../../src/errors.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { echoApp, expectDocumented, get, hostileRound, listen, useBystander } from './harness.js'

const newHost = hostsClosedAfterEach()
const by = useBystander()

const LIMIT = 200

async function cpuPlugin(mode: string, failStrategy: 'FAIL_CLOSE' | 'FAIL_OPEN' = 'FAIL_CLOSE') {
  const failures: PluginFailureError[] = []
  const { host, logs } = newHost('info', { limits: { callbackTimeoutMs: LIMIT }, onPluginFailure: (e) => failures.push(e) })
  const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-cpu'), name: 'spin', config: mode, failStrategy }])
  const target = await listen(handle(pipeline, echoApp))
  return { host, logs, failures, target }
}

describe('hostile plugin: guest code that never returns', () => {
  it.each([
    ['r', 'a loop in proxy_on_request_headers'],
    ['c', 'return_call recursion (function entries only)'],
    ['h', 'a loop calling a hostcall'],
  ])('%s: %s is stopped; the request gets 500 wasm_fail_stream, the VM PWH_ERR_PLUGIN_CPU_LIMIT', async (mode) => {
    const { host, failures, target } = await cpuPlugin(mode)
    try {
      expect(host.plugins[0]!.healthy).toBe(true)
      const { hostile } = await hostileRound(target, by, '/spin')
      expect(hostile.status).toBe(500)
      expect(hostile.body).toBe('plugin spin failed')
      expect(failures.map((f) => [f.code, f.callback])).toEqual([['PWH_ERR_PLUGIN_CPU_LIMIT', 'proxy_on_request_headers']])
      expect(failures[0]!.message).toContain(`limits.callbackTimeoutMs: ${LIMIT} ms`)
      expect(host.plugins[0]!.healthy).toBe(false)
      // FAIL_CLOSE: the failed VM never serves again; the process does.
      expect((await get(`${target.url}/again`)).status).toBe(500)
      expectDocumented('PWH_ERR_PLUGIN_CPU_LIMIT')
    } finally {
      await target.close()
    }
  })

  it('FAIL_OPEN: the request goes on without the plugin', async () => {
    const { failures, target } = await cpuPlugin('r', 'FAIL_OPEN')
    try {
      const { hostile } = await hostileRound(target, by, '/spin')
      expect(hostile.status).toBe(200)
      expect(JSON.parse(hostile.body).headers['x-cpu']).toBeUndefined()
      expect(failures[0]!.code).toBe('PWH_ERR_PLUGIN_CPU_LIMIT')
    } finally {
      await target.close()
    }
  })

  it('a loop in proxy_on_tick (no traffic) is stopped; later requests get the fail strategy', async () => {
    const { host, failures, target } = await cpuPlugin('t')
    try {
      // The tick starts 1 ms after on_configure: by the time this answers the loop ran and was stopped.
      const side = await get(by.url)
      expect(side.status).toBe(200)
      await new Promise((r) => setTimeout(r, 50))
      expect(failures.map((f) => [f.code, f.callback])).toEqual([['PWH_ERR_PLUGIN_CPU_LIMIT', 'proxy_on_tick']])
      expect(host.plugins[0]!.healthy).toBe(false)
      const { hostile } = await hostileRound(target, by, '/after-tick')
      expect(hostile.status).toBe(500)
    } finally {
      await target.close()
    }
  })

  it('a well-behaved configuration of the same module runs normally under the limit', async () => {
    const { host, target } = await cpuPlugin('-')
    try {
      const { hostile } = await hostileRound(target, by, '/fine')
      expect(hostile.status).toBe(200)
      expect(JSON.parse(hostile.body).headers['x-cpu']).toBe('ok')
      expect(host.plugins[0]!.healthy).toBe(true)
    } finally {
      await target.close()
    }
  })

  it('a module the fuel rewrite must refuse (it imports the host\'s refuel) runs under the watchdog: the loop is stopped too', async () => {
    const failures: PluginFailureError[] = []
    const { host, logs } = newHost('info', { limits: { callbackTimeoutMs: LIMIT }, onPluginFailure: (e) => failures.push(e) })
    expect((await host.compile(fixture('wat', 'hostile-refuel'))).cpuLimit).toBe('watchdog')
    expect(logs.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      expect.stringMatching(/hostile-refuel\.wasm: the CPU limit runs under the watchdog \(about 60–190 µs per callback\): the module already imports proxy_wasm_host\.refuel/),
    ])
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-refuel'), name: 'spoof' }])
    const target = await listen(handle(pipeline, echoApp))
    try {
      const { hostile } = await hostileRound(target, by, '/spoof')
      expect(hostile.status).toBe(500)
      expect(failures.map((f) => f.code)).toEqual(['PWH_ERR_PLUGIN_CPU_LIMIT'])
    } finally {
      await target.close()
    }
  })

  it('_initialize that never returns: load() fails with START_FAILED caused by the CPU limit', async () => {
    const { host } = newHost('info', { limits: { callbackTimeoutMs: LIMIT } })
    const loading = host.load({ wasm: fixture('wat', 'hostile-init-loop'), name: 'init' })
    const side = get(by.url)
    const err = await loading.then(() => undefined, (e: unknown) => e as PluginFailureError)
    expect(err?.code).toBe('PWH_ERR_PLUGIN_START_FAILED')
    expect((err?.cause as PluginFailureError).code).toBe('PWH_ERR_PLUGIN_CPU_LIMIT')
    expect(err?.message).toContain('_initialize')
    expect((await side).status).toBe(200)
    expect(host.plugins).toEqual([])
    expectDocumented('PWH_ERR_PLUGIN_START_FAILED')
  })
})
