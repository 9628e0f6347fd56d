// The seed examples (Alibaba MSE "develop a Go plugin") tested as a plugin author would, with the
// public test kit. This one file runs under vitest and under `node --test`.
import { fileURLToPath } from 'node:url'
import { createPluginTester } from 'proxy-wasm-host/testing'
import { afterEach, assert, describe, it } from './framework.mjs'

const wasm = (name) => fileURLToPath(new URL(`../../fixtures/build/go/${name}.wasm`, import.meta.url))

let t
afterEach(() => t?.close())

describe('seed examples', () => {
  it('hello-world answers every request itself', async () => {
    t = await createPluginTester(wasm('hello-world'))
    const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
    assert.equal(r.localResponse?.status, 200)
    assert.equal(r.localResponse?.text, 'hello world')
    assert.equal(r.upstreamRequest, undefined)
  })

  it('mockEnable: false adds hello: world to the request', async () => {
    t = await createPluginTester(wasm('hello-mock'), { config: { mockEnable: false } })
    const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
    assert.equal(r.localResponse, undefined)
    assert.equal(r.upstreamRequest?.headers.get('hello'), 'world')
    assert.equal(r.response.status, 200)
  })

  it('mockEnable: true answers hello world', async () => {
    t = await createPluginTester(wasm('hello-mock'), { config: { mockEnable: true } })
    const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
    assert.equal(r.localResponse?.status, 200)
    assert.equal(r.response.text, 'hello world')
  })

  it('a paused request resumes on the next tick of the fake clock', async () => {
    t = await createPluginTester(wasm('pause-tick'), { clock: 'fake' })
    assert.equal(t.tickPeriodMs, 20)
    let settled = false
    const pending = t.request({ path: '/', headers: { host: 'a.com' } }).finally(() => (settled = true))
    await t.tick(19)
    assert.equal(settled, false)
    await t.tick(1)
    const r = await pending
    assert.equal(r.upstreamRequest?.headers.get('x-resumed'), 'tick')
    assert.deepEqual(t.logs.map((l) => `${l.level} ${l.message}`), ['info resumed 1'])
  })

  it('logs are captured by level, with the context id of the stream', async () => {
    t = await createPluginTester(wasm('logging'), { logLevel: 'warn' })
    const s = t.stream()
    await s.requestHeaders([[':authority', 'a.com'], [':path', '/']])
    assert.deepEqual(t.logs.map((l) => [l.level, l.message, l.contextId]), [
      ['warn', 'warn message', s.contextId],
      ['error', 'error message', s.contextId],
      ['critical', 'critical message', s.contextId],
      ['error', 'stderr line', s.contextId],
    ])
  })

  it('one callback at a time, with exact inputs, and the action it returned', async () => {
    t = await createPluginTester(wasm('hello-mock'), { config: { mockEnable: true } })
    const s = t.stream()
    const action = await s.requestHeaders([[':authority', 'a.com'], [':path', '/x'], ['Hello', 'World']], { endOfStream: false })
    assert.equal(action, 'Continue')
    assert.equal(s.lastAction, 'Continue')
    assert.deepEqual(s.request.headers?.entries(), [[':authority', 'a.com'], [':path', '/x'], ['Hello', 'World'], ['hello', 'world']])
    assert.equal(s.localResponse?.status, 200)
    assert.equal(s.localResponse?.body.toString(), 'hello world')
  })
})
