// Profiling helper for bench/callout.mjs: one case on its own, for `node --cpu-prof`, `--trace-gc`
// or a sampling heap profile. Usage: npm run build && BENCH_CASE=raw node --cpu-prof bench/callout-profile.mjs
// BENCH_CASE:
//   direct     the GET with agent.request(), as the bench's baseline
//   transport  the host's transport alone (createHttpDispatcher over Upstreams), no plugin
//   plugin     wasm-go "callout" fixture; raw: the raw-SDK "callout-raw" fixture; none: no callout
//   instant    raw-SDK fixture, a transport that answers at once (no socket)
//   later      the same answer one event-loop turn later (setImmediate), still no socket
//   minimal    raw-SDK fixture over a bare undici dispatch() (the least a transport can do)
//   ours       raw-SDK fixture over the host's transport given as httpDispatcher
//   outside    the same, started a microtask after the hostcall returned
// BENCH_N requests (default 20000) after 2000 of warm-up, BENCH_C concurrency (16), BENCH_TIMEOUT
// the raw-SDK callout timeout in ms (5000). BENCH_SPLIT=1 sums the guest time per callback from
// the proxy-wasm-host:callback channel. BENCH_HEAP=<file> writes a sampling heap profile of every
// allocation (collected ones included), BENCH_PROMOTED=1 only of those that outlived a scavenge.
import { fileURLToPath } from 'node:url'
import { subscribe } from 'node:diagnostics_channel'
import { Agent } from 'undici'
import { PluginPipeline, WasmPluginHost } from '../dist/index.js'
import { startTokenServer } from './callout-server.mjs'

const { origin, child } = await startTokenServer()
const N = Number(process.env.BENCH_N ?? 20000)
const C = Number(process.env.BENCH_C ?? 16)
const which = process.env.BENCH_CASE ?? 'raw'
const agent = new Agent({ connect: { timeout: 5000 } })
const host = new WasmPluginHost({ upstreams: { 'outbound|80||tok.static': origin }, logger: { level: 'warn', log() {} } })
const wasm = (n) => fileURLToPath(new URL(`../fixtures/build/go/${n}.wasm`, import.meta.url))
const request = { method: 'GET', path: '/x', authority: 'bench.example.com', headers: { 'user-agent': 'bench' } }
const cfg = {
  plugin: ['callout', { cluster: 'outbound|80||tok.static', timeout: 5000 }],
  raw: ['callout-raw', { cluster: 'outbound|80||tok.static', headers: [[':method', 'GET'], [':path', '/token'], [':authority', 'callout'], ['x-caller', 'callout']], timeout: Number(process.env.BENCH_TIMEOUT ?? 5000) }],
  none: ['callout', { cluster: 'outbound|80||tok.static', mode: 'none' }],
}
let fn
if (which === 'direct') {
  fn = async () => {
    const res = await agent.request({ origin, path: '/token', method: 'GET', headers: ['x-caller', 'callout', 'host', 'callout'], headersTimeout: 0, bodyTimeout: 0 })
    for await (const _ of res.body);
  }
} else if (which === 'transport') {
  // The host's transport alone: createHttpDispatcher over Upstreams, no plugin.
  const { Upstreams, createHttpDispatcher } = await import('../dist/upstream/index.js')
  const d = createHttpDispatcher(new Upstreams({ upstreams: { 'outbound|80||tok.static': origin } }))
  const headers = [[':method', 'GET'], [':path', '/token'], [':authority', 'callout'], ['x-caller', 'callout']]
  const empty = Buffer.alloc(0)
  fn = async () => {
    const r = await d.dispatch({ upstream: 'outbound|80||tok.static', headers, body: empty, trailers: [], timeoutMs: 5000, maxResponseBytes: 1 << 20, plugin: 'b', token: 4, whenAborted() {}, get signal() { return new AbortController().signal } })
    if (r.kind !== 'response') throw new Error(r.kind)
  }
} else {
  // instant: a transport that answers at once (no socket, no undici).
  const answer = { kind: 'response', headers: [[':status', '200'], ['x-token', 'tok'], ['content-type', 'text/plain'], ['content-length', '2']], body: Buffer.from('ok'), trailers: [] }
  // later: the same answer one event-loop turn later (setImmediate), still no socket.
  // minimal / outside: the real GET with a minimal undici handler, inside the hostcall or a microtask later.
  const { Upstreams, createHttpDispatcher } = await import('../dist/upstream/index.js')
  const ours = createHttpDispatcher(new Upstreams({ upstreams: { 'outbound|80||tok.static': origin } }))
  const minimal = () => new Promise((resolve) => {
    const chunks = []
    let out
    agent.dispatch({ origin, path: '/token', method: 'GET', headers: ['x-caller', 'callout', 'host', 'callout'], body: null, headersTimeout: 0, bodyTimeout: 0 }, {
      onConnect() {},
      onHeaders(status, raw) { out = [[':status', String(status)]]; for (let i = 0; i < raw.length; i += 2) out.push([raw[i].toString('latin1').toLowerCase(), raw[i + 1].toString('latin1')]); return true },
      onData(d) { chunks.push(d); return true },
      onComplete() { resolve({ kind: 'response', headers: out, body: Buffer.concat(chunks), trailers: [] }) },
      onError(e) { resolve({ kind: 'reset', reason: e.message }) },
    })
  })
  const variants = { minimal, outside: (call) => Promise.resolve().then(() => ours.dispatch(call)), ours: (call) => ours.dispatch(call) }
  const [name, config] = cfg[cfg[which] ? which : 'raw']
  const dispatch = variants[which] ?? (which === 'later' ? () => new Promise((r) => setImmediate(r, answer)) : () => Promise.resolve(answer))
  const h = which === 'instant' || which === 'later' || variants[which] ? new WasmPluginHost({ httpDispatcher: { dispatch }, logger: { level: 'warn', log() {} } }) : host
  const pipeline = new PluginPipeline(h, { plugins: [await h.load({ wasm: wasm(name), config })] })
  fn = async () => {
    const ex = pipeline.exchange(request)
    const r = await ex.requestHeaders(true)
    if (r.action !== 'continue') throw new Error(`bad answer ${r.action}`)
    await ex.responseHeaders(200, { 'content-length': '0' }, true)
    ex.done()
  }
}
const guest = new Map()
if (process.env.BENCH_SPLIT) subscribe('proxy-wasm-host:callback', (m) => guest.set(m.callback, (guest.get(m.callback) ?? 0) + m.durationMs))
const run = async (n) => {
  let next = 0
  await Promise.all(Array.from({ length: C }, async () => { while (next++ < n) await fn() }))
}
await run(2000)
guest.clear()
// BENCH_HEAP=file: a sampling heap profile of every allocation (collected ones included).
let session
if (process.env.BENCH_HEAP) {
  const { Session } = await import('node:inspector/promises')
  session = new Session()
  session.connect()
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !process.env.BENCH_PROMOTED })
}
const cpu0 = process.cpuUsage()
await run(N)
const cpu = process.cpuUsage(cpu0)
if (session) {
  const { profile } = await session.post('HeapProfiler.stopSampling')
  ;(await import('node:fs')).writeFileSync(process.env.BENCH_HEAP, JSON.stringify(profile))
}
console.log(`${which}: CPU µs/req ${((cpu.user + cpu.system) / N).toFixed(1)} (user ${(cpu.user / N).toFixed(1)}, system ${(cpu.system / N).toFixed(1)})`)
let total = 0
for (const [k, v] of guest) { total += v; console.log(`  guest ${k}: ${(v * 1000 / N).toFixed(1)} µs/req`) }
if (guest.size) console.log(`  guest total ${(total * 1000 / N).toFixed(1)} µs/req`)
await agent.close()
await host.close()
child.disconnect()
