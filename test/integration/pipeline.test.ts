import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { fixture, hostsClosedAfterEach, pipelineOf, run, testHost } from '../helpers.js'

const newHost = hostsClosedAfterEach()
const setup = (opts?: Parameters<typeof testHost>[1]) => newHost('info', opts)
const stamp = (name: string, extra: Record<string, unknown> = {}, config: Record<string, unknown> = {}) =>
  ({ wasm: fixture('go', 'stamp'), name, config: { name, ...config }, ...extra })

describe('ordering', () => {
  it('phases then priority; response callbacks in reverse order', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [
      stamp('stats', { phase: 'STATS', priority: 500 }),
      stamp('authn-low', { phase: 'AUTHN', priority: 10 }),
      stamp('default', {}),
      stamp('authz', { phase: 'AUTHZ' }),
      stamp('authn-high', { phase: 'AUTHN', priority: 100 }),
      stamp('authn-tie', { phase: 'AUTHN', priority: 10 }),
    ])
    const order = ['authn-high', 'authn-low', 'authn-tie', 'authz', 'stats', 'default']
    expect(p.plan().map((x) => x.name)).toEqual(order)
    const r = await run(p, { authority: 'a' }, { status: 200, body: 'x' })
    expect(r.upstream!.headers.getAll('x-stamp')).toEqual(order)
    expect(r.response.headers.getAll('x-stamp')).toEqual([...order].reverse())
  })

  it("responseOrder 'forward' runs response callbacks in request order (Kong)", async () => {
    const { host } = setup()
    const loaded = [await host.load(stamp('one')), await host.load(stamp('two')), await host.load(stamp('three'))]
    const p = new PluginPipeline(host, { plugins: loaded, responseOrder: 'forward' })
    const r = await run(p, { authority: 'a' })
    expect(r.upstream!.headers.getAll('x-stamp')).toEqual(['one', 'two', 'three'])
    expect(r.response.headers.getAll('x-stamp')).toEqual(['one', 'two', 'three'])
  })

  it('Kong chains: service chain then route chain, a filter twice with its own config, disabled filter and chain skipped', async () => {
    const { host } = setup()
    const f = async (name: string) => host.load(stamp(name))
    const p = new PluginPipeline(host, {
      responseOrder: 'forward',
      chains: {
        services: { svc: { filters: [{ plugin: await f('svc-a') }, { plugin: await f('svc-off'), enabled: false }, { plugin: await f('svc-b') }] } },
        routes: {
          r1: { filters: [{ plugin: await f('route-a') }, { plugin: await f('route-a2') }] },
          off: { enabled: false, filters: [{ plugin: await f('never') }] },
        },
      },
    })
    expect(p.plan({ service: 'svc', route: 'r1' }).map((x) => x.name)).toEqual(['svc-a', 'svc-b', 'route-a', 'route-a2'])
    expect(p.plan({ service: 'svc', route: 'off' }).map((x) => x.name)).toEqual(['svc-a', 'svc-b'])
    expect(p.plan({ route: 'r1' }).map((x) => x.name)).toEqual(['route-a', 'route-a2'])
    const r = await run(p, { authority: 'a', service: 'svc', route: 'r1' })
    expect(r.upstream!.headers.getAll('x-stamp')).toEqual(['svc-a', 'svc-b', 'route-a', 'route-a2'])
  })
})

describe('local responses', () => {
  it('a local response from the second plugin stops the third; the response phase runs on it (§6.4)', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [stamp('s1', { priority: 3 }), stamp('s2', { priority: 2 }, { local: 403 }), stamp('s3', { priority: 1 })])
    const r = await run(p, { authority: 'a' })
    expect(r.upstream).toBeUndefined()
    expect(r.response.status).toBe(403)
    expect(r.response.body.toString()).toBe('local from s2')
    expect(r.response.headers.get('x-local-by')).toBe('s2')
    expect(r.exchange.requestHeadersMap.getAll('x-stamp')).toEqual(['s1', 's2'])
    // s3 never saw the request, so wasm-go skips its response handler; s2 and s1 stamp the reply.
    expect(r.response.headers.getAll('x-stamp')).toEqual(['s2', 's1'])
  })
})

describe('pause and resume', () => {
  it('a request paused by a plugin is resumed from proxy_on_tick (postpone_requests pattern)', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'pause-tick') }, stamp('after')])
    const results = await Promise.all([run(p, { authority: 'a', path: '/1' }), run(p, { authority: 'a', path: '/2' })])
    for (const r of results) {
      expect(r.upstream!.headers.get('x-resumed')).toBe('tick')
      // The plugin after the paused one ran only after the resume.
      expect(r.upstream!.headers.entries().slice(-2)).toEqual([['x-resumed', 'tick'], ['x-stamp', 'after']])
    }
    expect(logs.some((l) => /^resumed [12]$/.test(l.message))).toBe(true)
  })

  it('the direct phase calls answer at once without a pause, and with a promise while a plugin holds the request', async () => {
    const { host } = setup()
    const quick = await pipelineOf(host, [stamp('one')])
    const ex = quick.exchange({ authority: 'a', path: '/' })
    const r = ex.direct.requestHeaders(true)
    expect(r).not.toBeInstanceOf(Promise)
    expect((r as { action: string }).action).toBe('continue')
    expect(ex.requestHeadersMap.get('x-stamp')).toBe('one')
    ex.done()

    const paused = await pipelineOf(host, [{ wasm: fixture('go', 'pause-tick') }])
    const ex2 = paused.exchange({ authority: 'a', path: '/p' })
    const r2 = ex2.direct.requestHeaders(true)
    expect(r2).toBeInstanceOf(Promise)
    expect((await r2).action).toBe('continue')
    expect(ex2.requestHeadersMap.get('x-resumed')).toBe('tick')
    ex2.done()
    // Misuse still throws with a code (the promise API rejects instead).
    expect(() => ex2.direct.requestHeaders(true)).toThrow(expect.objectContaining({ code: 'PWH_ERR_EXCHANGE_STATE' }))
  })

  it('headers held by StopIteration (ABI 0.2.100) are changed after the body was read', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'body-header') }, stamp('next')])
    const ex = p.exchange({ method: 'POST', path: '/before', authority: 'a', headers: { 'content-type': 'text/plain' } })
    const h = await ex.requestHeaders(false)
    expect(h.action).toBe('held')
    expect(h.headers).toBeUndefined()
    const b1 = await ex.requestBody(Buffer.from('12345'), false)
    expect(b1.headers).toBeUndefined()
    expect(b1.body).toEqual([])
    const b2 = await ex.requestBody(Buffer.from('678'), true)
    expect(b2.headers!.get(':path')).toBe('/after-body')
    expect(b2.headers!.get('x-body-len')).toBe('8')
    expect(b2.headers!.get('x-stamp')).toBe('next')
    expect(Buffer.concat(b2.body).toString()).toBe('12345678')
    ex.done()
  })
})

describe('bodies', () => {
  const fiveMb = Buffer.alloc(5 * 1024 * 1024, 'abcdefghij')
  const chunks = Array.from({ length: 80 }, (_, i) => fiveMb.subarray(i * 65536, (i + 1) * 65536))
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

  it('a 5 MB body streams through untouched, chunk by chunk, when no plugin reads it', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [stamp('a'), stamp('b')])
    const ex = p.exchange({ method: 'POST', authority: 'a' })
    await ex.requestHeaders(false)
    const out: Buffer[] = []
    for (let i = 0; i < chunks.length; i++) {
      const r = await ex.requestBody(chunks[i]!, i === chunks.length - 1)
      // Nothing is held back: each chunk leaves the chain as soon as it came in.
      expect(r.body).toHaveLength(1)
      expect(r.body[0]).toBe(chunks[i])
      out.push(...r.body)
    }
    expect(sha(Buffer.concat(out))).toBe(sha(fiveMb))
    ex.done()
  })

  it('a plugin that buffers gets the 5 MB body whole', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'body'), config: { mode: 'replace' } }])
    const r = await run(p, { method: 'POST', authority: 'a', headers: { 'content-type': 'text/plain' }, chunks })
    expect(r.upstream!.body.byteLength).toBe(fiveMb.byteLength + 'replaced:'.length)
    expect(sha(r.upstream!.body)).toBe(sha(Buffer.concat([Buffer.from('replaced:'), fiveMb])))
  })

  it('over the buffer limit: 413 for requests, 500 for responses', async () => {
    const { host } = setup({ limits: { bufferLimitBytes: 1000 } })
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'body'), config: { mode: 'read' } }])
    const big = [Buffer.alloc(600, 'a'), Buffer.alloc(600, 'b')]
    const req = await run(p, { method: 'POST', authority: 'a', headers: { 'content-type': 'text/plain' }, chunks: [...big, Buffer.from('c')] })
    expect(req.response.status).toBe(413)
    // wasm-go continued the response headers, so they already left: Envoy resets the stream.
    const reset = await run(p, { authority: 'a' }, { headers: { 'content-type': 'text/plain' }, chunks: [...big, Buffer.from('c')] })
    expect(reset.closed).toBe(true)
    // A plugin holding the response headers (R=1) and buffering (T=1): a 500 replaces the response.
    const holder = await pipelineOf(host, [{ wasm: fixture('wat', 'actions'), config: '00110' }])
    const res = await run(holder, { authority: 'a' }, { chunks: [...big, Buffer.from('c')] })
    expect(res.response.status).toBe(500)
    expect(res.local!.details).toBe('response_payload_too_large')
    expect(res.upstream).toBeDefined()
  })
})

describe('stream end', () => {
  it('on_log, on_done, on_delete run for aborted streams too', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'actions'), name: 'act' }])
    const ex = p.exchange({ method: 'POST', authority: 'a' })
    await ex.requestHeaders(false)
    ex.abort()
    expect(logs.filter((l) => l.plugin === 'act').map((l) => l.message)).toEqual(['on_request_headers', 'on_log', 'on_done', 'on_delete'])
    await expect(ex.requestBody(Buffer.from('x'), true)).rejects.toMatchObject({ code: 'PWH_ERR_EXCHANGE_ABORTED' })
  })

  it('plugins that never saw a callback still get a context and on_log/on_done/on_delete', async () => {
    const { host, logs } = setup()
    const p = await pipelineOf(host, [stamp('first', { priority: 9 }, { local: 401 }), { wasm: fixture('wat', 'actions'), name: 'act' }])
    const r = await run(p, { authority: 'a' })
    expect(r.response.status).toBe(401)
    expect(logs.filter((l) => l.plugin === 'act').map((l) => l.message)).toEqual(['on_response_headers', 'on_response_body', 'on_log', 'on_done', 'on_delete'])
  })

  it('misuse of the exchange is PWH_ERR_EXCHANGE_STATE', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [stamp('a')])
    const ex = p.exchange({ authority: 'a' })
    await expect(ex.requestBody(Buffer.from('x'))).rejects.toMatchObject({ code: 'PWH_ERR_EXCHANGE_STATE' })
    await ex.requestHeaders(true)
    await expect(ex.requestHeaders(true)).rejects.toMatchObject({ code: 'PWH_ERR_EXCHANGE_STATE' })
    await expect(ex.requestBody(Buffer.from('x'))).rejects.toMatchObject({ code: 'PWH_ERR_EXCHANGE_STATE' })
    ex.done()
  })
})

describe('fail strategies (a Go panic in on_request_headers)', () => {
  const boom = { authority: 'a', headers: { 'x-panic': '1' } }
  it('FAIL_CLOSE: 500 now and for later requests', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'panic'), failStrategy: 'FAIL_CLOSE' }, stamp('after')])
    expect((await run(p, boom)).response.status).toBe(500)
    const later = await run(p, { authority: 'a' })
    expect(later.response.status).toBe(500)
    expect(later.upstream).toBeUndefined()
  })

  it('FAIL_OPEN: the request goes on without the plugin, later requests skip it', async () => {
    const failures: string[] = []
    const { host } = setup({ onPluginFailure: (e) => failures.push(e.code) })
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'panic'), failStrategy: 'FAIL_OPEN' }, stamp('after')])
    const now = await run(p, boom, { body: 'ok' })
    expect(now.response.status).toBe(200)
    expect(now.upstream!.headers.get('x-stamp')).toBe('after')
    const later = await run(p, { authority: 'a' })
    expect(later.upstream!.headers.has('x-no-panic')).toBe(false)
    expect(later.upstream!.headers.get('x-stamp')).toBe('after')
    expect(failures).toEqual(['PWH_ERR_PLUGIN_TRAP'])
  })

  it('FAIL_RELOAD: 500 now, a fresh VM serves the next request', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'panic'), failStrategy: 'FAIL_RELOAD' }, stamp('after')])
    expect((await run(p, boom)).response.status).toBe(500)
    const next = await run(p, { authority: 'a' })
    expect(next.upstream!.headers.get('x-no-panic')).toBe('1')
    expect(host.plugins[0]!.healthy).toBe(true)
    // and again: every trap gets a new VM
    expect((await run(p, boom)).response.status).toBe(500)
    expect((await run(p, { authority: 'a' })).upstream!.headers.get('x-no-panic')).toBe('1')
  })

  it('a trap in the response phase under FAIL_OPEN lets the upstream response through', async () => {
    const { host } = setup()
    const p = await pipelineOf(host, [{ wasm: fixture('wat', 'trap-response'), failStrategy: 'FAIL_OPEN' }])
    const r = await run(p, { authority: 'a' }, { status: 201, body: 'upstream' })
    expect(r.response.status).toBe(201)
    expect(r.response.body.toString()).toBe('upstream')
  })
})
