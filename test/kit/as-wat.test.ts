// The kit on AssemblyScript (@solo-io/proxy-runtime, ABI 0.2.0, malloc) and hand-written WAT
// plugins (ABI 0.1.0, 0.2.1, Higress 0.2.100), not only Go.
import { afterEach, describe, expect, it } from 'vitest'
import 'proxy-wasm-host/testing/vitest'
import { createPluginTester, type PluginTester } from 'proxy-wasm-host/testing'
import { fixture } from '../helpers.js'

let t: PluginTester | undefined
afterEach(() => t?.close())

describe('AssemblyScript: add-header', () => {
  it('adds the configured request and response headers', async () => {
    t = await createPluginTester(fixture('as', 'add-header'), { config: 'header=x-foo: bar\nresponse-header=x-resp:yes' })
    expect(t.plugin.abi).toBe('0.2.0')
    const r = await t.request({ headers: { host: 'a' } })
    expect(r.upstreamRequest).toHaveHeader('x-foo', 'bar')
    expect(r.response).toHaveHeader('x-resp', 'yes')
  })

  it('answers locally, and the response phase runs on the local reply', async () => {
    t = await createPluginTester(fixture('as', 'add-header'), { config: 'local=403:denied: nope\nresponse-header=x-resp:yes' })
    const r = await t.request({ headers: { host: 'a' } })
    expect(r).toAnswer(403, 'denied: nope')
    expect(r.localResponse?.details).toBe('as_local_response')
    expect(r.response).toHaveHeader('x-resp', 'yes')
    const s = t.stream()
    expect(await s.requestHeaders([[':path', '/']])).toBe('StopIteration')
    expect(s.localResponse?.status).toBe(403)
  })

  it('SDK debug lines are captured, and left out with logLevel info', async () => {
    t = await createPluginTester(fixture('as', 'add-header'))
    await t.request({ headers: { host: 'a' } })
    expect(t.logs.some((l) => l.level === 'debug')).toBe(true)
    t.close()
    t = await createPluginTester(fixture('as', 'add-header'), { logLevel: 'info' })
    await t.request({ headers: { host: 'a' } })
    expect(t.logs.filter((l) => l.level === 'debug' || l.level === 'trace')).toEqual([])
  })
})

describe('WAT: actions (Higress 0.2.100)', () => {
  it('each callback returns the configured action, one at a time', async () => {
    t = await createPluginTester(fixture('wat', 'actions'), { config: '1213' })
    const s = t.stream()
    expect(await s.requestHeaders([[':path', '/']], { endOfStream: false })).toBe('StopIteration')
    expect(await s.requestBody('a', { endOfStream: false })).toBe('StopIterationAndWatermark')
    expect(await s.responseHeaders([[':status', '200']], { endOfStream: false })).toBe('StopIteration')
    expect(await s.responseBody('b')).toBe('StopIterationNoBuffer')
    s.done()
    expect(t.logs.filter((l) => l.contextId === s.contextId).map((l) => l.message)).toEqual([
      'on_request_headers', 'on_request_body', 'on_response_headers', 'on_response_body', 'on_log', 'on_done', 'on_delete',
    ])
  })

  it('a buffering plugin sees the whole body at the end; its rewrite is what goes on', async () => {
    t = await createPluginTester(fixture('wat', 'actions'), { config: '01' })
    const s = t.stream()
    await s.requestHeaders([[':path', '/']], { endOfStream: false })
    expect(await s.requestBody('ab', { endOfStream: false })).toBe('StopIterationAndBuffer')
    expect(await s.requestBody('cd')).toBe('StopIterationAndBuffer')
    expect(s.request.body.length).toBe(0)
    t.close()
    t = await createPluginTester(fixture('wat', 'actions'), { config: '00' })
    const r = await t.request({ method: 'POST', headers: { host: 'a' }, body: 'hello' })
    expect(r.upstreamRequest?.text).toBe('[hello]')
    expect(r.upstreamRequest).toHaveHeader('x-actions', '00000')
  })

  it('a local reply from the body phase', async () => {
    t = await createPluginTester(fixture('wat', 'actions'), { config: '00001' })
    const r = await t.request({ method: 'POST', headers: { host: 'a' }, body: 'x' })
    expect(r).toAnswer(418, 'short and stout')
    expect(r.localResponse?.details).toBe('teapot')
    expect(r.upstreamRequest).toBeUndefined()
  })
})

describe('WAT: other ABI versions', () => {
  it('ABI 0.1.0: two-argument header callbacks get the exact header count', async () => {
    t = await createPluginTester(fixture('wat', 'abi-0-1-0'), { config: 'cfg text' })
    expect(t).toHaveLogged('info', 'cfg text')
    const s = t.stream()
    expect(await s.requestHeaders([['a', '1'], ['B', '2']])).toBe('Continue')
    expect(s.request.headers?.entries()).toEqual([['a', '1'], ['B', '2'], ['x-abi', '0.1.0'], ['x-missing-result', '0'], ['x-header-count', '2']])
  })

  it('ABI 0.2.1: end_of_stream and the log level the plugin reads', async () => {
    t = await createPluginTester(fixture('wat', 'abi-0-2-1'), { logLevel: 'warn' })
    const s = t.stream()
    await s.requestHeaders([[':path', '/']], { endOfStream: false })
    expect(s.request.headers).toHaveHeader('x-eos', '0')
    expect(s.request.headers).toHaveHeader('x-log-level', '3')
    expect(s.request.headers).toHaveHeader('x-missing-result', '1')
  })
})
