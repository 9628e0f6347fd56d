import { describe, expect, it } from 'vitest'
import { createGatewayHandler } from '../../src/adapters/node/gateway.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { expectDocumentedText, listen, useBystander } from './harness.js'

const newHost = hostsClosedAfterEach()
const by = useBystander()

describe('hostile upstream: a response body that stalls', () => {
  it('the gateway resets the response after bodyTimeoutMs; the plugins finish their stream; the process serves on', async () => {
    const { host, logs } = newHost('info')
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'actions'), name: 'watch' }])
    // Sends its headers and half of a declared body, then nothing.
    const upstream = await listen((_req, res) => {
      res.writeHead(200, { 'content-length': '10' })
      res.write('hello')
    })
    const handler = createGatewayHandler({ pipeline, upstream: upstream.url, bodyTimeoutMs: 200 })
    const gateway = await listen(handler)
    try {
      const res = await fetch(`${gateway.url}/stall`, { signal: AbortSignal.timeout(20_000) })
      expect(res.status).toBe(200)
      const side = await fetch(by.url)
      expect(await side.text()).toBe('bystander ok')
      const body = await res.text().then((t) => ({ ok: true, t }), (e: unknown) => ({ ok: false, t: String(e) }))
      expect(body.ok).toBe(false)
      await new Promise((r) => setTimeout(r, 50))
      const messages = logs.map((l) => l.message)
      expect(messages).toContain(`upstream ${upstream.url}: no response body data for 200 ms (bodyTimeoutMs); the response is reset`)
      // on_log / on_done ran for the stream that was cut.
      expect(messages.filter((m) => m === 'on_log')).toHaveLength(1)
      expectDocumentedText('`bodyTimeoutMs` (default 15 s)')
    } finally {
      await gateway.close()
      await handler.close()
      await upstream.close()
    }
  })
})
