// Soak: 1 M requests (request headers, a body chunk, response headers and body, done) through 3
// Go wasm-go plugins. Half go to a host with the default limits (CPU limit on, memory cap on),
// half to a host with the CPU limit off, in alternating batches of 1000, so that both see the same
// traffic, warm-up and machine; the CPU time per request of each is summed per 100 k. RSS is
// printed every 100 k requests; it must stay flat within ±10 % after the warm-up (the first 100 k).
// Usage: npm run build && node bench/soak.mjs   (SOAK_N, default 1000000)
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { PluginPipeline, WasmPluginHost } from '../dist/index.js'
import { cpuPerRequest } from './cpu-time.mjs'

const fx = (name) => fileURLToPath(new URL(`../fixtures/build/go/${name}.wasm`, import.meta.url))
const quiet = { level: 'warn', log(level, message) { if (level === 'error' || level === 'critical') console.error(message) } }
const specs = [
  { wasm: fx('minimal'), config: { enabled: true } },
  { wasm: fx('headers'), config: {} },
  { wasm: fx('stamp'), config: { name: 'soak' } },
]
async function pipelineOn(host) {
  const plugins = []
  for (const s of specs) plugins.push(await host.load(s))
  return new PluginPipeline(host, { plugins })
}
const onHost = new WasmPluginHost({ logger: quiet })
const offHost = new WasmPluginHost({ logger: quiet, limits: { callbackTimeoutMs: 0 } })
const on = await pipelineOn(onHost)
const off = await pipelineOn(offHost)

const request = { method: 'POST', path: '/soak?x=1', authority: 'soak.example.com', headers: { 'user-agent': 'soak', 'content-type': 'text/plain', 'x-multi': 'a', 'x-replace': 'old' } }
const chunk = Buffer.from('soak body')
async function one(p) {
  const ex = p.exchange(request)
  await ex.requestHeaders(false)
  await ex.requestBody(chunk, true)
  await ex.responseHeaders(200, { 'content-type': 'text/plain' }, false)
  await ex.responseBody(chunk, true)
  ex.done()
}

const N = Number(process.env.SOAK_N ?? 1_000_000)
const BATCH = 1000
const step = N / 10
const rss = []
const ratios = []
const mib = (b) => (b / 2 ** 20).toFixed(1)
console.log(`soak: ${N} requests through 3 Go plugins (minimal, headers, stamp), half with the default limits, half with the CPU limit off; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
console.log('requests'.padStart(9), 'RSS MiB'.padStart(8), 'heap MiB'.padStart(9), 'off µs'.padStart(7), 'on µs'.padStart(7), 'on/off'.padStart(7))
const t0 = performance.now()
for (let done = 0; done < N; ) {
  let offUs = 0
  let onUs = 0
  for (let b = 0; b < step / BATCH; b += 2) {
    // Alternate which goes first.
    const pair = b % 4 ? [on, off] : [off, on]
    for (const p of pair) {
      const us = await cpuPerRequest(one, p, BATCH)
      if (p === on) onUs += us
      else offUs += us
    }
  }
  done += step
  const n = step / BATCH / 2
  ratios.push(onUs / offUs)
  const m = process.memoryUsage()
  rss.push(m.rss)
  console.log(String(done).padStart(9), mib(m.rss).padStart(8), mib(m.heapUsed).padStart(9), (offUs / n).toFixed(2).padStart(7), (onUs / n).toFixed(2).padStart(7), (onUs / offUs).toFixed(3).padStart(7))
}
const s = (performance.now() - t0) / 1000
const after = rss.slice(1)
const mid = [...after].sort((x, y) => x - y)[Math.floor(after.length / 2)]
const spread = Math.max(...after.map((x) => Math.abs(x - mid) / mid))
const sorted = [...ratios].sort((x, y) => x - y)
console.log(`${N} requests in ${s.toFixed(0)} s; RSS after warm-up: median ${mib(mid)} MiB, largest deviation ${(spread * 100).toFixed(1)} % (${spread <= 0.1 ? 'flat within ±10 %' : 'NOT flat within ±10 %'})`)
console.log(`CPU limit on/off per request (per 100 k, ${ratios.length} blocks): min ${sorted[0].toFixed(3)}, median ${sorted[Math.floor(sorted.length / 2)].toFixed(3)}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
onHost.close()
offHost.close()
if (spread > 0.1) process.exit(1)
