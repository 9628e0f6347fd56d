// The kit as a package: the testing entry built the way the package ships it (ESM and CJS, at the
// paths the package.json exports map names), imported and required by name, and the seed test
// file run by `node --test` against it.
import { execFile } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'tsup'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import tsupConfig from '../../tsup.config.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))
// A private copy: other work in the repository may rebuild or clean dist/ while tests run.
const out = join(root, 'node_modules/.cache/proxy-wasm-host-kit-test', String(process.pid))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> }

/** The child's environment without vitest's variables (the shared file picks its runner by them). */
function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_OPTIONS' && k !== 'TEST') e[k] = v
  return e
}

beforeAll(async () => {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(join(out, 'test/kit'), { recursive: true })
  const exportsMap = { './testing': pkg.exports['./testing']!, './testing/vitest': pkg.exports['./testing/vitest']! }
  writeFileSync(join(out, 'package.json'), JSON.stringify({ name: pkg.name, type: 'module', exports: exportsMap }))
  // The package's own build (tsup.config.ts: ESM + CJS, the same entry names and options), only
  // the testing entries, without type declarations.
  await build({
    ...tsupConfig,
    config: false,
    entry: { 'testing/index': join(root, 'src/testing/index.ts'), 'testing/vitest': join(root, 'src/testing/vitest.ts') },
    outDir: join(out, 'dist'),
    dts: false,
    sourcemap: false,
    silent: true,
  })
  for (const f of ['seeds.test.mjs', 'framework.mjs']) copyFileSync(join(root, 'test/kit', f), join(out, 'test/kit', f))
  symlinkSync(join(root, 'fixtures'), join(out, 'fixtures'), 'dir')
}, 60_000)

afterAll(() => rmSync(out, { recursive: true, force: true }))

describe('proxy-wasm-host/testing as a package', () => {
  it('node --test runs the seed test file against the built kit', async () => {
    const { stdout } = await run(process.execPath, ['--test', '--test-reporter=tap', join(out, 'test/kit/seeds.test.mjs')], { cwd: out, env: env() })
      .catch((err: { stdout?: string; stderr?: string }) => ({ stdout: `${err.stdout ?? ''}${err.stderr ?? ''}` }))
    expect(stdout).toMatch(/^# tests 11$/m)
    expect(stdout).toMatch(/^# pass 11$/m)
    expect(stdout).toMatch(/^# fail 0$/m)
    expect(stdout).toContain('ok 1 - seed examples')
  })

  it('is imported (ESM) and required (CJS) by name, prom-client loaded on demand in both', async () => {
    const wasm = (name: string) => JSON.stringify(join(root, `fixtures/build/go/${name}.wasm`))
    const body = [
      `const t = await createPluginTester(${wasm('hello-world')}); const r = await t.request({ headers: { host: 'a' } }); t.close()`,
      `const m = await createPluginTester(${wasm('metrics')}); await m.request({ headers: { host: 'a' } }); const n = await m.metrics.get('demo.requests_total'); m.close()`,
      'console.log(r.localResponse.status, r.localResponse.text, n)',
    ].join('\n')
    writeFileSync(join(out, 'esm.mjs'), `import { createPluginTester } from 'proxy-wasm-host/testing'\n${body}\n`)
    writeFileSync(join(out, 'cjs.cjs'), `const { createPluginTester } = require('proxy-wasm-host/testing');\n(async () => {\n${body}\n})()\n`)
    const esm = await run(process.execPath, [join(out, 'esm.mjs')], { cwd: out, env: env() })
    const cjs = await run(process.execPath, [join(out, 'cjs.cjs')], { cwd: out, env: env() })
    expect(esm.stdout).toBe('200 hello world 1\n')
    expect(cjs.stdout).toBe('200 hello world 1\n')
  })
})
