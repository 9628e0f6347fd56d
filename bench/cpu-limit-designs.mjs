// The CPU-limit designs of docs/adr/0001-cpu-limit.md, measured in one run: the cost of one guest
// call (a callback that makes 0 or 6 hostcalls) with
//   plain      no limit
//   fuel       the module rewritten with fuel (what the host does by default)
//   watchdog   each call through vm.Script#runInContext with a timeout (the host's fallback)
//   worker     the VM in a worker thread; the main thread hands each call over a SharedArrayBuffer
//              and waits with Atomics.wait; each hostcall is a round trip back to the main thread
// and the cost of replacing a looping worker (terminate, new worker, instantiate).
// 5 rounds, min and median in µs per call. Usage: npm run build && node bench/cpu-limit-designs.mjs
import { loadavg } from 'node:os'
import vm from 'node:vm'
import { Worker } from 'node:worker_threads'
import { parse } from '@bytecodealliance/jco'
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

const entry = fileURLToPath(new URL('../src/host/wasm-rewrite/index.ts', import.meta.url))
const bundled = await build({ entryPoints: [entry], bundle: true, write: false, format: 'esm', platform: 'node', logLevel: 'silent' })
const { rewriteModule, fuelPass } = await import(`data:text/javascript;base64,${Buffer.from(bundled.outputFiles[0].text).toString('base64')}`)

const wat = `(module
  (import "env" "hostcall" (func $h (param i32) (result i32)))
  (func (export "callback") (param $n i32) (result i32) (local $acc i32)
    (block $out (loop $l
      (br_if $out (i32.eqz (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (call $h (local.get $n))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $acc))
  (func (export "spin") (loop $l (br $l))))`
const bytes = await parse(wat)
const fueled = rewriteModule(bytes, [fuelPass(1 << 25)])
const hostcall = (x) => x + 1
const plain = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { hostcall } }).exports
const fuel = new WebAssembly.Instance(new WebAssembly.Module(fueled), { env: { hostcall }, proxy_wasm_host: { refuel: () => 1 << 25 } }).exports

const context = vm.createContext({ run: undefined, out: 0 })
const script = new vm.Script('out = run()')
const watchdog = (fn, arg) => {
  context.run = () => fn(arg)
  script.runInContext(context, { timeout: 1000 })
  return context.out
}

// Worker: slot 0 = state (0 idle, 1 call, 2 hostcall request, 3 result), 1 = argument / value.
const workerCode = `
const { parentPort, workerData } = require('node:worker_threads')
const sab = new Int32Array(workerData.sab)
const hostcall = (x) => {
  sab[1] = x; Atomics.store(sab, 0, 2); Atomics.notify(sab, 0)
  Atomics.wait(sab, 0, 2)
  return sab[1]
}
const inst = new WebAssembly.Instance(new WebAssembly.Module(workerData.bytes), { env: { hostcall } })
parentPort.postMessage('ready')
for (;;) {
  Atomics.wait(sab, 0, 0)
  if (Atomics.load(sab, 0) !== 1) continue
  const r = sab[1] < 0 ? inst.exports.spin() : inst.exports.callback(sab[1])
  sab[1] = r; Atomics.store(sab, 0, 3); Atomics.notify(sab, 0)
}`
async function startWorker() {
  const sab = new SharedArrayBuffer(8)
  const w = new Worker(workerCode, { eval: true, workerData: { sab, bytes } })
  await new Promise((r) => w.once('message', r))
  return { w, s: new Int32Array(sab) }
}
let worker = await startWorker()
const viaWorker = (n, timeoutMs = 1000) => {
  const s = worker.s
  s[1] = n
  Atomics.store(s, 0, 1)
  Atomics.notify(s, 0)
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const left = deadline - performance.now()
    if (left <= 0) return undefined
    Atomics.wait(s, 0, 1, left)
    const st = Atomics.load(s, 0)
    if (st === 2) {
      s[1] = hostcall(s[1])
      Atomics.store(s, 0, 1)
      Atomics.notify(s, 0)
    } else if (st === 3) {
      Atomics.store(s, 0, 0)
      return s[1]
    }
  }
}

const designs = {
  plain: (n) => plain.callback(n),
  fuel: (n) => fuel.callback(n),
  watchdog: (n) => watchdog(plain.callback, n),
  worker: (n) => viaWorker(n),
}
for (const [name, f] of Object.entries(designs)) if (f(6) !== 27) throw new Error(`${name} computed ${f(6)}`)
const ITER = { plain: 200000, fuel: 200000, watchdog: 3000, worker: 20000 }
const results = {}
for (let round = 0; round < 5; round++) {
  for (const [name, f] of Object.entries(designs)) {
    for (const n of [0, 6]) {
      const k = ITER[name]
      const t = performance.now()
      for (let i = 0; i < k; i++) f(n)
      ;(results[`${name}|${n}`] ??= []).push(((performance.now() - t) * 1000) / k)
    }
  }
}
const min = (xs) => Math.min(...xs)
const med = (xs) => [...xs].sort((a, b) => a - b)[2]
console.log(`CPU-limit designs: µs per guest call, 5 rounds; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
console.log('design'.padEnd(10), '0 hostcalls min'.padStart(16), 'median'.padStart(8), '6 hostcalls min'.padStart(16), 'median'.padStart(8))
for (const name of Object.keys(designs)) {
  const a = results[`${name}|0`]
  const b = results[`${name}|6`]
  console.log(name.padEnd(10), min(a).toFixed(3).padStart(16), med(a).toFixed(3).padStart(8), min(b).toFixed(3).padStart(16), med(b).toFixed(3).padStart(8))
}

// A looping worker: the call times out, the worker is terminated and replaced.
const times = []
for (let i = 0; i < 5; i++) {
  const t0 = performance.now()
  if (viaWorker(-1, 50) !== undefined) throw new Error('spin returned')
  const t1 = performance.now()
  await worker.w.terminate()
  const t2 = performance.now()
  worker = await startWorker()
  const t3 = performance.now()
  times.push([t1 - t0, t2 - t1, t3 - t2])
}
const col = (i) => times.map((t) => t[i]).sort((a, b) => a - b)[2].toFixed(1)
console.log(`worker replacement (median of 5, ms): timeout ${col(0)} (limit 50), terminate ${col(1)}, new worker + instance ${col(2)} (a trivial module; a Go plugin adds its compile and _initialize)`)
await worker.w.terminate()
