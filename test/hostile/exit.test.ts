import { describe, expect, it } from 'vitest'
import { handle } from '../../src/adapters/node/handle.js'
import type { PluginFailureError } from '../../src/errors.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { echoApp, expectDocumented, hostileRound, listen, useBystander } from './harness.js'

const newHost = hostsClosedAfterEach()
const by = useBystander()

describe('hostile plugin: proc_exit in a callback', () => {
  it.each(['sandbox', 'node', 'wasmer'] as const)('%s: PWH_ERR_PLUGIN_EXIT with exit code 3; 500 for the request; the process lives', async (wasi) => {
    const failures: PluginFailureError[] = []
    const { host } = newHost('info', { wasi, onPluginFailure: (e) => failures.push(e) })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-exit'), name: 'quitter' }])
    const target = await listen(handle(pipeline, echoApp))
    try {
      const { hostile } = await hostileRound(target, by, '/exit')
      expect(hostile.status).toBe(500)
      expect(failures.map((f) => [f.code, f.exitCode, f.callback])).toEqual([['PWH_ERR_PLUGIN_EXIT', 3, 'proxy_on_request_headers']])
      expect(failures[0]!.message).toContain('proc_exit(3)')
      expect(host.plugins[0]!.failure?.code).toBe('PWH_ERR_PLUGIN_EXIT')
      expectDocumented('PWH_ERR_PLUGIN_EXIT')
    } finally {
      await target.close()
    }
  })
})
