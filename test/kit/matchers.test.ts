// The vitest matchers of proxy-wasm-host/testing/vitest: what passes, what fails, and what the
// failure says.
import { describe, expect, it } from 'vitest'
import 'proxy-wasm-host/testing/vitest'
import { createPluginTester } from 'proxy-wasm-host/testing'
import { HeaderMap } from '../../src/host/header-map.js'
import { fixture } from '../helpers.js'

describe('matchers', () => {
  it('toHaveHeader takes a HeaderMap, pairs, a record or { headers }, any name case, a value or a RegExp', () => {
    const map = new HeaderMap([['x-a', '1'], ['x-a', '2']])
    expect(map).toHaveHeader('X-A')
    expect(map).toHaveHeader('x-a', '2')
    expect(map).toHaveHeader('x-a', /^\d$/)
    expect([['Hello', 'World']]).toHaveHeader('hello', 'World')
    expect({ headers: { 'content-type': 'text/plain' } }).toHaveHeader('content-type')
    expect(map).not.toHaveHeader('x-b')
    expect(() => expect(map).toHaveHeader('x-a', '3')).toThrow('expected header "x-a": "3"; its values: "1", "2"')
    expect(() => expect(map).toHaveHeader('x-b')).toThrow('expected header "x-b"; headers: x-a: 1, x-a: 2')
    expect(() => expect(42).toHaveHeader('x')).toThrow('expected headers')
  })

  it('toAnswer and toHaveLogged on a real plugin', async () => {
    const t = await createPluginTester(fixture('go', 'hello-mock'))
    try {
      const r = await t.request({ headers: { host: 'a' } })
      expect(r).not.toAnswer(200)
      expect(() => expect(r).toAnswer(200)).toThrow('expected a local answer 200; no plugin answered: the request reached the upstream (the client got 200)')
      expect(t).toHaveLogged('warn', 'config is empty')
      expect(t.logs).toHaveLogged('warn', /^\[my-plugin\] \[nil\] \[nil\] config is empty/)
      expect(t).not.toHaveLogged('error', 'config is empty')
      expect(() => expect(t).toHaveLogged('error', 'x')).toThrow(/expected an error line with "x"; lines:\n\[warn\] \[hello-mock#1\] \[my-plugin\]/)
    } finally {
      t.close()
    }
    const m = await createPluginTester(fixture('go', 'hello-mock'), { config: { mockEnable: true } })
    try {
      const r = await m.request({ headers: { host: 'a' } })
      expect(r).toAnswer(200)
      expect(r).toAnswer(200, 'hello world')
      expect(r).toAnswer(200, /hello/)
      expect(() => expect(r).toAnswer(403)).toThrow('expected a local answer 403; the plugin answered 200 with body "hello world"')
    } finally {
      m.close()
    }
  })
})
