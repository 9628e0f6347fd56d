// The HTTP benchmark without sockets: each server (node:http, Fastify, Express, Koa; bare and with
// the adapter variants of bench/http-server.mjs) gets its requests from an in-process fake socket
// (a Duplex fed the bytes of keep-alive GET requests, one at a time), so that the figure is the
// server's own CPU per request, with no kernel and no load generator competing for the cores.
// Each (server, variant) runs in a child process of its own, default V8 and again with
// --no-allocation-site-pretenuring; rounds interleave the cases; ratios are per round against the
// bare server of the same round.
// Usage: npm run bench:http-fake (builds first). BENCH_N (requests per measurement, default
// 30000), BENCH_ROUNDS (5), BENCH_FRAMEWORKS, BENCH_VARIANTS, BENCH_MODES.
import { Duplex } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { fullGc, machine, MODES, num, pretenuringCheck, ROUNDS, runChild, stats, table } from './lib.mjs'
import { createBenchServer, VARIANTS } from './http-server.mjs'

const N = Number(process.env.BENCH_N ?? 30000)
const frameworks = (process.env.BENCH_FRAMEWORKS ?? 'node,fastify,express,koa').split(',')
const variants = ['bare', ...(process.env.BENCH_VARIANTS ?? Object.keys(VARIANTS).join(',')).split(',').filter((v) => v !== 'bare')]
const modes = MODES.filter((m) => (process.env.BENCH_MODES ?? 'default,no-pretenuring').split(',').includes(m.name))
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n')

/** A socket the server reads requests from and writes responses to; `next()` resolves on a complete response. */
class FakeSocket extends Duplex {
  remoteAddress = '127.0.0.1'
  remotePort = 40000
  localAddress = '127.0.0.1'
  localPort = 8080
  #done = undefined
  _read() {}
  #took(chunk) {
    // Every response ends with its body, "hello".
    const n = chunk.length
    if (n >= 5 && chunk[n - 1] === 111 && chunk[n - 5] === 104 && this.#done) {
      const d = this.#done
      this.#done = undefined
      d()
    }
  }
  _write(chunk, _enc, cb) {
    this.#took(chunk)
    cb()
  }
  _writev(chunks, cb) {
    for (const c of chunks) this.#took(c.chunk)
    cb()
  }
  setTimeout() {
    return this
  }
  setNoDelay() {
    return this
  }
  setKeepAlive() {
    return this
  }
  next() {
    return new Promise((resolve) => {
      this.#done = resolve
      this.push(REQUEST)
    })
  }
}

async function child(framework, variant) {
  const server = await createBenchServer(framework, variant)
  const sock = new FakeSocket()
  server.emit('connection', sock)
  for (let i = 0; i < 10000; i++) await sock.next()
  await fullGc()
  const c0 = process.cpuUsage()
  for (let i = 0; i < N; i++) await sock.next()
  const c = process.cpuUsage(c0)
  console.log(JSON.stringify({ cpu: (c.user + c.system) / N }))
  process.exit(0)
}

async function main() {
  console.log(`fake socket: ${N} keep-alive GET requests per measurement, one at a time, ${ROUNDS} rounds; ${machine()}`)
  const script = fileURLToPath(import.meta.url)
  const res = {}
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of modes) {
      for (const fw of frameworks) {
        let base
        for (const v of variants) {
          const { cpu } = await runChild(script, ['--child', fw, v], m.flags)
          base ??= cpu
          const cell = (((res[m.name] ??= {})[fw] ??= {})[v] ??= { cpu: [], ratio: [] })
          cell.cpu.push(cpu)
          cell.ratio.push(base / cpu)
        }
      }
    }
  }
  for (const m of modes) {
    console.log(`\n${m.name}: server CPU µs per request, and bare/this (1.00 = free)`)
    const rows = []
    for (const fw of frameworks) {
      for (const v of variants) {
        const c = res[m.name][fw][v]
        const cpu = stats(c.cpu)
        const ratio = stats(c.ratio)
        rows.push([fw, v, num(cpu.min), num(cpu.median), num(ratio.min), num(ratio.median)])
      }
    }
    table([['server', 8, 'l'], ['variant', 16, 'l'], ['cpu min', 8], ['cpu med', 8], ['ratio min', 10], ['ratio med', 10]], rows)
  }
  if (modes.length === 2) {
    console.log('\ndefault vs no-pretenuring: median CPU per request, default / no-pretenuring ("!" past 1.10)')
    const rows = []
    for (const fw of frameworks) {
      for (const v of variants) {
        const d = stats(res.default[fw][v].cpu).median
        const o = stats(res['no-pretenuring'][fw][v].cpu).median
        const chk = pretenuringCheck(d, o)
        rows.push([fw, v, num(d), num(o), `${num(chk.ratio, 2, 6)}${chk.ok ? '' : ' !'}`])
      }
    }
    table([['server', 8, 'l'], ['variant', 16, 'l'], ['default', 8], ['no-pret', 8], ['def/np', 8]], rows)
  }
  console.log(`\nafter: ${machine()}`)
}

const i = process.argv.indexOf('--child')
if (i >= 0) await child(process.argv[i + 1], process.argv[i + 2])
else await main()
