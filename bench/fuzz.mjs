// 1 M hostcalls with random arguments (bench/fuzz-module.mjs: every env hostcall of the host, its
// ABI signature, biased random arguments), through a real pipeline. Prints progress with RSS every
// 10 %, and fails (exit 1) when an exception escaped or a VM failed. What the plugin stores in
// shared data, shared queues and metrics is kept up to the host's state caps (limits.maxSharedData*,
// limits.maxSharedQueue*, limits.maxMetrics; docs/isolation.md); the heap left after the run is
// printed next to the RSS growth.
// Usage: npm run build && node bench/fuzz.mjs   (FUZZ_CALLS, default 1000000; FUZZ_SEED)
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { PluginPipeline, WasmPluginHost } from '../dist/index.js'
import { fuzzWasi, runFuzz } from './fuzz-module.mjs'

// The hostcall table (names and arities) comes from the source, as the host builds it.
const entry = fileURLToPath(new URL('../src/host/hostcalls/index.ts', import.meta.url))
const bundled = await build({ entryPoints: [entry], bundle: true, write: false, format: 'esm', platform: 'node', logLevel: 'silent' })
const { envHostcalls } = await import(`data:text/javascript;base64,${Buffer.from(bundled.outputFiles[0].text).toString('base64')}`)
const table = envHostcalls({})

const calls = Number(process.env.FUZZ_CALLS ?? 1_000_000)
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
const failures = []
const host = new WasmPluginHost({ logger: { level: 'critical', log() {} }, wasi: fuzzWasi(seed), onPluginFailure: (e) => failures.push(e.message) })
const before = process.memoryUsage().rss
const t0 = performance.now()
console.log(`fuzz: ${Object.keys(table).length} env hostcalls, ${calls} calls, seed ${seed}`)
const r = await runFuzz({
  host,
  PluginPipeline,
  table,
  calls,
  onTenth: (tenth, n, requests) => console.log(`${String(tenth * 10).padStart(3)} %  ${String(n).padStart(8)} calls  ${String(requests).padStart(6)} requests  RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MiB`),
})
const s = (performance.now() - t0) / 1000
host.close()
const growth = Math.max(...r.rss) - before
global.gc?.()
console.log(`${r.calls} calls in ${s.toFixed(1)} s (${Math.round(r.calls / s)} calls/s), ${r.requests} requests; RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB, heap after the run ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1)} MiB${global.gc ? '' : ' (run with --expose-gc for a collected figure)'}`)
console.log(`escaped exceptions: ${r.escaped.length}; VM failures: ${failures.length}`)
for (const e of r.escaped.slice(0, 5)) console.log('  escaped:', e?.message ?? e)
for (const f of failures.slice(0, 5)) console.log('  failure:', f)
if (r.escaped.length || failures.length) process.exit(1)
