// HTTP server CPU per request and requests per second, for node:http, Fastify, Express and Koa:
// the bare server against the same server with the adapter (empty pipeline, one WAT plugin doing
// nothing, one Go SDK plugin doing nothing, one wasm-go plugin rewriting a header, the Go
// http_headers example), all measured in the same run. Each server runs in its own child process
// (default V8, and again with --no-allocation-site-pretenuring); the load generator (autocannon)
// runs here. Rounds interleave every case; ratios are per round against the bare server of the same
// round, and min / median are over the rounds.
// Usage: npm run bench:http (builds first). BENCH_SECONDS (per measurement, default 3),
// BENCH_CONNECTIONS (default 32), BENCH_ROUNDS (default 5), BENCH_FRAMEWORKS (comma list),
// BENCH_VARIANTS (comma list), BENCH_MODES (default,no-pretenuring).
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { machine, MODES, num, pretenuringCheck, ROUNDS, stats, table } from './lib.mjs'
import { VARIANTS } from './http-server.mjs'

const seconds = Number(process.env.BENCH_SECONDS ?? 3)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32)
const frameworks = (process.env.BENCH_FRAMEWORKS ?? 'node,fastify,express,koa').split(',')
const variants = (process.env.BENCH_VARIANTS ?? Object.keys(VARIANTS).join(',')).split(',')
const modes = MODES.filter((m) => (process.env.BENCH_MODES ?? 'default,no-pretenuring').split(',').includes(m.name))
const serverScript = fileURLToPath(new URL('./http-server.mjs', import.meta.url))

async function start(framework, variant, flags) {
  const child = spawn(process.execPath, [...flags, serverScript, framework, variant], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())))
    child.once('exit', (code) => reject(new Error(`server ${framework} ${variant} exited with ${code}`)))
  })
  return { child, port }
}

async function load(port, duration) {
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration, pipelining: 1 })
  if (r.non2xx || r.errors) throw new Error(`${r.non2xx} non-2xx, ${r.errors} errors`)
  return r.requests.average
}

/** One measurement: warm-up, then `seconds` of load; the server's CPU µs per request and req/s. */
async function measure(framework, variant, flags) {
  const { child, port } = await start(framework, variant, flags)
  try {
    await load(port, 1)
    child.send('mark')
    const rps = await load(port, seconds)
    const report = new Promise((resolve) => child.once('message', (m) => resolve(m.cpuPerRequest)))
    child.send('report')
    return { rps, cpu: await report }
  } finally {
    child.kill()
  }
}

console.log(`autocannon: ${connections} connections, ${seconds} s per measurement after 1 s of warm-up, ${ROUNDS} rounds; ${machine()}`)
// results[mode][fw][variant] = { cpu: [], rps: [], cpuRatio: [], rpsRatio: [] }
const results = {}
for (let round = 0; round < ROUNDS; round++) {
  for (const m of modes) {
    for (const fw of frameworks) {
      let base
      for (const v of ['bare', ...variants.filter((x) => x !== 'bare')]) {
        const r = await measure(fw, v, m.flags)
        base ??= r
        const cell = (((results[m.name] ??= {})[fw] ??= {})[v] ??= { cpu: [], rps: [], cpuRatio: [], rpsRatio: [] })
        cell.cpu.push(r.cpu)
        cell.rps.push(r.rps)
        cell.cpuRatio.push(base.cpu / r.cpu)
        cell.rpsRatio.push(r.rps / base.rps)
      }
    }
  }
  console.log(`round ${round + 1}/${ROUNDS} done; ${machine()}`)
}

for (const m of modes) {
  console.log(`\n${m.name}${m.flags.length ? ` (${m.flags.join(' ')})` : ''}: server CPU µs per request and the ratio bare/this (higher is better, 1.00 = free); req/s and the ratio this/bare`)
  const rows = []
  for (const fw of frameworks) {
    for (const v of ['bare', ...variants.filter((x) => x !== 'bare')]) {
      const c = results[m.name][fw][v]
      const cpu = stats(c.cpu)
      const cr = stats(c.cpuRatio)
      const rps = stats(c.rps)
      const rr = stats(c.rpsRatio)
      rows.push([fw, v, num(cpu.min, 1), num(cpu.median, 1), num(cr.min), num(cr.median), num(rps.median, 0, 9), num(rr.min), num(rr.median)])
    }
  }
  table([['server', 8, 'l'], ['variant', 16, 'l'], ['cpu min', 8], ['cpu med', 8], ['ratio min', 10], ['ratio med', 10], ['req/s med', 10], ['rps r min', 10], ['rps r med', 10]], rows)
}
if (modes.length === 2) {
  console.log('\ndefault vs no-pretenuring: median server CPU per request, default / no-pretenuring ("!" past 1.10)')
  const rows = []
  for (const fw of frameworks) {
    for (const v of ['bare', ...variants.filter((x) => x !== 'bare')]) {
      const d = stats(results.default[fw][v].cpu).median
      const o = stats(results['no-pretenuring'][fw][v].cpu).median
      const chk = pretenuringCheck(d, o)
      rows.push([fw, v, num(d, 1), num(o, 1), `${num(chk.ratio, 2, 6)}${chk.ok ? '' : ' !'}`])
    }
  }
  table([['server', 8, 'l'], ['variant', 16, 'l'], ['default', 8], ['no-pret', 8], ['def/np', 8]], rows)
}
console.log(`\nafter: ${machine()}`)
