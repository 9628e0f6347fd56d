import { describe, expect, it } from 'vitest'
import { handle } from '../../src/adapters/node/handle.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { echoApp, expectDocumentedText, hostileRound, listen, useBystander } from './harness.js'

const newHost = hostsClosedAfterEach()
const by = useBystander()

describe('hostile plugin: CR, LF, NUL and other forbidden bytes in header names and values', () => {
  it('every such write answers BadArgument with a warn line, the map is unchanged, valid writes still work', async () => {
    const { host, logs } = newHost('info')
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-header-injection'), name: 'inject' }])
    const target = await listen(handle(pipeline, echoApp))
    try {
      const { hostile } = await hostileRound(target, by, '/x')
      expect(hostile.status).toBe(200)
      const seen = JSON.parse(hostile.body).headers as Record<string, string>
      expect(seen['x-results']).toBe('2,2,2,2,2,2,2,0')
      expect(seen['x-fine']).toBe('ok')
      for (const h of ['x-inject', 'x-evil', 'x-evil\n', 'x-nul', 'x-ok', 'x-bad', 'x-long', 'x bad', 'x-ctl']) expect(seen[h]).toBeUndefined()
      const warns = logs.filter((l) => l.level === 'warn' && l.plugin === 'inject' && l.origin === 'host').map((l) => l.message)
      const ctl = 'the value holds a control character (CR, LF, NUL …); the map is left unchanged; answered BadArgument'
      const token = 'the name is not an HTTP token; the map is left unchanged; answered BadArgument'
      expect(warns).toEqual([
        `proxy_add_header_map_value: header "x-inject": "a\\r\\nx-evil: 1": ${ctl}`,
        `proxy_replace_header_map_value: header "x-evil\\n": "v": ${token}`,
        `proxy_add_header_map_value: header "x-nul": "a\\u0000b": ${ctl}`,
        `proxy_set_header_map_pairs: header "x-bad": "a\\rb": ${ctl}`,
        expect.stringMatching(/^proxy_add_header_map_value: header "x-long": "a{80}…": the value holds a control character/),
        `proxy_add_header_map_value: header "x bad": "v": ${token}`,
        `proxy_add_header_map_value: header "x-ctl": "a\\u0001b": ${ctl}`,
      ])
      expect(host.plugins[0]!.healthy).toBe(true)
      expectDocumentedText('not an HTTP token')
    } finally {
      await target.close()
    }
  })
})
