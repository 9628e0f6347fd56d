// The plugin chain alone (no HTTP): CPU µs per request through PluginPipeline / Exchange, driven
// the way the adapters drive it (the synchronous `direct` phases), against an exchange with no
// plugin in the same process. The fixed cost per plugin is measured with fixtures/wat/noop.wat (it
// exports every HTTP callback and does nothing) as the slope over 1, 2, 4 and 8 copies.
// Usage: npm run bench:exchange (builds first). BENCH_N (requests per measurement, default 100000),
// BENCH_ROUNDS (default 5).
import { fileURLToPath } from 'node:url'
import { cpuPer, fixture, fullGc, iterationsFor, machine, MODES, num, pretenuringCheck, quietLogger, ROUNDS, runChild, stats, table } from './lib.mjs'

const N = Number(process.env.BENCH_N ?? 100000)
const request = {
  method: 'GET',
  path: '/bench?x=1',
  authority: 'bench.example.com',
  headers: [['host', 'bench.example.com'], ['user-agent', 'bench'], ['accept', '*/*']],
  remoteAddress: '127.0.0.1',
  remotePort: 40000,
}
const responseHeaders = [['content-type', 'text/plain'], ['content-length', '5']]
const body = Buffer.from('hello')

const noop = { wasm: fixture('wat', 'noop') }
const cases = [
  ['no plugin', []],
  ['1 × WAT noop', [noop]],
  ['2 × WAT noop', [noop, noop]],
  ['4 × WAT noop', [noop, noop, noop, noop]],
  ['8 × WAT noop', Array(8).fill(noop)],
  ['1 × Go SDK noop', [{ wasm: fixture('go', 'noop') }]],
  ['1 × Go wasm-go minimal', [{ wasm: fixture('go', 'minimal'), config: { enabled: true } }]],
  ['1 × Go http-headers', [{ wasm: fixture('go', 'http-headers'), config: { header: 'x-bench', value: '1' } }]],
  ['1 × AssemblyScript add-header', [{ wasm: fixture('as', 'add-header') }]],
  ['3 × Go wasm-go minimal', Array(3).fill({ wasm: fixture('go', 'minimal'), config: { enabled: true } })],
]

async function child() {
  const { PluginPipeline, WasmPluginHost } = await import('../dist/index.js')
  const host = new WasmPluginHost({ logger: quietLogger })
  const pipelines = []
  for (const [name, specs] of cases) {
    const plugins = []
    for (const s of specs) plugins.push(await host.load(s))
    pipelines.push([name, new PluginPipeline(host, { plugins })])
  }
  const one = (p) => {
    const ex = p.exchange(request)
    ex.direct.requestHeaders(true)
    ex.direct.responseHeaders(200, responseHeaders, false)
    ex.direct.responseBody(body, true)
    ex.done()
  }
  const out = {}
  // A long warm-up first: V8 tiers wasm functions up to its optimizing compiler in the background.
  for (const [, p] of pipelines) cpuPer(iterationsFor(() => one(p), 600), () => one(p))
  // Rounds interleave the cases (drift hits each alike); each measurement starts after a full GC.
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, p] of pipelines) {
      await fullGc()
      ;(out[name] ??= []).push(cpuPer(N, () => one(p)))
    }
  }
  host.close()
  console.log(JSON.stringify(out))
}

async function main() {
  console.log(`exchange: request headers (eos) + response headers + body (eos) + done; ${N} requests per measurement, ${ROUNDS} rounds; ${machine()}`)
  const script = fileURLToPath(import.meta.url)
  const results = {}
  for (const m of MODES) results[m.name] = await runChild(script, ['--child'], m.flags)
  const s = (mode, name) => stats(results[mode][name])
  const base = { d: s('default', 'no plugin').median, o: s('no-pretenuring', 'no plugin').median }
  const rows = []
  for (const [name] of cases) {
    const d = s('default', name)
    const o = s('no-pretenuring', name)
    const chk = pretenuringCheck(d.median, o.median)
    rows.push([name, num(d.min), num(d.median), num(d.median - base.d), num(d.median / base.d), num(o.min), num(o.median), num(o.median - base.o), `${num(chk.ratio, 2, 5)}${chk.ok ? '' : ' !'}`])
  }
  table(
    [['case', 30, 'l'], ['min µs', 8], ['median', 8], ['extra', 8], ['ratio', 8], ['np min', 8], ['np med', 8], ['np extra', 8], ['def/np', 8]],
    rows,
  )
  const slope = (mode) => {
    const b = s(mode, 'no plugin').median
    return { one: s(mode, '1 × WAT noop').median - b, slope: (s(mode, '8 × WAT noop').median - b) / 8 }
  }
  for (const m of MODES) {
    const f = slope(m.name)
    console.log(`fixed cost per plugin (${m.name}): first plugin ${f.one.toFixed(3)} µs, slope over 8 plugins ${f.slope.toFixed(3)} µs`)
  }
  console.log('np = --no-allocation-site-pretenuring (child process); def/np = median ratio, "!" past 1.10; extra = median − no-plugin median')
  console.log(`after: ${machine()}`)
}

if (process.argv.includes('--child')) await child()
else await main()
