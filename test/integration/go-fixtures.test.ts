import { describe, expect, it } from 'vitest'
import { fixture, hostsClosedAfterEach, pipelineOf, run, testHost } from '../helpers.js'

const newHost = hostsClosedAfterEach()
const setup = (level?: Parameters<typeof testHost>[0]) => newHost(level)

describe('Go wasm-go fixtures (Higress SDK, ABI 0.2.100)', () => {
  it('hello-mock (seed step 2): adds hello: world, no local response without mockEnable', async () => {
    const { host } = setup()
    const plugin = await host.load({ wasm: fixture('go', 'hello-mock'), config: { mockEnable: false } })
    expect(plugin.abi).toBe('0.2.100')
    const p = await pipelineOf(host, [])
    const pipe = new (p.constructor as typeof import('../../src/pipeline/pipeline.js').PluginPipeline)(host, { plugins: [plugin] })
    const r = await run(pipe, { path: '/get', authority: 'example.com', headers: { 'user-agent': 'curl/8' } }, { status: 200, body: 'upstream' })
    expect(r.local).toBeUndefined()
    expect(r.upstream!.headers.entries()).toEqual([
      [':method', 'GET'], [':scheme', 'http'], [':authority', 'example.com'], [':path', '/get'],
      ['user-agent', 'curl/8'], ['hello', 'world'],
    ])
    expect(r.response.status).toBe(200)
    expect(r.response.body.toString()).toBe('upstream')
  })

  it('hello-mock with mockEnable: true answers hello world locally (seed step "verify the configuration")', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'hello-mock'), config: { mockEnable: true } }])
    const r = await run(p, { path: '/get', authority: 'example.com' })
    expect(r.upstream).toBeUndefined()
    expect(r.local).toBeDefined()
    expect(r.response.status).toBe(200)
    expect(r.response.body.toString()).toBe('hello world')
    expect(r.response.headers.entries()).toEqual([[':status', '200'], ['content-length', '11'], ['content-type', 'text/plain']])
  })

  it('hello-mock with empty configuration warns and adds the header', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'hello-mock') }])
    const r = await run(p, { path: '/', authority: 'a.com' })
    expect(r.upstream!.headers.get('hello')).toBe('world')
    expect(logs.some((l) => l.level === 'warn' && l.message.includes('config is empty, but has ParseConfigFunc'))).toBe(true)
  })

  it('hello-world (no configuration): every request gets 200 hello world', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'hello-world') }])
    for (const path of ['/a', '/b']) {
      const r = await run(p, { path, authority: 'x' })
      expect(r.response.status).toBe(200)
      expect(r.response.body.toString()).toBe('hello world')
      expect(r.upstream).toBeUndefined()
    }
  })

  it('minimal template: x-my-header only when enabled', async () => {
    const { host, logs } = setup()
    const on = await pipelineOf(host, [{ wasm: fixture('go', 'minimal'), config: { enabled: true } }])
    const off = await pipelineOf(host, [{ wasm: fixture('go', 'minimal'), config: { enabled: false } }])
    expect((await run(on, { authority: 'a' })).upstream!.headers.get('x-my-header')).toBe('hello')
    expect((await run(off, { authority: 'a' })).upstream!.headers.has('x-my-header')).toBe(false)
    expect(logs.filter((l) => l.message === '[my-plugin] [nil] [nil] plugin start successfully')).toHaveLength(2)
  })

  it('headers: add, replace, remove, get all, pseudo-headers on requests and responses', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'headers') }])
    const r = await run(
      p,
      { method: 'GET', path: '/p?q=1', authority: 'example.com', headers: { 'x-multi': 'a', 'x-replace': 'old', 'x-remove': 'x', 'x-rewrite-path': '/new', 'x-get-missing': '1' } },
      { status: 200, headers: { 'x-resp-replace': 'old', 'x-resp-remove': '1', 'x-set-status': '201' }, body: 'ok' },
    )
    expect(r.upstream!.headers.entries()).toEqual([
      [':method', 'GET'], [':scheme', 'http'], [':authority', 'example.com'], [':path', '/new'],
      ['x-multi', 'a'], ['x-replace', 'new'], ['x-rewrite-path', '/new'], ['x-get-missing', '1'],
      ['x-pseudo', 'GET /p?q=1 example.com http'], ['x-added', '1'], ['x-multi', 'b'],
      ['x-count', '11'], ['x-missing-err', 'error status returned by host: not found'],
    ])
    expect(r.response.status).toBe(201)
    expect(r.response.headers.entries()).toEqual([
      [':status', '201'], ['x-resp-replace', 'new'], ['x-set-status', '201'],
      ['x-status-seen', '200'], ['x-resp-added', '1'], ['x-resp-count', '5'],
    ])
  })

  describe('body: buffered read/replace/append/prepend', () => {
    const cases = [
      ['replace', 'replaced:hello world', 'replaced:from upstream'],
      ['append', 'hello world-appended', 'from upstream-appended'],
      ['prepend', 'prepended-hello world', 'prepended-from upstream'],
      ['read', 'hello world', 'from upstream'],
    ] as const
    it.each(cases)('mode %s', async (mode, reqBody, respBody) => {
      const { host, logs } = setup()
      const p = await pipelineOf(host, [{ wasm: fixture('go', 'body'), config: { mode } }])
      const r = await run(
        p,
        { method: 'POST', path: '/post', authority: 'a.com', headers: { 'content-type': 'text/plain' }, chunks: [Buffer.from('hello '), Buffer.from('world')] },
        { headers: { 'content-type': 'text/plain' }, chunks: [Buffer.from('from '), Buffer.from('upstream')] },
      )
      expect(r.upstream!.body.toString()).toBe(reqBody)
      // The wrapper continued the headers before the body arrived, so (as in Envoy) adding a
      // header from the body callback is refused: the upstream sees no x-body-len.
      expect(r.upstream!.headers.has('x-body-len')).toBe(false)
      expect(r.upstream!.headers.get('content-type')).toBe('text/plain')
      expect(r.response.body.toString()).toBe(respBody)
      if (mode === 'read') {
        expect(logs.map((l) => l.message)).toEqual(expect.arrayContaining(['request body: hello world', 'response body: from upstream']))
      }
    })
  })

  it('trailers: read, add, replace, remove on request and response trailers', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'trailers') }])
    const r = await run(
      p,
      { method: 'POST', authority: 'a', body: 'x', trailers: { 'x-t': '1', 'x-trailer-replace': 'old', 'x-trailer-remove': 'y' } },
      { body: 'y', trailers: { 'grpc-status': '0', 'x-resp-trailer-remove': 'z' } },
    )
    expect(r.upstream!.trailers!.entries()).toEqual([['x-t', '1'], ['x-trailer-replace', 'new'], ['x-trailer-added', '1']])
    expect(r.response.trailers!.entries()).toEqual([['grpc-status', '0'], ['x-resp-trailer-added', '1'], ['x-resp-trailer-replace', 'new']])
    expect(logs.map((l) => l.message)).toEqual(expect.arrayContaining([
      'request trailers: x-t=1,x-trailer-replace=old,x-trailer-remove=y',
      'response trailers: grpc-status=0,x-resp-trailer-remove=z',
    ]))
  })

  it('properties: Envoy attributes with Envoy encodings, set_property round trip', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'properties'), name: 'props', rootId: 'root-1' }])
    const r = await run(p, {
      method: 'PUT', path: '/items/7?x=1', authority: 'shop.example.com', scheme: 'https',
      headers: { 'user-agent': 'ua/1' }, remoteAddress: '10.1.2.3', remotePort: 45678,
      route: 'shop-route', cluster: 'outbound|8080||shop.default.svc.cluster.local',
    })
    const h = r.upstream!.headers
    expect(h.get('x-prop-path')).toBe('/items/7?x=1')
    expect(h.get('x-prop-method')).toBe('PUT')
    expect(h.get('x-prop-host')).toBe('shop.example.com')
    expect(h.get('x-prop-scheme')).toBe('https')
    expect(h.get('x-prop-protocol')).toBe('HTTP/1.1')
    expect(h.get('x-prop-source-address')).toBe('10.1.2.3:45678')
    expect(h.get('x-prop-source-port')).toBe('45678')
    expect(h.get('x-prop-plugin-name')).toBe('props')
    expect(h.get('x-prop-root-id')).toBe('root-1')
    expect(h.get('x-prop-route')).toBe('shop-route')
    expect(h.get('x-prop-cluster')).toBe('outbound|8080||shop.default.svc.cluster.local')
    expect(h.get('x-prop-header-ua')).toBe('ua/1')
    expect(h.get('x-prop-missing')).toBe('ERR:error status returned by host: not found')
    expect(h.get('x-prop-roundtrip')).toBe('my_value')
    expect(r.exchange.filterState.get('my_key')?.toString()).toBe('my_value')
    expect(logs.some((l) => l.message === 'plugin_name at start: props')).toBe(true)
  })

  it('logging: proxy_log levels, WASI stdout/stderr, level filtering', async () => {
    const all = setup('trace')
    const p = await pipelineOf(all.host, [{ wasm: fixture('go', 'logging'), name: 'log' }])
    await run(p, { authority: 'a' })
    expect(all.logs.filter((l) => l.plugin === 'log').map((l) => [l.level, l.message, l.origin])).toEqual([
      ['trace', 'trace message', 'proxy_log'],
      ['debug', 'debug message', 'proxy_log'],
      ['info', 'info message', 'proxy_log'],
      ['warn', 'warn message', 'proxy_log'],
      ['error', 'error message', 'proxy_log'],
      ['critical', 'critical message', 'proxy_log'],
      ['info', 'stdout line', 'stdout'],
      ['error', 'stderr line', 'stderr'],
    ])
    all.host.close()
    const warn = setup('warn')
    const q = await pipelineOf(warn.host, [{ wasm: fixture('go', 'logging'), name: 'log' }])
    await run(q, { authority: 'a' })
    expect(warn.logs.map((l) => l.message)).toEqual(['warn message', 'error message', 'critical message', 'stderr line'])
  })

  it('wasm-go reads the log level through the get_log_level foreign function', async () => {
    // At warn, the wrapper skips its own info line "plugin start successfully".
    const { host, logs } = setup('warn')
    await host.load({ wasm: fixture('go', 'minimal'), config: { enabled: true } })
    expect(logs.some((l) => l.message.includes('plugin start successfully'))).toBe(false)
    const t = setup('info')
    await t.host.load({ wasm: fixture('go', 'minimal'), config: { enabled: true } })
    expect(t.logs.some((l) => l.message.includes('plugin start successfully'))).toBe(true)
  })

  it('strict-config: a configuration rejected in proxy_on_configure is PWH_ERR_PLUGIN_CONFIGURE_FAILED', async () => {
    const { host, logs } = setup()
    await expect(host.load({ wasm: fixture('go', 'strict-config'), config: { other: 1 } })).rejects.toMatchObject({ code: 'PWH_ERR_PLUGIN_CONFIGURE_FAILED' })
    expect(logs.some((l) => l.message.includes("missing required field 'required'"))).toBe(true)
    const ok = await pipelineOf(host, [{ wasm: fixture('go', 'strict-config'), config: { required: 'yes' } }])
    expect((await run(ok, { authority: 'a' })).upstream!.headers.get('x-required')).toBe('yes')
  })

  it('panic: a Go panic traps, PWH_ERR_PLUGIN_TRAP is reported and the VM is marked failed', async () => {
    const failures: string[] = []
    const t = newHost('trace', { onPluginFailure: (e) => failures.push(e.code) })
    const p = await pipelineOf(t.host, [{ wasm: fixture('go', 'panic'), name: 'panic' }])
    const ok = await run(p, { authority: 'a' })
    expect(ok.upstream!.headers.get('x-no-panic')).toBe('1')
    const bad = await run(p, { authority: 'a', headers: { 'x-panic': '1' } })
    expect(bad.response.status).toBe(500)
    expect(bad.local!.details).toBe('wasm_fail_stream')
    expect(bad.exchange.failures[0]!.code).toBe('PWH_ERR_PLUGIN_TRAP')
    expect(failures).toEqual(['PWH_ERR_PLUGIN_TRAP'])
    expect(t.logs.some((l) => l.origin === 'stderr' && l.level === 'error' && l.message === 'panic: boom')).toBe(true)
    const plugin = t.host.plugins[0]!
    expect(plugin.healthy).toBe(false)
    // FAIL_CLOSE: the failed VM never serves another request as if nothing happened.
    const after = await run(p, { authority: 'a' })
    expect(after.response.status).toBe(500)
    expect(after.upstream).toBeUndefined()
  })
})
