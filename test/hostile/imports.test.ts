import { describe, expect, it } from 'vitest'
import { handle } from '../../src/adapters/node/handle.js'
import { isProxyWasmHostError } from '../../src/errors.js'
import { UNIMPLEMENTED } from '../../src/host/hostcalls/unimplemented.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { echoApp, expectDocumented, expectDocumentedText, hostileRound, listen, useBystander } from './harness.js'

const newHost = hostsClosedAfterEach()
const by = useBystander()

describe('hostile plugin: imports the host does not provide', () => {
  it('every signature gets a stand-in of its own type: no trap, one warn line per import', async () => {
    const { host, logs } = newHost('info')
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-imports'), name: 'imports' }])
    const target = await listen(handle(pipeline, echoApp))
    try {
      for (let i = 0; i < 2; i++) {
        const { hostile } = await hostileRound(target, by, '/i')
        expect(hostile.status).toBe(200)
        expect(JSON.parse(hostile.body).headers['x-imports']).toBe('0,0,12,0,0,52,0,0')
      }
      expect(host.plugins[0]!.healthy).toBe(true)
      const calls = logs.filter((l) => l.level === 'warn' && l.message.startsWith('called ')).map((l) => l.message.replace(/;.*$/, ''))
      expect(calls).toEqual([
        'called env.mystery_i64, which this host does not implement: answered zero',
        'called env.mystery_f64, which this host does not implement: answered zero',
        'called env.mystery_pair, which this host does not implement: answered Unimplemented (12)',
        'called env.mystery_v128, which this host does not implement: answered zero',
        'called env.mystery_void, which this host does not implement: answered nothing',
        'called wasi_snapshot_preview1.mystery_wasi, which this host does not implement: answered ENOSYS (52)',
        'called elsewhere.fn, which this host does not implement: answered zero',
      ])
      expectDocumentedText("A stand-in of the import's own type that never traps")
    } finally {
      await target.close()
    }
  })
})

describe('hostile plugin: relying on hostcalls answered Unimplemented (loud fail-open)', () => {
  const listed = ['proxy_grpc_call', 'proxy_inject_encoded_data_to_filter_chain'].filter((n) => (UNIMPLEMENTED as readonly string[]).includes(n))
  const expected = [...listed, 'proxy_made_up_hostcall']

  it('warns at load naming each with its consequence, then once per hostcall at its first call', async () => {
    const { host, logs } = newHost('info')
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-unimplemented'), name: 'failopen' }])
    const atLoad = logs.filter((l) => l.level === 'warn' && l.plugin === 'failopen').map((l) => l.message)
    expect(atLoad).toHaveLength(1)
    expect(atLoad[0]).toMatch(/^imports hostcalls this host answers Unimplemented: /)
    for (const n of expected) expect(atLoad[0]).toContain(n)
    expect(atLoad[0]).toContain('the ABI has no such hostcall')
    expect(atLoad[0]).toContain('strictHostcalls: true refuses such plugins')
    const target = await listen(handle(pipeline, echoApp))
    try {
      for (let i = 0; i < 3; i++) {
        const { hostile } = await hostileRound(target, by, '/u')
        expect(hostile.status).toBe(200)
        const statuses = (JSON.parse(hostile.body).headers['x-unimplemented'] as string).split(',')
        expect(statuses.slice(3)).toEqual(['12', '12'])
        if (listed.includes('proxy_grpc_call')) expect(statuses.slice(0, 2)).toEqual(['12', '12'])
      }
      const first = logs.filter((l) => l.level === 'warn' && l.plugin === 'failopen' && l.message.startsWith('called ')).map((l) => l.message)
      expect(first.map((m) => /^called env\.(\w+)/.exec(m)![1])).toEqual(expected)
      if (listed.includes('proxy_grpc_call')) expect(first[0]).toContain('gRPC callouts never happen')
      expect(first.at(-1)).toContain('the ABI has no such hostcall')
    } finally {
      await target.close()
    }
  })

  it('strictHostcalls: true refuses the plugin at load with PWH_ERR_PLUGIN_UNIMPLEMENTED', async () => {
    const { host } = newHost('info', { strictHostcalls: true })
    const err = await host.load({ wasm: fixture('wat', 'hostile-unimplemented') }).catch((e: unknown) => e)
    expect(isProxyWasmHostError(err, 'PWH_ERR_PLUGIN_UNIMPLEMENTED')).toBe(true)
    for (const n of expected) expect((err as Error).message).toContain(n)
    expectDocumented('PWH_ERR_PLUGIN_UNIMPLEMENTED')
    // Per plugin, the option wins over the host's.
    const { host: lax } = newHost('info', { strictHostcalls: true })
    await expect(lax.load({ wasm: fixture('wat', 'hostile-unimplemented'), strictHostcalls: false })).resolves.toBeDefined()
  })
})
