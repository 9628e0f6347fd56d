#!/usr/bin/env node
// Builds every plugin fixture under fixtures/ into fixtures/build/, skipping what is up to date.
//   fixtures/go/<name>/main.go        -> fixtures/build/go/<name>.wasm   (Go >= 1.24, GOOS=wasip1 c-shared)
//   fixtures/as/<name>/assembly/*.ts  -> fixtures/build/as/<name>.wasm   (AssemblyScript 0.17 + @solo-io/proxy-runtime)
//   fixtures/wat/<name>.wat           -> fixtures/build/wat/<name>.wasm  (@bytecodealliance/jco parse, then WebAssembly.validate)
//   fixtures/rust/<name>/lib.rs       -> fixtures/build/rust/<name>.wasm (rustc --target wasm32-unknown-unknown, no_core)
// Usage: node scripts/build-fixtures.mjs [--force] [name-filter]
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, dirname, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const fixtures = join(root, 'fixtures')
const out = join(fixtures, 'build')
const force = process.argv.includes('--force')
const filter = process.argv.slice(2).find((a) => !a.startsWith('--'))

function newest(dir, exts) {
  let t = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (entry.name !== 'build' && entry.name !== 'node_modules') t = Math.max(t, newest(p, exts))
    } else if (exts.some((e) => entry.name.endsWith(e))) t = Math.max(t, statSync(p).mtimeMs)
  }
  return t
}
const upToDate = (target, srcTime) => !force && existsSync(target) && statSync(target).mtimeMs >= srcTime
const fail = (msg) => { console.error(`build-fixtures: ${msg}`); process.exit(1) }
let built = 0, skipped = 0

function checkGo() {
  const r = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' })
  if (r.error || r.status !== 0) fail('Go >= 1.24 is required to build fixtures/go (install it from https://go.dev/dl/ or `apt-get install -y golang-go` on a recent Debian)')
  const m = /go1\.(\d+)/.exec(r.stdout)
  if (!m || Number(m[1]) < 24) fail(`Go >= 1.24 is required for GOOS=wasip1 -buildmode=c-shared, found ${r.stdout.trim()}`)
}

// Go: one module at fixtures/go, one main package per folder.
const goDir = join(fixtures, 'go')
if (existsSync(goDir)) {
  const names = readdirSync(goDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(goDir, d.name, 'main.go')) && (!filter || d.name.includes(filter)))
    .map((d) => d.name)
  const modTime = Math.max(statSync(join(goDir, 'go.mod')).mtimeMs, existsSync(join(goDir, 'go.sum')) ? statSync(join(goDir, 'go.sum')).mtimeMs : 0)
  let checked = false
  for (const name of names) {
    const target = join(out, 'go', `${name}.wasm`)
    if (upToDate(target, Math.max(modTime, newest(join(goDir, name), ['.go'])))) { skipped++; continue }
    if (!checked) { checkGo(); checked = true }
    mkdirSync(dirname(target), { recursive: true })
    console.log(`go  ${name}`)
    const r = spawnSync('go', ['build', '-buildmode=c-shared', '-o', target, `./${name}`], {
      cwd: goDir, stdio: 'inherit',
      env: { ...process.env, GOOS: 'wasip1', GOARCH: 'wasm', GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GOSUMDB: process.env.GOSUMDB ?? 'off' },
    })
    if (r.status !== 0) fail(`go build of fixtures/go/${name} failed`)
    built++
  }
}

// AssemblyScript
const asDir = join(fixtures, 'as')
if (existsSync(asDir)) {
  const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc')
  for (const d of readdirSync(asDir, { withFileTypes: true })) {
    if (!d.isDirectory() || (filter && !d.name.includes(filter))) continue
    const entry = join(asDir, d.name, 'assembly', 'index.ts')
    if (!existsSync(entry)) continue
    const target = join(out, 'as', `${d.name}.wasm`)
    if (upToDate(target, newest(join(asDir, d.name), ['.ts', '.json']))) { skipped++; continue }
    if (!existsSync(asc)) fail('assemblyscript@0.17.14 is missing: run `npm ci` first')
    mkdirSync(dirname(target), { recursive: true })
    console.log(`as  ${d.name}`)
    const r = spawnSync(process.execPath, [asc, relative(join(asDir, d.name), entry), '-b', target, '--use', 'abort=abort_proc_exit', '--optimize'], { cwd: join(asDir, d.name), stdio: 'inherit' })
    if (r.status !== 0) fail(`asc of fixtures/as/${d.name} failed`)
    if (!WebAssembly.validate(readFileSync(target))) fail(`fixtures/as/${d.name} built into an invalid module`)
    built++
  }
}

// WAT
const watDir = join(fixtures, 'wat')
if (existsSync(watDir)) {
  let parse
  for (const f of readdirSync(watDir)) {
    if (!f.endsWith('.wat') || (filter && !f.includes(filter))) continue
    const src = join(watDir, f)
    const target = join(out, 'wat', f.replace(/\.wat$/, '.wasm'))
    if (upToDate(target, statSync(src).mtimeMs)) { skipped++; continue }
    parse ??= (await import('@bytecodealliance/jco')).parse
    const bytes = await parse(readFileSync(src, 'utf8'))
    // jco's parse does not validate; fixtures whose name starts with "invalid-" are meant to fail validation.
    if (!f.startsWith('invalid-') && !WebAssembly.validate(bytes)) fail(`fixtures/wat/${f} does not validate`)
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, bytes)
    console.log(`wat ${f}`)
    built++
  }
}
// Rust: one no_core cdylib per folder (see fixtures/rust/hello/lib.rs for why no_core).
const rustDir = join(fixtures, 'rust')
if (existsSync(rustDir)) {
  for (const d of readdirSync(rustDir, { withFileTypes: true })) {
    if (!d.isDirectory() || (filter && !d.name.includes(filter))) continue
    const src = join(rustDir, d.name, 'lib.rs')
    if (!existsSync(src)) continue
    const target = join(out, 'rust', `${d.name}.wasm`)
    if (upToDate(target, statSync(src).mtimeMs)) { skipped++; continue }
    mkdirSync(dirname(target), { recursive: true })
    console.log(`rs  ${d.name}`)
    const r = spawnSync('rustc', ['--edition', '2024', '--crate-type', 'cdylib', '--target', 'wasm32-unknown-unknown', '-O', '-C', 'panic=abort', src, '-o', target], {
      stdio: 'inherit', env: { ...process.env, RUSTC_BOOTSTRAP: '1' },
    })
    if (r.error) fail('rustc is required to build fixtures/rust (install Rust with rustup: https://rustup.rs)')
    if (r.status !== 0) fail(`rustc of fixtures/rust/${d.name} failed`)
    if (!WebAssembly.validate(readFileSync(target))) fail(`fixtures/rust/${d.name} built into an invalid module`)
    built++
  }
}
console.log(`fixtures: ${built} built, ${skipped} up to date`)
