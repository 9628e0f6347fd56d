// The straight walk of an exchange (ADR 0024) against the general slot machinery: the same
// requests through the same plugins, once with no diagnostics subscriber (phases walk the plugins
// straight and hand over at the first one that does not continue) and once with a subscriber on
// `proxy-wasm-host:action` (every phase takes the general path). Results and callback logs must
// be the same.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { describe, expect, it } from 'vitest'
import type { PluginOptions } from '../../src/index.js'
import type { PhaseResult } from '../../src/pipeline/exchange.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'

const newHost = hostsClosedAfterEach()
const noop: PluginOptions = { wasm: fixture('wat', 'noop') }
const actions = (config: string): PluginOptions => ({ wasm: fixture('wat', 'actions'), config })

function show(r: PhaseResult): string {
  const parts = [r.action, `end=${r.endOfStream}`, `body=${Buffer.concat(r.body).toString()}`]
  if (r.headers) parts.push(`headers=${r.headers.kv.join(',')}`)
  if (r.trailers) parts.push(`trailers=${r.trailers.kv.join(',')}`)
  if (r.localResponse) parts.push(`local=${r.localResponse.status}:${Buffer.from(r.localResponse.body).toString()}`)
  return parts.join(' ')
}

/** One request with a two-chunk body each way; every phase result and log line. */
async function drive(plugins: PluginOptions[], general: boolean): Promise<string[]> {
  const { host, logs } = newHost('info')
  const p = await pipelineOf(host, plugins, { pauseTimeoutMs: 50 })
  const onAction = () => {}
  if (general) subscribe('proxy-wasm-host:action', onAction)
  try {
    const out: string[] = []
    const ex = p.exchange({ method: 'POST', path: '/x', authority: 'a', headers: [['content-type', 'text/plain']] })
    out.push(show(await ex.requestHeaders(false)))
    out.push(show(await ex.requestBody(Buffer.from('abc'), false)))
    out.push(show(await ex.requestBody(Buffer.from('def'), true)))
    out.push(show(await ex.responseHeaders(200, [['content-type', 'text/plain']], false)))
    out.push(show(await ex.responseBody(Buffer.from('xy'), false)))
    out.push(show(await ex.responseBody(Buffer.from('z'), true)))
    ex.done()
    out.push(`failures=${ex.failures.map((f) => f.code).join(',')}`)
    for (const l of logs) out.push(`${l.plugin}: ${l.message}`)
    return out
  } finally {
    if (general) unsubscribe('proxy-wasm-host:action', onAction)
  }
}

const chains: Array<[string, PluginOptions[]]> = [
  ['two no-op plugins', [noop, noop]],
  ['StopIteration on request headers (Higress 0.2.100), then continue from the body', [noop, actions('1'), noop]],
  ['StopAllIteration on request headers, never resumed (pause timeout)', [actions('3'), noop]],
  ['StopIterationAndBuffer on the request body', [noop, actions('01'), noop]],
  ['StopIterationNoBuffer on the request body', [actions('03'), noop]],
  ['StopIteration on response headers', [noop, actions('001')]],
  ['StopIterationAndBuffer on the response body', [actions('0001'), noop]],
  ['a local reply from the last request body chunk', [noop, actions('00001'), noop]],
  ['a plugin that traps, FAIL_OPEN', [noop, { wasm: fixture('wat', 'trap'), failStrategy: 'FAIL_OPEN' }, noop]],
  ['a plugin that traps, FAIL_CLOSE', [noop, { wasm: fixture('wat', 'trap'), failStrategy: 'FAIL_CLOSE' }]],
  ['a Go SDK plugin (trailers callbacks, not called without trailers)', [noop, { wasm: fixture('go', 'trailers') }, noop]],
]

describe('straight walk', () => {
  for (const [name, plugins] of chains) {
    it(`same results as the general path: ${name}`, async () => {
      const walked = await drive(plugins, false)
      const general = await drive(plugins, true)
      expect(walked).toEqual(general)
    })
  }

  it('the chains above reach the cases they name', async () => {
    const local = await drive([noop, actions('00001'), noop], false)
    expect(local[2]).toMatch(/^local .*local=418:short and stout/)
    const held = await drive([noop, actions('1'), noop], false)
    expect(held[0]).toMatch(/^held/)
    const failed = await drive([noop, { wasm: fixture('wat', 'trap'), failStrategy: 'FAIL_CLOSE' }], false)
    expect(failed.find((l) => l.startsWith('failures='))).toMatch(/PWH_ERR_PLUGIN_TRAP/)
  })
})
