// Builds the demo plugin shipped with the package:
//   src/cli/demo/demo.wat -> dist/demo/demo.wasm   (@bytecodealliance/jco parse, then WebAssembly.validate)
// Runs after tsup in `npm run build` (tsup cleans dist/, so this always rebuilds).
// Usage: node scripts/build-demo.mjs [outDir]   (default: dist; the CLI looks in <outDir>/demo)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const src = `${root}src/cli/demo/demo.wat`
const out = resolve(process.argv[2] ?? `${root}dist`, 'demo/demo.wasm')

function fail(message) {
  console.error(`build-demo: ${message}`)
  process.exit(1)
}

let parse
try {
  ;({ parse } = await import('@bytecodealliance/jco'))
} catch (err) {
  fail(`@bytecodealliance/jco is needed to build the demo plugin (npm ci): ${err.message}`)
}

let bytes
try {
  bytes = await parse(readFileSync(src, 'utf8'))
} catch (err) {
  fail(`${src}: ${err.message ?? err}`)
}
// jco's parse does not validate.
if (!WebAssembly.validate(bytes)) fail(`${src} built into an invalid module`)
const exports = WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name)
if (!exports.includes('proxy_abi_version_0_2_1')) fail(`${src}: the ABI marker export is missing`)

mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, bytes)
console.log(`build-demo: ${out} (${bytes.byteLength} bytes)`)
