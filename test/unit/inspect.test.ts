// HeaderMap and local replies read well in console.log and JSON.stringify.
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { HeaderMap } from '../../src/host/header-map.js'
import { fixture, hostsClosedAfterEach, pipelineOf, run } from '../helpers.js'

const newHost = hostsClosedAfterEach()

describe('inspect and JSON', () => {
  it('HeaderMap', () => {
    const h = new HeaderMap({ ':status': '200', 'set-cookie': ['a=1', 'b=2'], 'x-a': '1' })
    expect(inspect(h)).toBe("HeaderMap { ':status': '200', 'set-cookie': [ 'a=1', 'b=2' ], 'x-a': '1' }")
    expect(JSON.parse(JSON.stringify({ h }))).toEqual({ h: { ':status': '200', 'set-cookie': ['a=1', 'b=2'], 'x-a': '1' } })
  })

  it('a local reply from a plugin', async () => {
    const { host } = newHost('info')
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'hello-mock'), config: { mockEnable: true } }])
    const r = await run(p, { path: '/' })
    const json = JSON.parse(JSON.stringify(r.local))
    expect(json).toMatchObject({ status: 200, body: 'hello world', bodyEncoding: 'utf8', headers: { ':status': '200', 'content-length': '11' } })
    expect(inspect(r.local)).toMatch(/^LocalReply \{\n? *status: 200,/)
    expect(inspect(r.local)).toContain("body: 'hello world'")
  })
})
