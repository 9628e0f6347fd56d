import { describe, expect, it } from 'vitest'
import { handle } from '../../src/adapters/node/handle.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { echoApp, expectDocumentedText, hostileRound, listen, useBystander } from './harness.js'

const newHost = hostsClosedAfterEach()
const by = useBystander()

async function localReply(mode: string) {
  const { host, logs } = newHost('info')
  const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-local-reply'), name: 'reply', config: mode }])
  const target = await listen(handle(pipeline, echoApp))
  try {
    const { hostile } = await hostileRound(target, by, '/r')
    const warns = logs.filter((l) => l.level === 'warn' && l.plugin === 'reply').map((l) => l.message)
    return { hostile, warns, healthy: host.plugins[0]!.healthy }
  } finally {
    await target.close()
  }
}

describe('hostile plugin: local replies the host must not send as given', () => {
  it.each([
    ['0', 'status 0 is not a final HTTP status (200–599); no local response'],
    ['1', 'status 99 is not a final HTTP status (200–599); no local response'],
    ['2', 'status 100 is not a final HTTP status (200–599); no local response'],
    ['3', 'status 99999 is not a final HTTP status (200–599); no local response'],
    ['4', 'status 600 is not a final HTTP status (200–599); no local response'],
    ['6', '1025 headers, more than 1024; no local response'],
    ['7', 'header "x-split": "a\\r\\nx-evil: 1": the value holds a control character (CR, LF, NUL …); no local response'],
  ])('case %s: BadArgument with a warn line; the request goes on', async (mode, warning) => {
    const { hostile, warns, healthy } = await localReply(mode)
    expect(hostile.status).toBe(200)
    expect(JSON.parse(hostile.body).headers['x-local-result']).toBe('2')
    expect(warns).toEqual([`proxy_send_local_response: ${warning}; answered BadArgument`])
    expect(healthy).toBe(true)
  })

  it('hop-by-hop and framing headers are dropped with a warn line; the reply is framed by the host', async () => {
    const { hostile, warns } = await localReply('5')
    expect(hostile.status).toBe(403)
    expect(hostile.body).toBe('denied')
    expect(hostile.headers.get('x-ok')).toBe('1')
    expect(hostile.headers.get('transfer-encoding')).toBeNull()
    expect(hostile.headers.get('content-length')).toBe('6')
    expect(warns).toEqual([
      'proxy_send_local_response: header "transfer-encoding": "chunked" is a hop-by-hop or framing header; dropped (the host frames the reply)',
      'proxy_send_local_response: header "connection": "close" is a hop-by-hop or framing header; dropped (the host frames the reply)',
    ])
    expectDocumentedText('Hop-by-hop and framing headers')
  })

  it('a pseudo-header in a local reply is dropped; a valid reply goes out as given', async () => {
    const pseudo = await localReply('9')
    expect([pseudo.hostile.status, pseudo.hostile.headers.get('x-ok')]).toEqual([403, '1'])
    expect(pseudo.warns).toEqual(['proxy_send_local_response: header ":status": "200" is a pseudo-header; dropped (the host frames the reply)'])
    const valid = await localReply('8')
    expect([valid.hostile.status, valid.hostile.body, valid.warns]).toEqual([403, 'denied', []])
  })
})

describe('hostile plugin: tick periods of 2^31 ms and more', () => {
  it('answer BadArgument with a warn line; the plugin never ticks', async () => {
    const { host, logs } = newHost('info')
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-tick'), name: 'tick' }])
    const target = await listen(handle(pipeline, echoApp))
    try {
      await new Promise((r) => setTimeout(r, 30))
      const { hostile } = await hostileRound(target, by, '/t')
      const seen = JSON.parse(hostile.body).headers as Record<string, string>
      expect([seen['x-tick-results'], seen['x-ticks']]).toEqual(['2,2', '0'])
      expect(logs.filter((l) => l.level === 'warn' && l.plugin === 'tick').map((l) => l.message)).toEqual([
        'proxy_set_tick_period_milliseconds: period 2147483648 ms is 2^31 or more; the tick is unchanged; answered BadArgument',
        'proxy_set_tick_period_milliseconds: period 4294967295 ms is 2^31 or more; the tick is unchanged; answered BadArgument',
      ])
      expectDocumentedText('proxy_set_tick_period_milliseconds')
    } finally {
      await target.close()
    }
  })
})
