// createPluginTester as a plugin author uses it (vitest, the matchers subpath), on the Go fixtures.
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import 'proxy-wasm-host/testing/vitest'
import { createPluginTester, type PluginTester } from 'proxy-wasm-host/testing'
import { fixture } from '../helpers.js'

let t: PluginTester | undefined
afterEach(() => t?.close())

describe('t.request(): whole requests', () => {
  it('gives the request as the upstream got it, and the response after the response phases', async () => {
    t = await createPluginTester(fixture('go', 'headers'))
    const r = await t.request({
      method: 'POST', path: '/p?q=1', headers: { host: 'example.com', 'x-multi': 'a', 'x-replace': 'old', 'x-remove': 'x' },
      body: 'payload',
      upstreamResponse: { status: 200, headers: { 'x-resp-replace': 'old', 'x-set-status': '201' }, body: 'from upstream' },
    })
    expect(r.upstreamRequest).toHaveHeader('x-pseudo', 'POST /p?q=1 example.com http')
    expect(r.upstreamRequest?.headers.getAll('x-multi')).toEqual(['a', 'b'])
    expect(r.upstreamRequest).toHaveHeader('x-replace', 'new')
    expect(r.upstreamRequest).not.toHaveHeader('x-remove')
    expect(r.upstreamRequest?.text).toBe('payload')
    expect(r.response.status).toBe(201)
    expect(r.response).toHaveHeader('x-status-seen', '200')
    expect(r.response.text).toBe('from upstream')
    expect(r.localResponse).toBeUndefined()
    expect(r).not.toAnswer(200)
  })

  it('bodies and trailers both ways (body fixture rewrites the buffered bodies)', async () => {
    t = await createPluginTester(fixture('go', 'body'), { config: { mode: 'append' } })
    const r = await t.request({
      method: 'POST', headers: { host: 'a', 'content-type': 'text/plain' }, body: 'req',
      upstreamResponse: { headers: { 'content-type': 'text/plain' }, body: 'resp' },
    })
    expect(r.upstreamRequest?.text).toBe('req-appended')
    // The wrapper continued the headers before the body came: as in Envoy, a header added from the
    // body callback is refused.
    expect(r.upstreamRequest).not.toHaveHeader('x-body-len')
    expect(r.response.text).toBe('resp-appended')
    t.close()
    t = await createPluginTester(fixture('go', 'trailers'))
    const tr = await t.request({ headers: { host: 'a' }, body: 'x', trailers: { 'x-trailer-remove': '1' }, upstreamResponse: { body: 'y', trailers: { a: 'b' } } })
    expect(tr.upstreamRequest?.trailers).toHaveHeader('x-trailer-added', '1')
    expect(tr.upstreamRequest?.trailers).not.toHaveHeader('x-trailer-remove')
    expect(tr.response.trailers).toHaveHeader('x-resp-trailer-added', '1')
    expect(t).toHaveLogged('info', 'request trailers: x-trailer-remove=1')
  })

  it('route and service reach the plugin as route_name and cluster_name; properties as given', async () => {
    t = await createPluginTester(fixture('go', 'properties'), { rootId: 'r1', properties: { 'node.id': 'gw' } })
    const r = await t.request({ path: '/x', headers: { host: 'a.com', 'user-agent': 'ua' }, route: 'api', service: 'svc.default.svc.cluster.local:8080' })
    expect(r.upstreamRequest).toHaveHeader('x-prop-route', 'api')
    expect(r.upstreamRequest).toHaveHeader('x-prop-cluster', 'outbound|8080||svc.default.svc.cluster.local')
    expect(r.upstreamRequest).toHaveHeader('x-prop-root-id', 'r1')
    expect(r.upstreamRequest).toHaveHeader('x-prop-header-ua', 'ua')
  })

  it('a trapping plugin: the request gets 500 and the failure is reported', async () => {
    t = await createPluginTester(fixture('go', 'panic'))
    const r = await t.request({ headers: { host: 'a', 'x-panic': '1' } })
    expect(r).toAnswer(500)
    expect(r.localResponse?.details).toBe('wasm_fail_stream')
    expect(r.failures.map((f) => f.code)).toEqual(['PWH_ERR_PLUGIN_TRAP'])
    expect(t).toHaveLogged('error', 'panic: boom')
  })

  it('a plugin that rejects its configuration: the error carries the code and the plugin logs', async () => {
    const err = await createPluginTester(fixture('go', 'strict-config'), { config: {} }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'PWH_ERR_PLUGIN_CONFIGURE_FAILED' })
    expect((err as Error).message).toContain("[warn] [strict-config#1] [strict-config] [nil] [nil] parse rule config failed: missing required field 'required'")
  })
})

describe('compile cache', () => {
  it('testers compile a binary once per process, and each runs its own VM', async () => {
    // A binary no other test used: the module plus a custom section.
    const bytes = Buffer.concat([readFileSync(fixture('go', 'hello-mock')), Buffer.from([0, 6, 5]), Buffer.from('cache')])
    const compile = vi.spyOn(WebAssembly, 'compile')
    try {
      const a = await createPluginTester(bytes, { config: { mockEnable: true } })
      const b = await createPluginTester(bytes, { config: { mockEnable: false } })
      expect(compile).toHaveBeenCalledTimes(1)
      expect(await a.request({ headers: { host: 'h' } })).toAnswer(200)
      expect((await b.request({ headers: { host: 'h' } })).upstreamRequest).toHaveHeader('hello', 'world')
      a.close()
      b.close()
    } finally {
      compile.mockRestore()
    }
  })
})

describe('after close()', () => {
  it('request, stream and tick refuse with PWH_ERR_TESTING_CLOSED; close is idempotent', async () => {
    const c = await createPluginTester(fixture('go', 'hello-world'))
    c.close()
    c.close()
    await expect(c.request()).rejects.toMatchObject({ code: 'PWH_ERR_TESTING_CLOSED' })
    await expect(c.tick(1)).rejects.toMatchObject({ code: 'PWH_ERR_TESTING_CLOSED' })
    expect(() => c.stream()).toThrow(expect.objectContaining({ code: 'PWH_ERR_TESTING_CLOSED' }))
    expect(c.plugin.closed).toBe(true)
  })
})

describe('fake clock', () => {
  it('a request paused for good gets the 504 of the pause timeout when the fake clock passes it', async () => {
    t = await createPluginTester(fixture('wat', 'actions'), { config: '3', clock: 'fake', pauseTimeoutMs: 5000 })
    let done = false
    const pending = t.request({ headers: { host: 'a' } }).finally(() => (done = true))
    await t.tick(4999)
    expect(done).toBe(false)
    await t.tick(1)
    const r = await pending
    expect(r).toAnswer(504, 'plugin pause timeout')
    expect(r.localResponse?.details).toBe('plugin_pause_timeout')
  })

  it('ticks run in order, each re-armed after it returned, and resume every paused request', async () => {
    t = await createPluginTester(fixture('go', 'pause-tick'), { clock: 'fake' })
    const a = t.request({ path: '/a', headers: { host: 'h' } })
    await t.tick(10)
    const b = t.request({ path: '/b', headers: { host: 'h' } })
    const c = t.request({ path: '/c', headers: { host: 'h' } })
    await t.tick(10)
    for (const r of await Promise.all([a, b, c])) expect(r.upstreamRequest).toHaveHeader('x-resumed', 'tick')
    const d = t.request({ path: '/d', headers: { host: 'h' } })
    await t.tick(100)
    expect((await d).upstreamRequest).toHaveHeader('x-resumed', 'tick')
    expect(t.logs.map((l) => l.message)).toEqual(['resumed 3', 'resumed 1'])
    expect(t.clock.now()).toBe(Date.UTC(2025, 0, 1) + 120)
  })
})

describe('t.stream(): one callback at a time', () => {
  it('exact inputs: no pseudo-header added, names as given, and what the plugin did', async () => {
    t = await createPluginTester(fixture('go', 'headers'))
    const s = t.stream()
    expect(await s.requestHeaders([[':authority', 'a.com'], ['X-Multi', 'a'], ['x-remove', '1']], { endOfStream: false })).toBe('Continue')
    const h = s.request.headers!
    // The plugin read :method, :path, :authority and :scheme: only :authority was given.
    expect(h.get('x-pseudo')).toBe('  a.com ')
    // Names stay as given: the plugin's `x-multi: b` is a second entry beside `X-Multi`.
    expect(h.entries()).toEqual([
      [':authority', 'a.com'], ['X-Multi', 'a'], ['x-pseudo', '  a.com '], ['x-added', '1'], ['x-multi', 'b'], ['x-replace', 'new'], ['x-count', '6'],
    ])
    expect(await s.requestBody('abc')).toBe('Continue')
    expect(s.request.body.toString()).toBe('abc')
    expect(await s.responseHeaders([[':status', '200'], ['x-set-status', '404']])).toBe('Continue')
    expect(s.response.headers?.get(':status')).toBe('404')
    expect(s.actions.map((a) => a.callback)).toEqual(['proxy_on_request_headers', 'proxy_on_request_body', 'proxy_on_response_headers'])
    s.done()
    await expect(s.requestBody('x')).rejects.toMatchObject({ code: 'PWH_ERR_TESTING_STREAM_DONE' })
  })

  it('StopIteration from a paused plugin, then the resume a tick makes', async () => {
    t = await createPluginTester(fixture('go', 'pause-tick'), { clock: 'fake' })
    const s = t.stream()
    expect(await s.requestHeaders([[':path', '/'], [':authority', 'h']])).toBe('StopIteration')
    expect(s.resumes).toEqual([])
    await t.tick(t.tickPeriodMs)
    expect(s.resumes).toEqual(['request'])
    expect(s.request.headers).toHaveHeader('x-resumed', 'tick')
  })

  it('a trap surfaces as the rejected callback, with the code', async () => {
    t = await createPluginTester(fixture('go', 'panic'))
    const s = t.stream()
    await expect(s.requestHeaders([['x-panic', '1']])).rejects.toMatchObject({ code: 'PWH_ERR_PLUGIN_TRAP' })
    expect(s.failure?.code).toBe('PWH_ERR_PLUGIN_TRAP')
    expect(() => t!.stream()).toThrow(expect.objectContaining({ code: 'PWH_ERR_PLUGIN_FAILED' }))
  })

  it('body buffering: a buffered chunk is followed by the next one, as Envoy hands it on', async () => {
    t = await createPluginTester(fixture('go', 'body'), { config: { mode: 'replace' } })
    const s = t.stream()
    await s.requestHeaders([[':authority', 'a'], [':path', '/'], ['content-type', 'text/plain']], { endOfStream: false })
    expect(await s.requestBody('ab', { endOfStream: false })).toBe('StopIterationAndBuffer')
    expect(s.request.body.length).toBe(0)
    expect(await s.requestBody('cd')).toBe('Continue')
    expect(s.request.body.toString()).toBe('replaced:abcd')
    // The headers were continued before the body, so the header the body callback adds is refused.
    expect(s.request.headers).not.toHaveHeader('x-body-len')
  })
})

describe('isolation settings reach the host and the plugin', () => {
  it('strictHostcalls refuses a plugin that imports hostcalls the host answers Unimplemented; without it the plugin loads', async () => {
    const err = await createPluginTester(fixture('wat', 'hostile-unimplemented'), { strictHostcalls: true }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'PWH_ERR_PLUGIN_UNIMPLEMENTED' })
    t = await createPluginTester(fixture('wat', 'hostile-unimplemented'))
    expect(t).toHaveLogged('warn', 'imports hostcalls this host answers Unimplemented')
  })

  it('rebuildAfterRequests: the third request runs on a new VM', async () => {
    t = await createPluginTester(fixture('go', 'headers'), { rebuildAfterRequests: 2 })
    const first = t.plugin.vm
    await t.request({ headers: { host: 'a' } })
    await t.request({ headers: { host: 'a' } })
    expect(t.plugin.vm).toBe(first)
    await t.request({ headers: { host: 'a' } })
    expect(t.plugin.vm).not.toBe(first)
    expect(t).toHaveLogged('info', 'rebuilt the VM')
  })

  it('rebuildMaxMemoryBytes: a VM larger than that is rebuilt for the next request', async () => {
    t = await createPluginTester(fixture('go', 'headers'), { rebuildMaxMemoryBytes: 65536 })
    const first = t.plugin.vm
    await t.request({ headers: { host: 'a' } })
    await t.request({ headers: { host: 'a' } })
    expect(t.plugin.vm).not.toBe(first)
  })

  it('limits: the state caps apply to the plugin (a new shared-data key past maxSharedDataKeys is an error for it)', async () => {
    t = await createPluginTester(fixture('go', 'shared-data'), { limits: { maxSharedDataKeys: 1 } })
    expect(await t.request({ headers: { host: 'a', 'x-op': 'set', 'x-key': 'a', 'x-value': '1' } })).toAnswer(200, 'ok')
    expect(await t.request({ headers: { host: 'a', 'x-op': 'set', 'x-key': 'b', 'x-value': '1' } })).toAnswer(409, 'error status returned by host: internal failure')
    expect(t).toHaveLogged('warn', 'limits.maxSharedDataKeys (1) reached')
  })

  it('sha256: a binary with another digest is refused', async () => {
    const err = await createPluginTester(fixture('go', 'headers'), { sha256: '0'.repeat(64) }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'PWH_ERR_PLUGIN_CHECKSUM' })
  })
})
