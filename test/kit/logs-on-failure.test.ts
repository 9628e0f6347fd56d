// Testers are silent; with proxy-wasm-host/testing/vitest loaded, the plugin logs of a failed test
// are printed with its failure. Checked on a child vitest run of test/kit/cases/fails.kit.ts.
import { execFile } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dir = join(root, 'node_modules/.cache/proxy-wasm-host-kit-logs', String(process.pid))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

it('prints the logs of the failed test only', async () => {
  mkdirSync(dir, { recursive: true })
  const config = join(dir, 'vitest.config.mjs')
  writeFileSync(config, `export default {
  resolve: { alias: [
    { find: /^proxy-wasm-host\\/testing\\/vitest$/, replacement: ${JSON.stringify(join(root, 'src/testing/vitest.ts'))} },
    { find: /^proxy-wasm-host\\/testing$/, replacement: ${JSON.stringify(join(root, 'src/testing/index.ts'))} },
  ] },
  test: { root: ${JSON.stringify(root)}, include: ['test/kit/cases/fails.kit.ts'], pool: 'forks' },
}
`)
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'TEST') env[k] = v
  const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
    execFile(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--config', config], { cwd: root, env }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, text: stdout + stderr }))
  })
  expect(out.code).toBe(1)
  expect(out.text).toMatch(/1 failed.*1 passed/)
  expect(out.text).toContain('plugin logs of "fails loudly":')
  expect(out.text).toMatch(/\[warn\] \[logging#\d+\] warn message\n\[error\] \[logging#\d+\] error message\n\[critical\] \[logging#\d+\] critical message\n\[error\] \[logging#\d+\] stderr line/)
  expect(out.text).not.toContain('plugin logs of "passes quietly"')
  expect(out.text).not.toContain('trace message')
}, 60_000)
