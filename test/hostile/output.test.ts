import { describe, expect, it } from 'vitest'
import { handle } from '../../src/adapters/node/handle.js'
import { WASI_LINE_MAX_BYTES } from '../../src/abi/limits.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'
import { echoApp, expectDocumentedText, hostileRound, listen, useBystander } from './harness.js'

const newHost = hostsClosedAfterEach()
const by = useBystander()

describe('hostile plugin: endless output without a newline', () => {
  it.each(['sandbox', 'wasmer'] as const)('%s: 128 MiB on one line is cut at the maximum line length; the next lines are intact', async (wasi) => {
    const { host, logs } = newHost('info', { wasi })
    const pipeline = await pipelineOf(host, [{ wasm: fixture('wat', 'hostile-stdout'), name: 'chatty' }])
    const target = await listen(handle(pipeline, echoApp))
    try {
      const { hostile } = await hostileRound(target, by, '/talk')
      expect(hostile.status).toBe(200)
      const lines = logs.filter((l) => l.plugin === 'chatty' && (l.origin === 'stdout' || l.origin === 'stderr'))
      expect(lines.map((l) => [l.origin, l.message.length])).toEqual([
        ['stdout', WASI_LINE_MAX_BYTES + ` … [line cut at ${WASI_LINE_MAX_BYTES} bytes, ${128 * 1024 * 1024 - WASI_LINE_MAX_BYTES} more bytes dropped]`.length],
        ['stdout', 3],
        ['stderr', 1],
      ])
      expect(lines[0]!.message.startsWith('x'.repeat(WASI_LINE_MAX_BYTES))).toBe(true)
      expect(lines[1]!.message).toBe('end')
      expect(lines[2]!.message).toBe('é')
      expect(host.plugins[0]!.healthy).toBe(true)
      expectDocumentedText('longest log line')
    } finally {
      await target.close()
    }
  })
})
