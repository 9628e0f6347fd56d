import { describe, expect, it } from 'vitest'
import type { PluginOptions } from '../../src/host/host.js'
import { startedFromSnapshot } from '../../src/host/vm-snapshot.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { createPluginTester } from '../../src/testing/index.js'
import { fixture, hostsClosedAfterEach, pipelineOf, run, type LogLine } from '../helpers.js'

const newHost = hostsClosedAfterEach()

/** What a request did, as a client, an upstream and the logs see it. */
async function observe(pipeline: PluginPipeline, logs: LogLine[], body?: string) {
  const from = logs.length
  const r = await run(pipeline, { authority: 'snap.example.com', path: '/snap?x=1', headers: { 'user-agent': 'snap/1' }, ...(body === undefined ? {} : { method: 'POST', body }) }, { body: 'upstream says hi' })
  return {
    upstream: r.upstream ? { headers: r.upstream.headers.entries(), body: r.upstream.body.toString() } : undefined,
    response: { status: r.response.status, headers: r.response.headers.entries(), body: r.response.body.toString() },
    logs: logs.slice(from).filter((l) => l.origin !== 'host').map((l) => `${l.level} ${l.message}`),
  }
}

const PLUGINS: Array<[string, PluginOptions, string?]> = [
  ['Go wasm-go (minimal)', { wasm: fixture('go', 'minimal'), config: { enabled: true } }],
  ['Go wasm-go (local reply)', { wasm: fixture('go', 'hello-mock'), config: { mockEnable: true } }],
  ['Go wasm-go (body)', { wasm: fixture('go', 'body'), config: { mode: 'replace' } }, 'request body'],
  ['Go SDK (http-headers)', { wasm: fixture('go', 'http-headers'), config: { header: 'x-snap', value: '1' } }],
  ['AssemblyScript (add-header)', { wasm: fixture('as', 'add-header') }],
  ['WAT (actions)', { wasm: fixture('wat', 'actions') }],
]

describe('start-up snapshots: a later VM of a module restores the first one after its start-up', () => {
  it.each(PLUGINS)('%s: a second VM from the snapshot serves requests exactly as a fresh VM', async (_name, options, body) => {
    const fresh = newHost('debug', { vmSnapshot: false })
    const freshPipeline = await pipelineOf(fresh.host, [options])
    const expected = [await observe(freshPipeline, fresh.logs, body), await observe(freshPipeline, fresh.logs, body)]

    const snap = newHost('debug')
    const pipeline = await pipelineOf(snap.host, [options])
    const plugin = snap.host.plugins[0]!
    // The first VM ran start-up once; the one that serves was restored from the snapshot then.
    expect(startedFromSnapshot(plugin.vm)).toBe(true)
    const first = plugin.vm
    plugin.start() // a second VM of the compiled module
    expect(plugin.vm).not.toBe(first)
    expect(startedFromSnapshot(plugin.vm)).toBe(true)
    expect([await observe(pipeline, snap.logs, body), await observe(pipeline, snap.logs, body)]).toEqual(expected)
    // The root context ran on the restored VM with its own configuration.
    expect(plugin.healthy).toBe(true)
  })

  it('a second load of the same binary with another configuration starts from the snapshot and reads its own configuration', async () => {
    const { host } = newHost('info')
    const a = await pipelineOf(host, [{ wasm: fixture('go', 'http-headers'), config: { header: 'x-a', value: 'A' } }])
    const b = await pipelineOf(host, [{ wasm: fixture('go', 'http-headers'), config: { header: 'x-b', value: 'B' } }])
    expect(startedFromSnapshot(host.plugins[0]!.vm)).toBe(true)
    expect(startedFromSnapshot(host.plugins[1]!.vm)).toBe(true)
    const plan = (await host.compile(fixture('go', 'http-headers'))).snapshot
    expect(typeof plan === 'object' && plan.taken.size).toBe(1)
    expect((await run(a, { authority: 'a' })).response.headers.get('x-a')).toBe('A')
    const rb = await run(b, { authority: 'b' })
    expect(rb.response.headers.get('x-b')).toBe('B')
    expect(rb.response.headers.get('x-a')).toBeUndefined()
  })

  it('FAIL_RELOAD: the VM reloaded after a Go panic starts from the snapshot and serves; every trap gets a new one', async () => {
    const { host, logs } = newHost('info')
    const pipeline = await pipelineOf(host, [{ wasm: fixture('go', 'panic'), name: 'panic', failStrategy: 'FAIL_RELOAD' }])
    const plugin = host.plugins[0]!
    const boom = { authority: 'a', headers: { 'x-panic': '1' } }
    for (let round = 0; round < 2; round++) {
      const before = plugin.vm
      expect((await run(pipeline, boom)).response.status).toBe(500)
      expect(plugin.healthy).toBe(false)
      const next = await run(pipeline, { authority: 'a' })
      expect(plugin.vm).not.toBe(before)
      expect(startedFromSnapshot(plugin.vm)).toBe(true)
      expect(next.upstream!.headers.get('x-no-panic')).toBe('1')
      expect(plugin.healthy).toBe(true)
    }
    expect(logs.filter((l) => l.message === 'reloaded the VM after a failure')).toHaveLength(2)
  })

  it('rebuildAfterRequests: the rebuilt VM starts from the snapshot, with fresh state of its own', async () => {
    const { host } = newHost('info')
    const pipeline = await pipelineOf(host, [{ wasm: fixture('go', 'minimal'), config: { enabled: true }, rebuildAfterRequests: 2 }])
    const plugin = host.plugins[0]!
    const vms = new Set<unknown>()
    for (let i = 0; i < 5; i++) {
      const r = await run(pipeline, { authority: 'a', path: `/${i}` })
      expect(r.upstream!.headers.get('x-my-header')).toBe('hello')
      vms.add(plugin.vm)
    }
    expect(vms.size).toBe(3)
    expect([...vms].map((vm) => startedFromSnapshot(vm as object))).toEqual([true, true, true])
  })

  it('test kit testers made one after another: the second tester\'s VM starts from the first one\'s snapshot', async () => {
    const wasm = fixture('go', 'http-headers')
    const one = await createPluginTester(wasm, { config: { header: 'x-one', value: '1' } })
    const two = await createPluginTester(wasm, { config: { header: 'x-two', value: '2' } })
    try {
      expect(startedFromSnapshot(two.plugin.vm)).toBe(true)
      const r1 = await one.request({ path: '/' })
      const r2 = await two.request({ path: '/' })
      expect(r1.response.headers.get('x-one')).toBe('1')
      expect(r2.response.headers.get('x-two')).toBe('2')
      expect(r2.response.headers.get('x-one')).toBeUndefined()
    } finally {
      await one.close()
      await two.close()
    }
  })

  it('the CPU limit stops a runaway callback on a VM restored from the snapshot', async () => {
    const failures: string[] = []
    const { host } = newHost('info', { limits: { callbackTimeoutMs: 200 }, onPluginFailure: (e) => failures.push(e.code) })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-cpu'), name: 'spin', config: 'r' }])
    const plugin = host.plugins[0]!
    expect(plugin.cpuLimitMs).toBe(200)
    plugin.start()
    expect(startedFromSnapshot(plugin.vm)).toBe(true)
    expect((await run(pipeline, { authority: 'a', path: '/spin' })).response.status).toBe(500)
    expect(failures).toEqual(['PWH_ERR_PLUGIN_CPU_LIMIT'])
  })

  it('the memory cap holds on a VM restored from the snapshot: memory.grow answers -1 at the cap', async () => {
    const { host } = newHost('info', { limits: { maxMemoryBytes: 4 * 1024 * 1024 } })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-memory'), name: 'grow' }])
    const plugin = host.plugins[0]!
    plugin.start()
    expect(startedFromSnapshot(plugin.vm)).toBe(true)
    const seen = (await run(pipeline, { authority: 'a', path: '/grow' })).upstream!.headers
    expect(seen.get('x-big-grow')).toBe('4294967295')
    expect(seen.get('x-memory-pages')).toBe('64')
    expect(plugin.vm!.memory.byteLength).toBe(64 * 65536)
  })
})

describe('start-up snapshots: modules and settings that keep a full start-up', () => {
  it('start-up that writes output: every VM runs its own start-up and prints its own lines, as in Envoy', async () => {
    const { host, logs } = newHost('info')
    await host.load({ wasm: fixture('wat', 'command'), name: 'command' })
    const plugin = host.plugins[0]!
    const printed = () => logs.filter((l) => l.origin === 'stdout').length
    const once = printed()
    expect(once).toBeGreaterThan(0)
    plugin.start()
    expect(startedFromSnapshot(plugin.vm)).toBe(false)
    expect(printed()).toBe(2 * once)
    const plan = (await host.compile(fixture('wat', 'command'))).snapshot
    expect(typeof plan === 'object' && [...plan.taken.values()]).toEqual(['start-up called wasi_snapshot_preview1.fd_write'])
  })

  it('a module importing a global is never snapshotted (found at load)', async () => {
    const { host } = newHost('info')
    await host.load({ wasm: fixture('wat', 'hostile-imports'), name: 'imports' })
    expect((await host.compile(fixture('wat', 'hostile-imports'))).snapshot).toBe('it imports a global (env.mystery_global)')
    host.plugins[0]!.start()
    expect(startedFromSnapshot(host.plugins[0]!.vm)).toBe(false)
  })

  it('vmSnapshot: false, and WASI providers other than the sandbox, keep a full start-up for every VM', async () => {
    for (const opts of [{ vmSnapshot: false }, { wasi: 'node' as const }]) {
      const { host } = newHost('info', opts)
      const pipeline = await pipelineOf(host, [{ wasm: fixture('go', 'minimal'), config: { enabled: true } }])
      const plugin = host.plugins[0]!
      plugin.start()
      expect(startedFromSnapshot(plugin.vm)).toBe(false)
      expect((await run(pipeline, { authority: 'a' })).upstream!.headers.get('x-my-header')).toBe('hello')
    }
  })

  it('different WASI environments get snapshots of their own', async () => {
    const { host } = newHost('info')
    await host.load({ wasm: fixture('go', 'minimal'), config: { enabled: true }, env: { A: '1' } })
    await host.load({ wasm: fixture('go', 'minimal'), config: { enabled: true }, env: { A: '2' } })
    await host.load({ wasm: fixture('go', 'minimal'), config: { enabled: true }, env: { A: '1' } })
    expect(host.plugins.map((p) => startedFromSnapshot(p.vm))).toEqual([true, true, true])
    const plan = (await host.compile(fixture('go', 'minimal'))).snapshot
    expect(typeof plan === 'object' && plan.taken.size).toBe(2)
  })
})
