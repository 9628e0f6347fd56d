import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { serve } from '../../src/cli/serve.js'
import { fixture } from '../helpers.js'
import { expectDocumented, get, useBystander } from './harness.js'

const by = useBystander()

describe('hostile plugin: serve --watch reloads a plugin whose _initialize never returns', () => {
  it('the reload fails within the CPU limit with a coded error; the previous plugins keep serving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pwh-watch-'))
    const file = join(dir, 'plugin.wasm')
    copyFileSync(fixture('wat', 'reactor'), file)
    const printed: string[] = []
    let seen: ((line: string) => void) | undefined
    const s = await serve({
      plugins: [{ file }],
      port: 0,
      host: '127.0.0.1',
      watch: true,
      logger: { level: 'error', log() {} },
      demo: '',
      print: (line) => {
        printed.push(line)
        seen?.(line)
      },
    })
    try {
      const before = await get(`${s.url}/a`)
      expect(JSON.parse(before.body).headers['x-init']).toBe('1')
      const failed = new Promise<string>((resolve) => {
        seen = (line) => line.startsWith('reload failed') && resolve(line)
      })
      copyFileSync(fixture('wat', 'hostile-init-loop'), file)
      const line = await failed
      expect(line).toMatch(/^reload failed, still serving the previous plugins: error PWH_ERR_PLUGIN_START_FAILED: .*CPU limit/)
      expect((await get(by.url)).body).toBe('bystander ok')
      const after = await get(`${s.url}/b`)
      expect(after.status).toBe(200)
      expect(JSON.parse(after.body).headers['x-init']).toBe('1')
      expect(JSON.parse(after.body).headers['x-init-loop']).toBeUndefined()
      expectDocumented('PWH_ERR_PLUGIN_CPU_LIMIT')
    } finally {
      await s.close(100)
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
