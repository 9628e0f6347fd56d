// A newcomer's first hour, end to end: the package as npm packs it, installed from the tarball
// into an app outside the repository, then Express, Koa and Fastify apps (ESM and CommonJS) with
// two real plugins each, a TypeScript file type-checked under node16, bundler and node10
// resolution, and the CLI from node_modules/.bin.
import { execFile } from 'node:child_process'
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixture } from '../helpers.js'
import { buildPackageInto, repoRoot } from '../package-build.js'

const run = promisify(execFile)
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  version: string
  files: string[]
  devDependencies: Record<string, string>
}
const here = join(repoRoot, 'test/e2e/app')
let work: string
let app: string
const env = () => ({ ...process.env, PLUGIN_MINIMAL: fixture('go', 'minimal'), PLUGIN_STAMP: fixture('go', 'stamp') })
/** The exact versions the repository was tested with (already in npm's cache). */
const dev = (name: string) => `${name}@${pkg.devDependencies[name]!.replace(/^[\^~]/, '')}`

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'pwh-newcomer-'))
  // The package directory npm packs: package.json, README, LICENSE, the files it lists.
  // Built inside the repository (as `npm run build` does: source maps point at ../src relatively).
  const stage = join(repoRoot, 'node_modules/.cache/proxy-wasm-host-e2e', String(process.pid))
  buildPackageInto(stage)
  rmSync(join(stage, 'package.json'))
  for (const f of ['package.json', 'README.md', 'LICENSE']) copyFileSync(join(repoRoot, f), join(stage, f))
  for (const f of pkg.files) if (f !== 'dist') cpSync(join(repoRoot, f), join(stage, f), { recursive: true })
  await run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: stage })
  const tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!)
  app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'newcomer-app', private: true }))
  for (const f of readdirSync(here)) copyFileSync(join(here, f), join(app, f))
  copyFileSync(join(here, 'check.ts'), join(app, 'check.mts'))
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball,
    dev('express'), dev('koa'), dev('fastify'), dev('typescript'), dev('@types/node'), dev('@types/express'), dev('@types/koa')], { cwd: app })
}, 300_000)

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true })
  rmSync(join(repoRoot, 'node_modules/.cache/proxy-wasm-host-e2e', String(process.pid)), { recursive: true, force: true })
})

interface Line { framework: string; status: number; responseStamp: string; body: { myHeader: string; stamp: string } }
const results = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Line & { schema?: string })

describe('the packed package in an app outside the repository', () => {
  it('ships what the exports map names and nothing of the build machine', async () => {
    const { stdout } = await run('npm', ['ls', 'proxy-wasm-host', '--json'], { cwd: app })
    expect(JSON.parse(stdout).dependencies['proxy-wasm-host'].version).toBe(pkg.version)
    const installed = join(app, 'node_modules/proxy-wasm-host')
    expect(readdirSync(installed).sort()).toEqual(['LICENSE', 'README.md', 'dist', 'package.json', 'schema'])
    const map = JSON.parse(readFileSync(join(installed, 'dist/index.cjs.map'), 'utf8')) as { sources: string[] }
    expect(map.sources.every((s) => !s.startsWith('/'))).toBe(true)
    // @wasmer/wasi is optional: not installed with the package.
    expect(() => readFileSync(join(app, 'node_modules/@wasmer/wasi/package.json'))).toThrow()
  })

  it.each(['app.mjs', 'app.cjs'])('%s: Express, Koa and Fastify (root registration) run both plugins', async (file) => {
    const { stdout } = await run(process.execPath, [file], { cwd: app, env: env() })
    const lines = results(stdout)
    const name = file.endsWith('.mjs') ? 'esm' : 'cjs'
    expect(lines.filter((l) => l.framework).map((l) => l.framework)).toEqual(['express', 'koa', 'fastify'])
    for (const l of lines.filter((x) => x.framework)) {
      expect(l, l.framework).toMatchObject({ status: 200, responseStamp: name, body: { myHeader: 'hello', stamp: name } })
    }
    if (name === 'cjs') expect(lines.at(-1)!.schema).toBe('proxy-wasm-host pipeline file')
  })

  it.each([
    ['node16', { module: 'node16', moduleResolution: 'node16' }, ['check.ts', 'check.mts']],
    ['bundler', { module: 'esnext', moduleResolution: 'bundler' }, ['check.ts']],
    ['node10', { module: 'commonjs', moduleResolution: 'node10' }, ['check.ts']],
  ])('TypeScript under %s resolution type-checks', async (name, resolution, files) => {
    const config = join(app, `tsconfig.${name}.json`)
    writeFileSync(config, JSON.stringify({ compilerOptions: { ...resolution, target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files }))
    const r = await run(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', config], { cwd: app }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? String(err), failed: true }))
    expect(r.stdout).toBe('')
    expect('failed' in r).toBe(false)
  })

  it('the CLI runs from node_modules/.bin', async () => {
    const bin = join(app, 'node_modules/.bin/proxy-wasm-host')
    expect((await run(bin, ['--version'])).stdout.trim()).toBe(pkg.version)
    const inspect = await run(bin, ['inspect', '--json', fixture('go', 'minimal')])
    expect(JSON.parse(inspect.stdout)).toMatchObject({ abi: '0.2.100', refused: null })
  })
})
