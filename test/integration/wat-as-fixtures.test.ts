import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { fixture, hostsClosedAfterEach, pipelineOf, run, testHost } from '../helpers.js'

const newHost = hostsClosedAfterEach()
const setup = (opts?: Parameters<typeof testHost>[1]) => newHost('trace', opts)

describe('hand-written WAT fixtures', () => {
  it('ABI 0.1.0: two-argument header callbacks, missing header is Ok + empty, proxy_get_configuration', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'abi-0-1-0'), config: 'cfg-0.1.0' }])
    expect(host.plugins[0]!.abi).toBe('0.1.0')
    expect(logs.map((l) => l.message)).toContain('cfg-0.1.0')
    const r = await run(p, { authority: 'a', path: '/x' }, { status: 204 })
    expect(r.upstream!.headers.entries().slice(4)).toEqual([['x-abi', '0.1.0'], ['x-missing-result', '0'], ['x-header-count', '4']])
    expect(r.response.headers.get('x-abi-resp')).toBe('0.1.0')
  })

  it('ABI 0.2.1: NotFound for a missing header, proxy_get_log_level, end_of_stream', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'abi-0-2-1'), logLevel: 'warn' }])
    expect(host.plugins[0]!.abi).toBe('0.2.1')
    const noBody = await run(p, { authority: 'a' })
    expect(noBody.upstream!.headers.entries().slice(4)).toEqual([['x-abi', '0.2.1'], ['x-missing-result', '1'], ['x-log-level', '3'], ['x-eos', '1']])
    const withBody = await run(p, { authority: 'a', method: 'POST', body: 'b' })
    expect(withBody.upstream!.headers.get('x-eos')).toBe('0')
    expect(withBody.upstream!.body.toString()).toBe('b')
  })

  it('allocates through malloc when proxy_on_memory_allocate is absent', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'malloc-only') }])
    const r = await run(p, { authority: 'a', path: '/m?q=2' })
    expect(r.upstream!.headers.get('x-path-copy')).toBe('/m?q=2')
    expect(r.upstream!.headers.get('x-malloc-calls')).toBe('1')
  })

  it('runs _start for WASI command modules, with its stdout as a log line', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'command'), name: 'cmd' }])
    expect(logs).toContainEqual({ level: 'info', message: 'started', plugin: 'cmd', origin: 'stdout' })
    expect((await run(p, { authority: 'a' })).upstream!.headers.get('x-started')).toBe('1')
  })

  it('runs _initialize then main(0, 0) for reactors', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'reactor') }])
    const h = (await run(p, { authority: 'a' })).upstream!.headers
    expect([h.get('x-init'), h.get('x-main')]).toEqual(['1', '1'])
  })

  it('out-of-bounds pointers and lengths get InvalidMemoryAccess; the process and the VM are unharmed', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'oob'), name: 'oob' }])
    for (let i = 0; i < 2; i++) {
      const r = await run(p, { authority: 'a' })
      expect(r.local).toBeUndefined()
      // Call 4 reads the plugin configuration outside proxy_on_configure: Envoy checks the buffer
      // first and answers NotFound (1) before looking at the pointers.
      expect(r.upstream!.headers.get('x-oob')).toBe('6,6,6,1,6,6,6')
    }
    expect(logs.filter((l) => l.plugin === 'oob')).toEqual([])
    expect(host.plugins[0]!.healthy).toBe(true)
  })

  it('a trap inside a callback: PWH_ERR_PLUGIN_TRAP, 500 wasm_fail_stream, VM marked failed', async () => {
    const failures: string[] = []
    const { host } = setup({ onPluginFailure: (e) => failures.push(`${e.code} ${e.plugin} ${e.callback}`) })
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'trap'), name: 'trap' }])
    const r = await run(p, { authority: 'a' })
    expect(r.response.status).toBe(500)
    expect(r.local!.details).toBe('wasm_fail_stream')
    expect(failures).toEqual(['PWH_ERR_PLUGIN_TRAP trap proxy_on_request_headers'])
    expect(host.plugins[0]!.failure?.code).toBe('PWH_ERR_PLUGIN_TRAP')
    expect(host.plugins[0]!.healthy).toBe(false)
  })

  it('a trap in the response phase fails the response with 500', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'trap-response') }])
    const r = await run(p, { authority: 'a' }, { status: 200, body: 'secret upstream body' })
    expect(r.upstream!.headers.get('x-before-trap')).toBe('1')
    expect(r.response.status).toBe(500)
    expect(r.response.body.toString()).not.toContain('secret')
  })

  it('actions: body rewrite at end of stream, streamed chunks, and the callback order', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'actions'), config: '00000', name: 'act' }])
    const r = await run(p, { method: 'POST', authority: 'a', chunks: [Buffer.from('ab'), Buffer.from('cd')] }, { body: 'resp' })
    // B = 0: the first chunk streams on untouched, only the last (eos) chunk is bracketed.
    expect(r.upstream!.body.toString()).toBe('ab[cd]')
    expect(r.upstream!.headers.get('x-actions')).toBe('00000')
    expect(r.response.body.toString()).toBe('resp')
    expect(logs.filter((l) => l.plugin === 'act').map((l) => l.message)).toEqual([
      'on_request_headers', 'on_request_body', 'on_request_body', 'on_response_headers', 'on_response_body', 'on_log', 'on_done', 'on_delete',
    ])
  })

  it('actions: a plugin that keeps buffering at end of stream never hangs the request (504 after pauseTimeoutMs)', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'actions'), config: '01000', name: 'act' }], { pauseTimeoutMs: 100 })
    const r = await run(p, { method: 'POST', authority: 'a', chunks: [Buffer.from('ab'), Buffer.from('cd')] })
    expect(r.upstream).toBeUndefined()
    expect(r.response.status).toBe(504)
    expect(r.local!.details).toBe('plugin_pause_timeout')
    expect(logs.filter((l) => l.plugin === 'act').map((l) => l.message).slice(-3)).toEqual(['on_log', 'on_done', 'on_delete'])
  })

  it('actions: a local response from the request body re-enters the same plugin\'s response callbacks (§6.4)', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'actions'), config: '00001', name: 'act' }])
    const r = await run(p, { method: 'POST', authority: 'a', body: 'x' })
    expect(r.upstream).toBeUndefined()
    expect(r.response.status).toBe(418)
    expect(r.response.body.toString()).toBe('short and stout')
    expect(r.local!.details).toBe('teapot')
    expect(r.response.headers.entries()).toEqual([[':status', '418'], ['content-length', '15'], ['content-type', 'text/plain']])
    expect(logs.filter((l) => l.plugin === 'act').map((l) => l.message)).toEqual([
      'on_request_headers', 'on_request_body', 'on_response_headers', 'on_response_body', 'on_log', 'on_done', 'on_delete',
    ])
  })
})

describe('AssemblyScript fixture (@solo-io/proxy-runtime 0.1.8, ABI 0.2.0, wasi_unstable)', () => {
  it('adds x-as: hello without configuration', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('as', 'add-header') }])
    expect(host.plugins[0]!.abi).toBe('0.2.0')
    const r = await run(p, { authority: 'a', path: '/as' })
    expect(r.upstream!.headers.entries()).toEqual([[':method', 'GET'], [':scheme', 'http'], [':authority', 'a'], [':path', '/as'], ['x-as', 'hello']])
  })

  it('adds request and response headers from configuration', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('as', 'add-header'), config: 'header=x-foo: bar\nresponse-header=x-resp:yes' }])
    const r = await run(p, { authority: 'a' }, { status: 200, body: 'b' })
    expect(r.upstream!.headers.get('x-foo')).toBe('bar')
    expect(r.upstream!.headers.has('x-as')).toBe(false)
    expect(r.response.headers.get('x-resp')).toBe('yes')
  })

  it('answers a local response from configuration, run through the response phase', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('as', 'add-header'), config: 'header=x-a:1\nlocal=403:denied: nope\nresponse-header=x-r:1' }])
    const r = await run(p, { authority: 'a' })
    expect(r.upstream).toBeUndefined()
    expect(r.response.status).toBe(403)
    expect(r.response.body.toString()).toBe('denied: nope')
    expect(r.response.headers.entries()).toEqual([[':status', '403'], ['content-length', '12'], ['content-type', 'text/plain'], ['x-r', '1']])
    expect(r.local!.details).toBe('as_local_response')
  })
})

describe('loading: sources and bad input', () => {
  it('loads from a path, a file URL and bytes, compiling identical bytes once', async () => {
    const { host } = setup()
    const path = fixture('wat', 'abi-0-2-1')
    const a = await host.compile(path)
    const b = await host.compile(pathToFileURL(path))
    const c = await host.compile(readFileSync(path))
    expect(a.module).toBe(b.module)
    expect(b.module).toBe(c.module)
    expect([a.source, c.source]).toEqual([path, '<bytes>'])
    const plugin = await host.load({ wasm: pathToFileURL(path) })
    expect(plugin.name).toBe('abi-0-2-1')
  })

  it('an invalid binary: PWH_ERR_PLUGIN_INVALID_WASM naming the file and the reason', async () => {
    const { host } = setup()
    const err = await host.load({ wasm: Buffer.from('\0asm\x01\0\0\0garbage') }).catch((e) => e)
    expect(err.code).toBe('PWH_ERR_PLUGIN_INVALID_WASM')
    expect(err.message).toMatch(/^<bytes>: invalid WebAssembly module \(.+\)/)
    const notWasm = await host.load({ wasm: Buffer.from('hello') }).catch((e) => e)
    expect(notWasm.code).toBe('PWH_ERR_PLUGIN_INVALID_WASM')
  })

  it('an oversized binary: PWH_ERR_PLUGIN_TOO_LARGE', async () => {
    const { host } = setup({ limits: { maxWasmBytes: 1000 } })
    const err = await host.load({ wasm: fixture('go', 'minimal') }).catch((e) => e)
    expect(err.code).toBe('PWH_ERR_PLUGIN_TOO_LARGE')
    expect(err.message).toContain('minimal.wasm')
    expect(err.message).toContain('limits.maxWasmBytes')
  })

  it('the default size limit is 50 MB', async () => {
    const { host } = setup()
    const big = new Uint8Array(50 * 1024 * 1024 + 1)
    await expect(host.load({ wasm: big })).rejects.toMatchObject({ code: 'PWH_ERR_PLUGIN_TOO_LARGE' })
  })

  it('no ABI marker: PWH_ERR_PLUGIN_NO_ABI_MARKER', async () => {
    const { host } = setup()
    const err = await host.load({ wasm: fixture('wat', 'no-marker') }).catch((e) => e)
    expect(err.code).toBe('PWH_ERR_PLUGIN_NO_ABI_MARKER')
    expect(err.message).toContain('no-marker.wasm')
  })

  it('a missing file: PWH_ERR_PLUGIN_READ', async () => {
    const { host } = setup()
    await expect(host.load({ wasm: '/nonexistent/plugin.wasm' })).rejects.toMatchObject({ code: 'PWH_ERR_PLUGIN_READ' })
  })

  it('bad options: PWH_ERR_CONFIG_INVALID', async () => {
    const { host } = setup()
    const wasm = fixture('wat', 'abi-0-2-1')
    await expect(host.load({ wasm, phase: 'LATE' as never })).rejects.toMatchObject({ code: 'PWH_ERR_CONFIG_INVALID' })
    await expect(host.load({ wasm, failStrategy: 'IGNORE' as never })).rejects.toMatchObject({ code: 'PWH_ERR_CONFIG_INVALID' })
    await expect(host.load({ wasm, config: 42 as never })).rejects.toMatchObject({ code: 'PWH_ERR_CONFIG_INVALID' })
    expect(() => new PluginPipeline(host, { plugins: [{} as never] })).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
  })

  it('MSE stage names are accepted as phase aliases', async () => {
    const { host } = setup()
    const p = await host.load({ wasm: fixture('wat', 'abi-0-2-1'), phase: 'authentication' as never })
    expect(p.phase).toBe('AUTHN')
  })
})
