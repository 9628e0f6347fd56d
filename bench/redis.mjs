// Redis through plugins, measured against the same work from JavaScript in the same run:
//   1. a Redis INCR sent by a plugin (redis-raw fixture: proxy_redis_call, reply in buffer 9, local
//      response) vs `await redis.incr()` through ioredis;
//   2. a shared-data get + set (shared-data fixture, one CAS increment) with the in-memory store vs
//      the Redis-backed store (worker thread + Atomics.wait);
//   3. (ADR 0001) ways to make a synchronous Redis call: worker + Atomics.wait vs spawning
//      redis-cli, and a CAS write as one Lua script vs WATCH/MULTI/EXEC.
// Starts its own redis-server on a free port. Usage: npm run build && node scripts/build-fixtures.mjs
// && node bench/redis.mjs   (BENCH_N, default 2000 operations per round; 5 rounds; min and median).
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir, loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { PluginPipeline, WasmPluginHost, createRedisSharedState } from '../dist/index.js'

const N = Number(process.env.BENCH_N ?? 2000)
const ROUNDS = 5
const fx = (name) => fileURLToPath(new URL(`../fixtures/build/go/${name}.wasm`, import.meta.url))

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port
    s.close(() => resolve(p))
  })
})
const dir = mkdtempSync(join(tmpdir(), 'pwh-bench-redis-'))
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
server.on('error', () => {
  console.error('redis-server is required: apt-get update && apt-get install -y redis-server')
  process.exit(1)
})
const url = `redis://127.0.0.1:${port}`
const js = new Redis({ port, protocol: 2 })
for (let i = 0; ; i++) {
  try {
    await js.ping()
    break
  } catch (err) {
    if (i > 100) throw err
    await new Promise((r) => setTimeout(r, 50))
  }
}

const quiet = { level: 'error', log() {} }
const request = (headers) => ({ method: 'GET', path: '/', authority: 'bench.example.com', headers })
async function exchange(pipeline, req) {
  const ex = pipeline.exchange(req)
  const r = await ex.requestHeaders(true)
  ex.done()
  if (r.localResponse?.status !== 200) throw new Error(`unexpected ${r.localResponse?.status} ${r.localResponse?.body}`)
}

// --- cases -----------------------------------------------------------------------------------
const redisHost = new WasmPluginHost({ logger: quiet, redis: { clusters: { bench: url } } })
const incrPlugin = new PluginPipeline(redisHost, { plugins: [await redisHost.load({ wasm: fx('redis-raw'), config: { cluster: 'bench', timeout: 1000 } })] })
const incrReq = request({ 'x-query': Buffer.from('*2\r\n$4\r\nINCR\r\n$5\r\nbench\r\n').toString('base64') })

const memHost = new WasmPluginHost({ logger: quiet })
const memPlugin = new PluginPipeline(memHost, { plugins: [await memHost.load({ wasm: fx('shared-data') })] })
const state = createRedisSharedState({ redis: url, keyPrefix: 'bench' })
const redisStateHost = new WasmPluginHost({ logger: quiet, sharedData: state.sharedData, sharedQueues: state.sharedQueues })
const redisStatePlugin = new PluginPipeline(redisStateHost, { plugins: [await redisStateHost.load({ wasm: fx('shared-data') })] })
const casReq = request({ 'x-op': 'incr', 'x-key': 'n' })

js.defineCommand('casSet', {
  numberOfKeys: 2,
  lua: "local w = tonumber(ARGV[2]) if w ~= 0 then local c = redis.call('HGET', KEYS[1], 'c') if c and tonumber(c) ~= w then return 0 end end local c = redis.call('INCR', KEYS[2]) redis.call('HSET', KEYS[1], 'v', ARGV[1], 'c', c) return c",
})
const watcher = new Redis({ port, protocol: 2 })

const cases = [
  ['INCR from JS (ioredis, async)', 'incr', async () => void (await js.incr('bench-js'))],
  ['INCR through a plugin (proxy_redis_call)', 'incr', () => exchange(incrPlugin, incrReq)],
  ['shared-data get+set, memory store', 'cas', () => exchange(memPlugin, casReq)],
  ['shared-data get+set, Redis store', 'cas', () => exchange(redisStatePlugin, casReq)],
  ['sync call: worker + Atomics.wait', 'sync', () => void state.sharedData.get('', 'n')],
  ['sync call: spawnSync redis-cli', 'sync', () => void spawnSync('redis-cli', ['-p', String(port), 'HGET', 'x', 'v'])],
  ['CAS write: one Lua script (async)', 'lua', async () => {
    const [, c] = await js.hmget('cas-lua', 'v', 'c')
    await js.casSet('cas-lua', 'cas-counter', '1', c ?? 0)
  }],
  ['CAS write: WATCH/MULTI/EXEC (async)', 'lua', async () => {
    await watcher.watch('cas-watch')
    await watcher.hmget('cas-watch', 'v', 'c')
    await watcher.multi().incr('cas-counter2').hset('cas-watch', 'v', '1').exec()
  }],
]

// --- measure ---------------------------------------------------------------------------------
const results = new Map(cases.map(([name]) => [name, { us: [], cpu: [] }]))
for (const [name, , fn] of cases) for (let i = 0; i < 50; i++) await fn() // warm up
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, , fn] of cases) {
    // spawnSync is ~1000× slower: fewer operations, same rounds.
    const n = name.includes('redis-cli') ? Math.max(20, N / 100) : N
    const cpu0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) await fn()
    const us = Number(process.hrtime.bigint() - t0) / 1000 / n
    const c = process.cpuUsage(cpu0)
    results.get(name).us.push(us)
    results.get(name).cpu.push((c.user + c.system) / n)
  }
}
const min = (a) => Math.min(...a)
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
const baseline = { incr: 'INCR from JS (ioredis, async)', cas: 'shared-data get+set, memory store', sync: 'sync call: worker + Atomics.wait', lua: 'CAS write: one Lua script (async)' }
console.log(`Redis benchmark: ${N} operations per round, ${ROUNDS} rounds; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${(await import('node:os')).cpus().length} cores`)
console.log('case'.padEnd(44), 'min µs'.padStart(9), 'median µs'.padStart(10), 'CPU µs/op'.padStart(10), 'ratio'.padStart(7))
let group
for (const [name, g] of cases) {
  if (g !== group) {
    group = g
    console.log(`-- baseline: ${baseline[g]}`)
  }
  const r = results.get(name)
  const base = results.get(baseline[g])
  console.log(name.padEnd(44), min(r.us).toFixed(1).padStart(9), median(r.us).toFixed(1).padStart(10), median(r.cpu).toFixed(1).padStart(10), `${(median(r.us) / median(base.us)).toFixed(2)}×`.padStart(7))
}

redisHost.close()
memHost.close()
redisStateHost.close()
state.close()
js.disconnect()
watcher.disconnect()
server.kill('SIGTERM')
await new Promise((r) => server.once('exit', r))
rmSync(dir, { recursive: true, force: true })
