import { describe, expect, it } from 'vitest'
import { fixture, pipelineOf, run, testHost } from '../helpers.js'

describe('smoke', () => {
  it('minimal', async () => {
    const { host, logs } = testHost()
    const p = await pipelineOf(host, [{ wasm: fixture('go', 'minimal'), config: { enabled: true } }])
    const r = await run(p, { path: '/get', authority: 'example.com' })
    console.log(r.upstream?.headers.entries(), logs)
    expect(r.upstream?.headers.get('x-my-header')).toBe('hello')
  })
})
