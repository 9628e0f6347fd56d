// Isolation settings in declarative configuration: a pipeline file's per-plugin
// rebuildAfterRequests / rebuildMaxMemoryBytes / strictHostcalls and its host section (limits:,
// strictHostcalls:), checked before anything loads; WasmPlugin resources and Kong filters say where
// those belong; the file's limits make the host of serve --config and createPipelineTester.
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { serve } from '../../src/cli/serve.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { loadPipelineConfig, readPipelineConfig } from '../../src/pipeline/config.js'
import { createPipelineTester } from '../../src/testing/pipeline-tester.js'
import { fixture, hostsClosedAfterEach } from '../helpers.js'
import { get } from '../hostile/harness.js'

const newHost = hostsClosedAfterEach()
const file = fileURLToPath(new URL('../fixtures-config/isolation.yaml', import.meta.url))
const wasm = (kind: 'go' | 'wat', name: string) => fixture(kind, name)
const invalid = (message: RegExp) => expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID', message: expect.stringMatching(message) })

describe('pipeline file: isolation settings', () => {
  it('per-plugin fields reach host.load(); the file\'s strictHostcalls is the default a plugin may override; limits come back as host settings', async () => {
    const decl = await readPipelineConfig(file)
    expect(decl.host).toEqual({ strictHostcalls: true, limits: { callbackTimeoutMs: 500, maxSharedDataKeys: 1, maxMetrics: 100 } })
    expect(decl.plugins.map((p) => [p.options.name, p.options.rebuildAfterRequests, p.options.rebuildMaxMemoryBytes, p.options.strictHostcalls])).toEqual([
      ['counter', 2, undefined, true],
      ['lenient', undefined, 268435456, false],
    ])
  })

  it.each([
    [{ plugins: [{ wasm: 'a.wasm', rebuildAfterRequests: 2.5 }] }, /<object>: plugin "a": rebuildAfterRequests must be a whole number of requests, 0 or more \(0: never\), got 2\.5/],
    [{ plugins: [{ wasm: 'a.wasm', rebuildAfterRequests: '10' }] }, /rebuildAfterRequests must be a whole number .*got "10"/],
    [{ plugins: [{ wasm: 'a.wasm', rebuildMaxMemoryBytes: -1 }] }, /plugin "a": rebuildMaxMemoryBytes must be a number of bytes, 0 or more/],
    [{ plugins: [{ wasm: 'a.wasm', strictHostcalls: 'yes' }] }, /plugin "a": strictHostcalls must be true or false, got "yes"/],
    [{ strictHostcalls: 1, plugins: [] }, /<object>: strictHostcalls must be true or false, got 1/],
    [{ limits: { maxMemoryByte: 1 }, plugins: [] }, /<object>: limits\.maxMemoryByte is not a known limit; limits has maxWasmBytes, .*maxMetrics/],
    [{ limits: { maxMetrics: -1 }, plugins: [] }, /<object>: limits\.maxMetrics must be a number of 0 or more \(0 turns it off\), got -1/],
    [{ limits: [1], plugins: [] }, /<object>: limits must be a map of limit names to numbers/],
  ])('%j is refused with PWH_ERR_CONFIG_INVALID', async (doc, message) => {
    await expect(readPipelineConfig(doc)).rejects.toEqual(invalid(message))
  })

  it('WasmPlugin resources and Kong filters have no such fields: the error says where they go', async () => {
    const resource = { apiVersion: 'extensions.higress.io/v1alpha1', kind: 'WasmPlugin', metadata: { name: 'a' }, spec: { url: 'a.wasm', rebuildAfterRequests: 10 } }
    await expect(readPipelineConfig(resource)).rejects.toEqual(invalid(/WasmPlugin "a": spec\.rebuildAfterRequests is not a WasmPlugin spec field \(Higress rebuilds a VM from the plugin's own code: wasm-go WithRebuildAfterRequests \/ WithRebuildMaxMemBytes\); give it to the plugin in a pipeline file/))
    const limited = { ...resource, spec: { url: 'a.wasm', limits: { maxMetrics: 1 } } }
    await expect(readPipelineConfig(limited)).rejects.toEqual(invalid(/spec\.limits is not a WasmPlugin spec field; it is a host setting/))
    const kong = { _format_version: '3.0', wasm_filters_path: '.', filter_chains: [{ route: 'r', filters: [{ name: 'f', strictHostcalls: true }] }] }
    await expect(readPipelineConfig(kong)).rejects.toEqual(invalid(/filter "f" \(filters\[0\]\): strictHostcalls is not a Kong filter field; it is a host setting/))
  })

  it('a host made without the file\'s limits is refused before any plugin loads; one made with them loads the file', async () => {
    const { host } = newHost('info', { limits: { maxMetrics: 100 } })
    await expect(loadPipelineConfig(host, file)).rejects.toEqual(invalid(/isolation\.yaml: limits\.callbackTimeoutMs is 500 in the file, the host runs with 1000; limits\.maxSharedDataKeys is 1 in the file, the host runs with 100000\. Limits are host settings/))
    expect(host.plugins).toEqual([])
    const decl = await readPipelineConfig(file)
    const { host: made } = newHost('info', { limits: decl.host!.limits! })
    const pipeline = await PluginPipeline.fromConfig(made, file)
    expect(pipeline.plan().map((p) => p.name)).toEqual(['counter', 'lenient'])
    expect(made.limits).toMatchObject({ callbackTimeoutMs: 500, maxSharedDataKeys: 1, maxMetrics: 100, maxMemoryBytes: 1024 ** 3 })
  })

  it('the file\'s strictHostcalls refuses a plugin importing unimplemented hostcalls; the plugin\'s own false wins over it', async () => {
    const { host } = newHost('info')
    const strict = { strictHostcalls: true, plugins: [{ wasm: wasm('wat', 'hostile-unimplemented') }] }
    await expect(loadPipelineConfig(host, strict)).rejects.toMatchObject({ code: 'PWH_ERR_PLUGIN_UNIMPLEMENTED' })
    const lenient = { strictHostcalls: true, plugins: [{ wasm: wasm('wat', 'hostile-unimplemented'), strictHostcalls: false }] }
    expect((await loadPipelineConfig(host, lenient)).plugins).toHaveLength(1)
  })

  it('createPipelineTester makes its host from the file\'s limits (the test\'s own win) and the rebuild settings apply', async () => {
    const t = await createPipelineTester(file, { limits: { maxMetrics: 7 } })
    try {
      expect(t.host.limits).toMatchObject({ callbackTimeoutMs: 500, maxSharedDataKeys: 1, maxMetrics: 7 })
      const set = (key: string) => t.request({ headers: { host: 'a', 'x-op': 'set', 'x-key': key, 'x-value': '1' } })
      const counter = t.plugins.find((p) => p.name === 'counter')!
      const first = counter.vm
      expect((await set('a')).localResponse?.text).toBe('ok')
      expect((await set('b')).localResponse?.text).toBe('error status returned by host: internal failure')
      expect(counter.vm).toBe(first)
      // rebuildAfterRequests: 2 — the third request runs on a new VM.
      await set('a')
      expect(counter.vm).not.toBe(first)
    } finally {
      await t.close()
    }
  })

  it('serve --config: the file\'s limits make the host; limits given on the command line win', async () => {
    const logs: string[] = []
    const s = await serve({
      plugins: [],
      config: file,
      port: 0,
      host: '127.0.0.1',
      watch: false,
      logger: { level: 'warn', log: (_l, m) => logs.push(m) },
      accessLog: false,
      demo: '',
      print: () => {},
      // What --cpu-limit-ms would add; maxSharedDataKeys stands for any limit given outside the file.
      hostOptions: { limits: { maxSharedDataKeys: 2 } },
    })
    try {
      const set = (key: string) => get(`${s.url}/`, { headers: { 'x-op': 'set', 'x-key': key, 'x-value': '1' } })
      expect((await set('a')).body).toBe('ok')
      expect((await set('b')).body).toBe('ok')
      const third = await set('c')
      expect([third.status, third.body]).toEqual([409, 'error status returned by host: internal failure'])
      expect(logs.filter((m) => m.startsWith('limits.'))).toEqual([expect.stringMatching(/^limits\.maxSharedDataKeys \(2\) reached/)])
    } finally {
      await s.close(100)
    }
  })

  it('loadPipelineConfig of a file without limits into any host still works', async () => {
    const { host } = newHost('info', { limits: { maxMetrics: 3 } })
    const options = await loadPipelineConfig(host, { plugins: [{ wasm: wasm('go', 'minimal') }] })
    expect(options.plugins).toHaveLength(1)
    expect(newHost('info').host.limits.maxMetrics).toBe(10_000)
  })
})
