// Throughput of bare node:http, Fastify, Express and Koa, each alone and with 1 and 3 header-only
// AssemblyScript plugins, measured with autocannon in the same run; prints req/s and the ratio to
// the same framework without plugins. Servers run in a child process, the load generator here.
// Usage: npm run bench (builds first). BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 50),
// BENCH_NO_PRETENURING=1 (docs/performance.md).
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'

const seconds = Number(process.env.BENCH_SECONDS ?? 5)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50)
const serverScript = fileURLToPath(new URL('./http-server.mjs', import.meta.url))

async function start(framework, plugins, kind) {
  const child = spawn(process.execPath, [serverScript, framework, String(plugins), kind], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())))
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
  })
  return { child, port }
}

/** The server's CPU time per request (µs) over `run()`. */
async function cpuPerRequest(child, run) {
  child.send('mark')
  const r = await run()
  const report = new Promise((resolve) => child.once('message', (m) => resolve(m.cpuPerRequest)))
  child.send('report')
  return { result: r, cpu: await report }
}

async function load(port, duration) {
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration, pipelining: 1 })
  if (r.non2xx || r.errors) throw new Error(`${r.non2xx} non-2xx, ${r.errors} errors`)
  return r.requests.average
}

const frameworks = ['node', 'fastify', 'express', 'koa']
// [plugins, kind]: 'adapter' is the adapter with an empty pipeline (its own cost, no plugin).
const variants = [[0, 'as'], [0, 'adapter'], [1, 'as'], [3, 'as'], [1, 'go']]
const mode = process.env.BENCH_NO_PRETENURING ? ', V8 pretenuring off' : ''
console.log(`autocannon: ${connections} connections, ${seconds} s per case, 1 s warm-up${mode}`)
console.log('ratio: req/s against the same server without plugins; cpu: server CPU µs per request, and the same ratio from it')
console.log('server'.padEnd(10), 'plugins'.padEnd(12), 'req/s'.padStart(9), 'ratio'.padStart(7), 'cpu µs'.padStart(8), 'cpu ratio'.padStart(10))
for (const fw of frameworks) {
  let base
  for (const [n, kind] of variants) {
    const { child, port } = await start(fw, n, kind)
    try {
      await load(port, 1)
      const { result: rps, cpu } = await cpuPerRequest(child, () => load(port, seconds))
      base ??= { rps, cpu }
      const label = kind === 'adapter' ? 'adapter only' : n === 0 ? 'none' : `${n} × ${kind === 'as' ? 'AS' : 'Go'}`
      console.log(
        fw.padEnd(10),
        label.padEnd(12),
        rps.toFixed(0).padStart(9),
        (rps / base.rps).toFixed(2).padStart(7),
        cpu.toFixed(1).padStart(8),
        (base.cpu / cpu).toFixed(2).padStart(10),
      )
    } finally {
      child.kill()
    }
  }
}
