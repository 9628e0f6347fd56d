// HTTP callout cost: a plugin making one GET callout per request (Go wasm-go "callout" fixture:
// pause in request headers, callout, resume) against the same GET made directly with undici from JS,
// in the same run. The callout server runs in a child process, so the figures are the client
// side's: wall time, CPU time (process.cpuUsage, every thread of the process) and GC pauses
// (perf_hooks) per request, 5 interleaved rounds, min and median, with the load average.
// Cases besides the two: the raw-SDK fixture (DispatchHttpCall, no wasm-go helper); the raw-SDK
// fixture against a transport that answers at once (the host's callout machinery and the guest's
// callback, no socket); the wasm-go plugin making no callout; the host's transport alone (no plugin).
// Then the split lines: host machinery + guest vs transport, and the guest time per callback from
// the proxy-wasm-host:callback diagnostics channel (a separate, untimed pass).
// Usage: npm run build && node scripts/build-fixtures.mjs && node bench/callout.mjs
// BENCH_N (requests per round and case, default 4000), BENCH_C (concurrency, default 16).
// Profiling one case on its own: bench/callout-profile.mjs.
import { fileURLToPath } from 'node:url'
import os from 'node:os'
import { PerformanceObserver, performance } from 'node:perf_hooks'
import { Agent } from 'undici'
import { PluginPipeline, WasmPluginHost } from '../dist/index.js'
import { startTokenServer } from './callout-server.mjs'

const { origin, child } = await startTokenServer()
const N = Number(process.env.BENCH_N ?? 4000)
const C = Number(process.env.BENCH_C ?? 16)

// Direct: the same GET (same headers) with an undici Agent, as the host's dispatcher sends it.
const agent = new Agent({ connect: { timeout: 5000 } })
const direct = async () => {
  const res = await agent.request({ origin, path: '/token', method: 'GET', headers: ['x-caller', 'callout', 'host', 'callout'], headersTimeout: 0, bodyTimeout: 0 })
  const chunks = []
  for await (const c of res.body) chunks.push(c)
  if (res.statusCode !== 200 || res.headers['x-token'] !== 'tok') throw new Error('bad direct answer')
}

const host = new WasmPluginHost({ upstreams: { 'outbound|80||tok.static': origin }, logger: { level: 'warn', log() {} } })
const plugin = await host.load({ wasm: fileURLToPath(new URL('../fixtures/build/go/callout.wasm', import.meta.url)), config: { cluster: 'outbound|80||tok.static', timeout: 5000 } })
const pipeline = new PluginPipeline(host, { plugins: [plugin] })
const request = { method: 'GET', path: '/x', authority: 'bench.example.com', headers: { 'user-agent': 'bench' } }
const viaPlugin = async () => {
  const ex = pipeline.exchange(request)
  const r = await ex.requestHeaders(true)
  if (r.action !== 'continue' || ex.requestHeadersMap.get('x-callout-token') !== 'tok') throw new Error(`bad plugin answer ${r.action}`)
  await ex.responseHeaders(200, { 'content-length': '0' }, true)
  ex.done()
}
// The same callout through the raw SDK (DispatchHttpCall, no wasm-go helper: no UUID, no debug
// formatting of the headers), to show how much of the cost is the guest's.
const raw = new PluginPipeline(host, { plugins: [await host.load({
  wasm: fileURLToPath(new URL('../fixtures/build/go/callout-raw.wasm', import.meta.url)),
  config: { cluster: 'outbound|80||tok.static', headers: [[':method', 'GET'], [':path', '/token'], [':authority', 'callout'], ['x-caller', 'callout']], timeout: 5000 },
})] })
const viaRaw = async () => {
  const ex = raw.exchange(request)
  const r = await ex.requestHeaders(true)
  if (r.action !== 'continue' || ex.requestHeadersMap.get('x-response-status') !== '200') throw new Error(`bad raw answer ${r.action}`)
  await ex.responseHeaders(200, { 'content-length': '0' }, true)
  ex.done()
}
// The same raw-SDK plugin against a transport that answers at once with the server's reply (no
// socket, no undici): the host's callout machinery and the guest's callback without the network.
// raw-SDK minus this is the transport's share (resolution, undici, socket), to set against direct.
const answer = { kind: 'response', headers: [[':status', '200'], ['x-token', 'tok'], ['content-type', 'text/plain'], ['content-length', '2']], body: Buffer.from('ok'), trailers: [] }
const instantHost = new WasmPluginHost({ httpDispatcher: { dispatch: (call) => (call.upstream === 'outbound|80||tok.static' ? Promise.resolve(answer) : undefined) }, logger: { level: 'warn', log() {} } })
const instant = new PluginPipeline(instantHost, { plugins: [await instantHost.load({
  wasm: fileURLToPath(new URL('../fixtures/build/go/callout-raw.wasm', import.meta.url)),
  config: { cluster: 'outbound|80||tok.static', headers: [[':method', 'GET'], [':path', '/token'], [':authority', 'callout'], ['x-caller', 'callout']], timeout: 5000 },
})] })
const viaInstant = async () => {
  const ex = instant.exchange(request)
  const r = await ex.requestHeaders(true)
  if (r.action !== 'continue' || ex.requestHeadersMap.get('x-response-status') !== '200') throw new Error(`bad instant answer ${r.action}`)
  await ex.responseHeaders(200, { 'content-length': '0' }, true)
  ex.done()
}
// The host's transport alone (createHttpDispatcher over Upstreams, as the host builds it), no
// plugin: the same GET through the resolution, the handler and the reply pairs the hostcall gets.
const { Upstreams, createHttpDispatcher } = await import('../dist/upstream/index.js')
const transport = createHttpDispatcher(new Upstreams({ upstreams: { 'outbound|80||tok.static': origin } }))
const calloutHeaders = [[':method', 'GET'], [':path', '/token'], [':authority', 'callout'], ['x-caller', 'callout']]
const noBody = Buffer.alloc(0)
const viaTransport = async () => {
  const ac = new AbortController()
  const r = await transport.dispatch({ upstream: 'outbound|80||tok.static', headers: calloutHeaders, body: noBody, trailers: [], timeoutMs: 5000, maxResponseBytes: 1 << 20, plugin: 'bench', token: 4, signal: ac.signal })
  if (r.kind !== 'response' || !r.headers.some(([k, v]) => k === 'x-token' && v === 'tok')) throw new Error(`bad transport answer ${r.kind}`)
}
// The exchange alone (a plugin that makes no callout), to split the plugin cost from the callout's.
const noCall = new PluginPipeline(host, { plugins: [await host.load({ wasm: fileURLToPath(new URL('../fixtures/build/go/callout.wasm', import.meta.url)), config: { cluster: 'outbound|80||tok.static', mode: 'none' } })] })
const exchangeOnly = async () => {
  const ex = noCall.exchange(request)
  await ex.requestHeaders(true)
  await ex.responseHeaders(200, { 'content-length': '0' }, true)
  ex.done()
}

// Garbage-collection pauses (perf_hooks 'gc' entries), to tell the collector's share apart.
const gcPauses = []
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPauses.push([entry.startTime, entry.duration])
}).observe({ entryTypes: ['gc'] })
async function measure(fn, n) {
  let next = 0
  const worker = async () => {
    while (next++ < n) await fn()
  }
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  const p0 = performance.now()
  await Promise.all(Array.from({ length: C }, worker))
  const wall = Number(process.hrtime.bigint() - t0) / 1000 / n
  const cpu = process.cpuUsage(cpu0)
  const p1 = performance.now()
  await new Promise((r) => setTimeout(r, 20)) // the observer's entries arrive after the run
  const gc = gcPauses.filter(([start]) => start >= p0 && start < p1).reduce((a, [, ms]) => a + ms, 0)
  gcPauses.length = 0
  return { wall, cpu: (cpu.user + cpu.system) / n, gc: (gc * 1000) / n }
}

const cases = [['direct undici GET', direct], ['plugin callout GET', viaPlugin], ['raw-SDK callout GET', viaRaw], ['raw-SDK, instant reply', viaInstant], ['plugin, no callout', exchangeOnly], ['host transport alone', viaTransport]]
for (const [, fn] of cases) await measure(fn, 1000) // warm-up
const rounds = new Map(cases.map(([name]) => [name, []]))
for (let round = 0; round < 5; round++) for (const [name, fn] of cases) rounds.get(name).push(await measure(fn, N))
const min = (xs) => Math.min(...xs)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
console.log(`HTTP callout cost, ${N} requests per round and case, concurrency ${C}, 5 rounds; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores`)
console.log('case'.padEnd(22), 'wall µs/req min'.padStart(16), 'median'.padStart(8), 'CPU µs/req min'.padStart(15), 'median'.padStart(8), 'GC pause µs/req min'.padStart(20), 'median'.padStart(8))
for (const [name] of cases) {
  const r = rounds.get(name)
  const w = r.map((x) => x.wall)
  const c = r.map((x) => x.cpu)
  const g = r.map((x) => x.gc)
  console.log(name.padEnd(22), min(w).toFixed(1).padStart(16), median(w).toFixed(1).padStart(8), min(c).toFixed(1).padStart(15), median(c).toFixed(1).padStart(8), min(g).toFixed(1).padStart(20), median(g).toFixed(1).padStart(8))
}
const d = rounds.get('direct undici GET')
const e = rounds.get('plugin, no callout')
for (const [which, p] of [['wasm-go plugin', rounds.get('plugin callout GET')], ['raw-SDK plugin', rounds.get('raw-SDK callout GET')]]) for (const [label, key] of [['CPU', 'cpu'], ['wall', 'wall']]) {
  const dm = min(d.map((x) => x[key])), pm = min(p.map((x) => x[key])), em = min(e.map((x) => x[key]))
  const dmed = median(d.map((x) => x[key])), pmed = median(p.map((x) => x[key])), emed = median(e.map((x) => x[key]))
  console.log(`${which}, ${label}: extra µs per callout ${(pm - dm).toFixed(1)} (min) / ${(pmed - dmed).toFixed(1)} (median); ratio plugin/direct ${(pm / dm).toFixed(2)}× (min) / ${(pmed / dmed).toFixed(2)}× (median); ` +
    `callout part (plugin − plugin without callout) vs direct: ${((pm - em) / dm).toFixed(2)}× (min) / ${((pmed - emed) / dmed).toFixed(2)}× (median)`)
}
const ins = rounds.get('raw-SDK, instant reply')
const rawR = rounds.get('raw-SDK callout GET')
const cpuOf = (rs, f) => f(rs.map((x) => x.cpu))
console.log(`raw-SDK split, CPU µs/req min / median: host machinery + guest (instant reply − no callout) ${(cpuOf(ins, min) - cpuOf(e, min)).toFixed(1)} / ${(cpuOf(ins, median) - cpuOf(e, median)).toFixed(1)}; ` +
  `transport inside the plugin run (raw-SDK − instant reply) ${(cpuOf(rawR, min) - cpuOf(ins, min)).toFixed(1)} / ${(cpuOf(rawR, median) - cpuOf(ins, median)).toFixed(1)}, ` +
  `host transport alone ${cpuOf(rounds.get('host transport alone'), min).toFixed(1)} / ${cpuOf(rounds.get('host transport alone'), median).toFixed(1)}, direct ${cpuOf(d, min).toFixed(1)} / ${cpuOf(d, median).toFixed(1)}`)
// Guest time (guest code plus the hostcalls it makes), from the proxy-wasm-host:callback
// diagnostics channel, in a separate untimed pass: subscribing costs time of its own.
const { subscribe, unsubscribe } = await import('node:diagnostics_channel')
const guest = new Map()
const onCallback = (m) => guest.set(m.callback, (guest.get(m.callback) ?? 0) + m.durationMs)
subscribe('proxy-wasm-host:callback', onCallback)
for (const [name, fn] of cases.filter(([n]) => n !== 'direct undici GET' && n !== 'host transport alone')) {
  guest.clear()
  await measure(fn, N)
  const parts = [...guest].map(([k, v]) => [k.replace(/^proxy_on_/, ''), (v * 1000) / N])
  console.log(`guest time, ${name}: ${parts.reduce((a, [, v]) => a + v, 0).toFixed(1)} µs/req (${parts.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')})`)
}
unsubscribe('proxy-wasm-host:callback', onCallback)
await agent.close()
await transport.close()
await instantHost.close()
await host.close()
child.disconnect()
