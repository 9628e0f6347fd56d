// Hostcalls against the floor harness (bench/floor.mjs, a minimal host making the same copies and
// checks with nothing around them), in the same process:
//  - each header hostcall and a filtered log line: fixtures/wat/hostcall-loop.wat makes one call N
//    times per request; cost per call = (request with the call − request with the empty loop) / N,
//    for proxy-wasm-host (through PluginPipeline, as the adapters drive it) and for the floor;
//  - whole modules, per request: the Go SDK http_headers example (fixtures/go/http-headers: 17
//    hostcalls a request) and the Go SDK no-op plugin, proxy-wasm-host against the floor running the
//    same module (the floor has no exchange: this ratio includes all of proxy-wasm-host's machinery).
// Default V8 and --no-allocation-site-pretenuring in child processes; 5 rounds, min and median.
// Usage: npm run bench:hostcalls (builds first). BENCH_MS (length of one measurement, default 250),
// BENCH_CALLS (calls per request for the per-call rows, default 200), BENCH_ROUNDS.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { cpuPer, fixture, iterationsFor, machine, MODES, num, pretenuringCheck, quietLogger, ROUNDS, runChild, stats, table } from './lib.mjs'
import { FloorHost } from './floor.mjs'

const MS = Number(process.env.BENCH_MS ?? 250)
const CALLS = Number(process.env.BENCH_CALLS ?? 200)
const OPS = [
  ['g', 'proxy_get_header_map_value'],
  ['p', 'proxy_get_header_map_pairs'],
  ['a', 'proxy_add_header_map_value'],
  ['r', 'proxy_replace_header_map_value'],
  ['d', 'proxy_remove_header_map_value'],
  ['l', 'proxy_log (filtered out)'],
]
// The default host runs modules with the isolation passes (fuel for the CPU limit, the memory cap,
// docs/isolation.md); "isolation off" runs the module's own bytes, as the floor does.
const MODULES = [
  ['Go http-headers', fixture('go', 'http-headers'), { header: 'x-bench', value: '1' }],
  ['Go http-headers, isolation off', fixture('go', 'http-headers'), { header: 'x-bench', value: '1' }, true],
  ['Go SDK noop', fixture('go', 'noop'), undefined],
  ['Go SDK noop, isolation off', fixture('go', 'noop'), undefined, true],
]
const request = {
  method: 'GET',
  path: '/bench?x=1',
  authority: 'bench.example.com',
  headers: [['user-agent', 'bench/1.0'], ['accept', '*/*'], ['accept-encoding', 'gzip'], ['x-request-id', '7f0c2a']],
}
const requestKv = [':method', 'GET', ':scheme', 'http', ':authority', 'bench.example.com', ':path', '/bench?x=1', 'user-agent', 'bench/1.0', 'accept', '*/*', 'accept-encoding', 'gzip', 'x-request-id', '7f0c2a']
const responseHeaders = [['content-type', 'text/plain'], ['content-length', '5']]
const responseKv = [':status', '200', 'content-type', 'text/plain', 'content-length', '5']

async function child() {
  const { PluginPipeline, WasmPluginHost } = await import('../dist/index.js')
  const host = new WasmPluginHost({ logger: quietLogger })
  const bareHost = new WasmPluginHost({ logger: quietLogger, limits: { callbackTimeoutMs: 0, maxMemoryBytes: 0 } })
  const loopModule = new WebAssembly.Module(readFileSync(fixture('wat', 'hostcall-loop')))
  const cases = [] // [name, ours(), floor()]
  const ours = async (wasm, config, h = host) => {
    const p = new PluginPipeline(h, { plugins: [await h.load({ wasm, config })] })
    return () => {
      const ex = p.exchange(request)
      ex.direct.requestHeaders(true)
      ex.direct.responseHeaders(200, responseHeaders, true)
      ex.done()
    }
  }
  const floor = (module, config) => {
    const f = new FloorHost(module, { config: config === undefined ? '' : typeof config === 'string' ? config : JSON.stringify(config) })
    return () => f.request(requestKv, responseKv)
  }
  for (const op of ['n', ...OPS.map((o) => o[0])]) {
    const config = `${op}${CALLS}`
    cases.push([`loop ${op}`, await ours(fixture('wat', 'hostcall-loop'), config), floor(loopModule, config)])
  }
  for (const [name, wasm, config, off] of MODULES) cases.push([name, await ours(wasm, config, off ? bareHost : host), floor(new WebAssembly.Module(readFileSync(wasm)), config)])
  // Each measurement runs about MS milliseconds (the kernel's CPU time moves in ticks).
  // A long warm-up first: V8 tiers wasm functions up to its optimizing compiler in the background.
  const counts = cases.map(([, a, b]) => {
    cpuPer(iterationsFor(a, 600), a)
    cpuPer(iterationsFor(b, 600), b)
    return [iterationsFor(a, MS), iterationsFor(b, MS)]
  })
  const out = {}
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < cases.length; i++) {
      const [name, a, b] = cases[i]
      // No forced collection here: what a forced one leaves to sweep lands on the next measurement
      // in proportion to what it allocates, i.e. on proxy-wasm-host and not on the floor.
      ;(out[`${name}|ours`] ??= []).push(cpuPer(counts[i][0], a))
      ;(out[`${name}|floor`] ??= []).push(cpuPer(counts[i][1], b))
    }
  }
  await host.close()
  await bareHost.close()
  console.log(JSON.stringify(out))
}

async function main() {
  console.log(`hostcalls vs the floor harness: ${CALLS} calls per request for the per-call rows, ${MS} ms per measurement, ${ROUNDS} rounds; ${machine()}`)
  const script = fileURLToPath(import.meta.url)
  const res = {}
  for (const m of MODES) res[m.name] = await runChild(script, ['--child'], m.flags)
  const perCall = (mode, op, who, pick) => {
    const a = res[mode][`loop ${op}|${who}`]
    const b = res[mode][`loop n|${who}`]
    // per round, then min / median over rounds
    return stats(a.map((x, i) => ((x - b[i]) * 1000) / CALLS))[pick]
  }
  for (const m of MODES) {
    console.log(`\n${m.name}: ns per hostcall (per request with the call minus with the empty loop, / ${CALLS})`)
    const rows = []
    for (const [op, name] of OPS) {
      const o = perCall(m.name, op, 'ours', 'median')
      const f = perCall(m.name, op, 'floor', 'median')
      rows.push([name, num(perCall(m.name, op, 'ours', 'min'), 1), num(o, 1), num(perCall(m.name, op, 'floor', 'min'), 1), num(f, 1), num(o / f)])
    }
    table([['hostcall', 32, 'l'], ['ours min', 9], ['ours med', 9], ['floor min', 10], ['floor med', 10], ['ratio', 7]], rows)
    console.log(`\n${m.name}: µs per request, whole module (the floor has no exchange around it)`)
    const rows2 = []
    for (const [name] of MODULES) {
      const o = stats(res[m.name][`${name}|ours`])
      const f = stats(res[m.name][`${name}|floor`])
      rows2.push([name, num(o.min), num(o.median), num(f.min), num(f.median), num(o.median / f.median)])
    }
    table([['module', 32, 'l'], ['ours min', 9], ['ours med', 9], ['floor min', 10], ['floor med', 10], ['ratio', 7]], rows2)
  }
  console.log('\ndefault vs no-pretenuring (median, ours): ("!" past 1.10)')
  const rows3 = []
  for (const [op, name] of OPS) {
    const d = perCall('default', op, 'ours', 'median')
    const o = perCall('no-pretenuring', op, 'ours', 'median')
    const c = pretenuringCheck(d, o)
    rows3.push([name, num(d, 1), num(o, 1), `${num(c.ratio, 2, 6)}${c.ok ? '' : ' !'}`])
  }
  for (const [name] of MODULES) {
    const d = stats(res.default[`${name}|ours`]).median
    const o = stats(res['no-pretenuring'][`${name}|ours`]).median
    const c = pretenuringCheck(d, o)
    rows3.push([name, num(d), num(o), `${num(c.ratio, 2, 6)}${c.ok ? '' : ' !'}`])
  }
  table([['row', 32, 'l'], ['default', 9], ['no-pret', 9], ['def/np', 8]], rows3)
  console.log(`\nafter: ${machine()}`)
}

if (process.argv.includes('--child')) await child()
else await main()
