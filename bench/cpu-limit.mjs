// Cost of the CPU limit (limits.callbackTimeoutMs, on by default: fuel added at load) on one
// header-only plugin's per-request cost, against the same plugin with the limit off, same run.
// Per-request cost = process CPU time (user + system) over N exchanges (request headers, response
// headers, done). 5 rounds, each alternating 20 small batches of both modes; min and median printed.
// Usage: npm run build && node bench/cpu-limit.mjs   (BENCH_N, default 20000 per round)
import { fileURLToPath } from 'node:url'
import { PluginPipeline, WasmPluginHost } from '../dist/index.js'
import { cpuPerRequest } from './cpu-time.mjs'

const fx = (kind, name) => fileURLToPath(new URL(`../fixtures/build/${kind}/${name}.wasm`, import.meta.url))
const quiet = { level: 'warn', log() {} }
const off = new WasmPluginHost({ logger: quiet, limits: { callbackTimeoutMs: 0, maxMemoryBytes: 0 } })
const on = new WasmPluginHost({ logger: quiet })

const request = { method: 'GET', path: '/bench?x=1', authority: 'bench.example.com', headers: { 'user-agent': 'bench', accept: '*/*' } }
const respHeaders = { 'content-type': 'text/plain', 'content-length': '2' }

async function one(p) {
  const ex = p.exchange(request)
  await ex.requestHeaders(true)
  await ex.responseHeaders(200, respHeaders, true)
  ex.done()
}


const specs = [
  ['Go wasm-go (minimal)', { wasm: fx('go', 'minimal'), config: { enabled: true } }],
  ['AssemblyScript (add-header)', { wasm: fx('as', 'add-header') }],
]
const cases = []
for (const [name, spec] of specs) {
  const a = await off.load(spec)
  const b = await on.load(spec)
  if (b.vm === undefined) throw new Error('no VM')
  cases.push({ name, off: new PluginPipeline(off, { plugins: [a] }), on: new PluginPipeline(on, { plugins: [b] }), mode: (await on.compile(spec.wasm)).cpuLimit })
}
const N = Number(process.env.BENCH_N ?? 20000)
for (const c of cases) for (const p of [c.off, c.on]) for (let i = 0; i < 3000; i++) await one(p)
const rounds = new Map()
// Each round alternates small batches of the two modes (20 each), so that the machine's drift
// (other processes, GC) hits both alike; a round's figure is the CPU time over its batches.
const BATCHES = 20
for (let round = 0; round < 5; round++) {
  for (const c of cases) {
    const total = { off: 0, on: 0 }
    for (let b = 0; b < BATCHES; b++) {
      const order = b % 2 ? ['on', 'off'] : ['off', 'on']
      for (const k of order) total[k] += await cpuPerRequest(one, c[k], N / BATCHES)
    }
    for (const k of ['off', 'on']) {
      const key = `${c.name}|${k}`
      rounds.set(key, [...(rounds.get(key) ?? []), total[k] / BATCHES])
    }
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const min = (xs) => Math.min(...xs)
const load = (await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')
console.log(`CPU limit cost: ${N} requests per round, 5 rounds, process CPU µs per request; load average ${load}`)
console.log('plugin'.padEnd(30), 'mode'.padEnd(6), 'off min'.padStart(8), 'on min'.padStart(8), 'off med'.padStart(8), 'on med'.padStart(8), 'round ratio min'.padStart(16), 'median'.padStart(7))
for (const c of cases) {
  const a = rounds.get(`${c.name}|off`)
  const b = rounds.get(`${c.name}|on`)
  // Each round's two figures come from the same interleaved batches: their ratio is the steadiest.
  const ratios = a.map((x, i) => b[i] / x)
  console.log(c.name.padEnd(30), c.mode.padEnd(6), min(a).toFixed(2).padStart(8), min(b).toFixed(2).padStart(8), median(a).toFixed(2).padStart(8), median(b).toFixed(2).padStart(8),
    min(ratios).toFixed(3).padStart(16), median(ratios).toFixed(3).padStart(7))
}
off.close()
on.close()
