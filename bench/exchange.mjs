// Per-request overhead of header-only plugins, measured against an exchange with no plugin in the
// same run. Usage: npm run bench:exchange  (builds dist and the fixtures first); BENCH_N (default
// 50000), BENCH_NO_PRETENURING=1.
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
// V8's allocation-site pretenuring makes per-request figures bimodal (docs/performance.md):
// BENCH_NO_PRETENURING=1 turns it off for a steadier reading.
if (process.env.BENCH_NO_PRETENURING) v8.setFlagsFromString('--no-allocation-site-pretenuring')
import { PluginPipeline, WasmPluginHost } from '../dist/index.js'

const fx = (kind, name) => fileURLToPath(new URL(`../fixtures/build/${kind}/${name}.wasm`, import.meta.url))
const host = new WasmPluginHost({ logger: { level: 'warn', log() {} } })

async function pipeline(specs) {
  const plugins = []
  for (const s of specs) plugins.push(await host.load(s))
  return new PluginPipeline(host, { plugins })
}

const request = { method: 'GET', path: '/bench?x=1', authority: 'bench.example.com', headers: { 'user-agent': 'bench', accept: '*/*' }, remoteAddress: '127.0.0.1', remotePort: 40000 }
const respHeaders = { 'content-type': 'text/plain', 'content-length': '2' }

async function one(p) {
  const ex = p.exchange(request)
  await ex.requestHeaders(true)
  await ex.responseHeaders(200, respHeaders, true)
  ex.done()
}

async function measure(p, n) {
  for (let i = 0; i < 2000; i++) await one(p)
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await one(p)
  return Number(process.hrtime.bigint() - t0) / 1000 / n
}

const as = { wasm: fx('as', 'add-header') }
const go = { wasm: fx('go', 'minimal'), config: { enabled: true } }
const wat = { wasm: fx('wat', 'abi-0-2-1') }
const cases = [
  ['no plugin', await pipeline([])],
  ['1 × WAT (host cost only)', await pipeline([wat])],
  ['1 × AssemblyScript (add-header)', await pipeline([as])],
  ['1 × Go wasm-go (minimal)', await pipeline([go])],
  ['3 × AssemblyScript', await pipeline([as, as, as])],
  ['3 × Go wasm-go', await pipeline([go, go, go])],
]
const N = Number(process.env.BENCH_N ?? 50000)
// Interleave rounds so that drift affects every case alike; keep the best round of each.
const best = new Map()
for (let round = 0; round < 5; round++) {
  for (const [name, p] of cases) {
    const us = await measure(p, N / 5)
    best.set(name, Math.min(best.get(name) ?? Infinity, us))
  }
}
const base = best.get('no plugin')
const mode = process.env.BENCH_NO_PRETENURING ? ', V8 pretenuring off' : ''
console.log(`exchange overhead, ${N} requests per case (request headers + response headers + done), best of 5 rounds${mode}`)
console.log('case'.padEnd(34), 'µs/request'.padStart(11), 'extra µs'.padStart(9), 'ratio'.padStart(7))
for (const [name] of cases) {
  const us = best.get(name)
  console.log(name.padEnd(34), us.toFixed(2).padStart(11), (us - base).toFixed(2).padStart(9), (us / base).toFixed(2).padStart(7))
}
host.close()
