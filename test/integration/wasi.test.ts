import { describe, expect, it } from 'vitest'
import { fixture, hostsClosedAfterEach, pipelineOf, run } from '../helpers.js'

const newHost = hostsClosedAfterEach()

describe.each(['sandbox', 'node', 'wasmer'] as const)('WASI provider %s', (wasi) => {
  it('runs a Go wasip1 plugin (clock, random, env, preopen scan) through a request', async () => {
    const t = newHost('info', { wasi })
    const p = await pipelineOf(t.host, [{ wasm: fixture('go', 'headers'), env: { PLUGIN_MODE: 'test' } }])
    const r = await run(p, { path: '/w', authority: 'wasi.example' }, { status: 200, body: 'ok' })
    expect(r.upstream!.headers.get('x-pseudo')).toBe('GET /w wasi.example http')
    expect(r.response.headers.get('x-resp-added')).toBe('1')
    expect(r.response.body.toString()).toBe('ok')
  })

  it('delivers proxy_log lines and survives many requests', async () => {
    const t = newHost('info', { wasi })
    const p = await pipelineOf(t.host, [{ wasm: fixture('go', 'minimal'), config: { enabled: true } }])
    for (let i = 0; i < 50; i++) expect((await run(p, { authority: 'a' })).upstream!.headers.get('x-my-header')).toBe('hello')
    expect(t.logs.some((l) => l.message.includes('plugin start successfully'))).toBe(true)
  })
})

describe('sandbox WASI specifics', () => {
  it('AssemblyScript modules import wasi_unstable and get the same sandbox', async () => {
    const t = newHost('info')
    const p = await pipelineOf(t.host, [{ wasm: fixture('as', 'add-header') }])
    expect((await run(p, { authority: 'a' })).upstream!.headers.get('x-as')).toBe('hello')
  })

  it('an unknown WASI provider name is PWH_ERR_CONFIG_INVALID', async () => {
    const t = newHost('info', { wasi: 'bogus' as never })
    await expect(t.host.load({ wasm: fixture('wat', 'abi-0-2-1') })).rejects.toMatchObject({ code: 'PWH_ERR_CONFIG_INVALID' })
  })
})
