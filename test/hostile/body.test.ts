import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { handle } from '../../src/adapters/node/handle.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { expectDocumentedText, hostileRound, listen, useBystander } from './harness.js'

const newHost = hostsClosedAfterEach()
const by = useBystander()

/** Answers with the size and SHA-256 of the body it got. */
function digestApp(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  const h = createHash('sha256')
  let n = 0
  req.on('data', (c: Buffer) => {
    n += c.byteLength
    h.update(c)
  })
  req.on('end', () => res.end(JSON.stringify({ bytes: n, sha256: h.digest('hex') })))
}

describe('hostile plugin: bodies that grow', () => {
  it('StopIterationAndBuffer over a 31 MiB body sent in 64 KiB chunks: every byte reaches the app, the plugin saw it whole', async () => {
    const { host, logs } = newHost('info', { limits: { bufferLimitBytes: 64 * 1024 * 1024 } })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-body'), name: 'buffer', config: 'b' }])
    const target = await listen(handle(pipeline, digestApp))
    try {
      const body = Buffer.alloc(31 * 1024 * 1024)
      for (let i = 0; i < body.byteLength; i += 4096) body.writeUInt32LE(i, i)
      const chunks = async function* () {
        for (let i = 0; i < body.byteLength; i += 65536) yield body.subarray(i, i + 65536)
      }
      const { hostile } = await hostileRound(target, by, '/upload', { method: 'POST', body: ReadableStreamFrom(chunks()), duplex: 'half' } as RequestInit)
      expect(hostile.status).toBe(200)
      expect(JSON.parse(hostile.body)).toEqual({ bytes: body.byteLength, sha256: createHash('sha256').update(body).digest('hex') })
      expect(logs.filter((l) => l.plugin === 'buffer' && l.origin === 'proxy_log').map((l) => l.message)).toEqual([`body ${body.byteLength}`])
    } finally {
      await target.close()
    }
  })

  it('proxy_set_buffer_bytes cannot inflate a streamed body past the buffer limit: BadArgument with a warn line', async () => {
    const limit = 1024 * 1024
    const { host, logs } = newHost('info', { limits: { bufferLimitBytes: limit } })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-body'), name: 'inflate', config: 'i' }])
    const target = await listen(handle(pipeline, digestApp))
    try {
      const sent = Buffer.alloc(256 * 1024, 1)
      const { hostile } = await hostileRound(target, by, '/inflate', { method: 'POST', body: sent })
      expect(hostile.status).toBe(200)
      const got = JSON.parse(hostile.body) as { bytes: number }
      expect(got.bytes).toBeLessThanOrEqual(sent.byteLength + limit)
      expect(got.bytes).toBeGreaterThan(sent.byteLength)
      const lines = logs.filter((l) => l.plugin === 'inflate').map((l) => l.message)
      expect(lines.at(-1)).toBe(`appended ${limit / 65536} then 2`)
      expect(lines).toContainEqual(expect.stringMatching(/^proxy_set_buffer_bytes: the request body would grow to \d+ bytes \(\d+ added by this plugin in this stream\), over the buffer limit of 1048576 bytes; the body is left unchanged; answered BadArgument$/))
      expectDocumentedText('proxy_set_buffer_bytes')
    } finally {
      await target.close()
    }
  })
})

function ReadableStreamFrom(it: AsyncGenerator<Buffer>): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async pull(c) {
      const { value, done } = await it.next()
      if (done) c.close()
      else c.enqueue(new Uint8Array(value))
    },
  })
}
