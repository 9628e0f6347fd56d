// Cost of one test with the test kit: createPluginTester + one request + close, for a Go plugin,
// with the kit's per-process compile cache (each binary compiled once) against the same with a
// compile per tester (a different binary each time: the module plus a custom section, so that
// nothing is cached), measured in the same run. Prints ms per test (wall and process CPU), min and
// median of 5 rounds, and the ratio. Usage: npm run build && node scripts/build-fixtures.mjs &&
// node bench/testing.mjs  (BENCH_N tests per round, default 20).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createPluginTester } from '../dist/testing/index.js'

const N = Number(process.env.BENCH_N ?? 20)
const ROUNDS = 5
const wasm = readFileSync(fileURLToPath(new URL('../fixtures/build/go/hello-mock.wasm', import.meta.url)))
let serial = 0

/** The module with a custom section appended: valid, same behaviour, a different SHA-256. */
function fresh() {
  const name = Buffer.from('bench')
  const payload = Buffer.alloc(8)
  payload.writeDoubleLE(++serial)
  const body = Buffer.concat([Buffer.from([name.length]), name, payload])
  return Buffer.concat([wasm, Buffer.from([0, body.length]), body])
}

async function oneTest(bytes) {
  const t = await createPluginTester(bytes, { config: { mockEnable: true } })
  const r = await t.request({ path: '/', headers: { host: 'a.com' } })
  if (r.localResponse?.status !== 200) throw new Error('unexpected answer')
  t.close()
}

async function round(make) {
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) await oneTest(make())
  const wall = Number(process.hrtime.bigint() - t0) / 1e6 / N
  const c = process.cpuUsage(cpu0)
  return { wall, cpu: (c.user + c.system) / 1000 / N }
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return { min: s[0], median: s[Math.floor(s.length / 2)] }
}

await oneTest(wasm) // warm-up; compiles the shared binary once
const cached = []
const uncached = []
for (let r = 0; r < ROUNDS; r++) {
  uncached.push(await round(fresh))
  cached.push(await round(() => wasm))
}
const show = (label, rs) => {
  const w = stats(rs.map((x) => x.wall))
  const c = stats(rs.map((x) => x.cpu))
  console.log(`${label.padEnd(34)} wall min ${w.min.toFixed(1)} ms, median ${w.median.toFixed(1)} ms; cpu min ${c.min.toFixed(1)} ms, median ${c.median.toFixed(1)} ms`)
  return c
}
console.log(`test kit, Go hello-mock: createPluginTester + 1 request + close, ${N} tests x ${ROUNDS} rounds`)
const u = show('compile per tester (baseline)', uncached)
const k = show('compile cache per process (kit)', cached)
console.log(`ratio kit / baseline (cpu): min ${(k.min / u.min).toFixed(2)}, median ${(k.median / u.median).toFixed(2)}`)
