// VM start: a second VM of an already compiled module (what FAIL_RELOAD, a rebuild or a second
// load of the same binary cost), broken down into its parts, and the first request after a load.
// Parts of one start, timed around the calls Plugin.start makes: instantiation (memory, data
// segments, wrappers), the module's start-up code (_initialize: Go's runtime and package init),
// the root context (proxy_on_context_create, proxy_on_vm_start, proxy_on_configure), and the
// host's own work (the rest: hostcall tables, WASI set-up, import object). The original module is
// also instantiated bare, to show what merging data segments saves (src/host/wasm-rewrite/).
// Each second VM is started twice over: from the start-up snapshot of the first VM (the default:
// the memory chunks start-up changed and the globals restored, start-up code skipped; the restore
// counts as host work) and with vmSnapshot: false (full start-up). The first start of each process
// (the first VM after the load) is shown on its own, and the load itself (which takes the snapshot).
// First request: in a fresh process (cold: the host's own code has never run), and in a process
// that already served requests through another plugin, for a module compiled for the first time
// and for a second VM of an already compiled one. No plugin callback runs that a request would not
// run; requests come 50 ms after the load. Default V8 and --no-allocation-site-pretenuring in
// child processes; 5 rounds.
// Usage: npm run bench:vm (builds first). BENCH_STARTS (starts per round, default 20), BENCH_ROUNDS.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { fixture, machine, MODES, num, pretenuringCheck, quietLogger, ROUNDS, runChild, stats, table } from './lib.mjs'

const STARTS = Number(process.env.BENCH_STARTS ?? 20)
const PLUGINS = [
  ['Go wasm-go minimal', fixture('go', 'minimal'), { enabled: true }],
  ['Go SDK http-headers', fixture('go', 'http-headers'), { header: 'x-bench', value: '1' }],
  ['Go SDK noop', fixture('go', 'noop'), undefined],
  ['AssemblyScript add-header', fixture('as', 'add-header'), undefined],
  ['WAT noop', fixture('wat', 'noop'), undefined],
]
const request = { method: 'GET', path: '/bench', authority: 'bench.example.com', headers: [['user-agent', 'bench/1.0'], ['accept', '*/*']] }
const runOne = (pipeline) => {
  const t = performance.now()
  const ex = pipeline.exchange(request)
  ex.direct.requestHeaders(true)
  ex.direct.responseHeaders(200, [['content-length', '0']], true)
  ex.done()
  return performance.now() - t
}

const idle = () => new Promise((resolve) => setTimeout(resolve, 50))

/** Times the parts of Plugin.start by wrapping WebAssembly.Instance and the start-up exports. */
function instrument() {
  const t = { instantiate: 0, init: 0, root: 0 }
  const Orig = WebAssembly.Instance
  const root = new Set(['proxy_on_context_create', 'proxy_on_vm_start', 'proxy_on_configure'])
  globalThis.WebAssembly.Instance = function Instance(module, imports) {
    const a = performance.now()
    const inst = new Orig(module, imports)
    t.instantiate += performance.now() - a
    const exports = {}
    for (const [k, v] of Object.entries(inst.exports)) {
      const part = k === '_initialize' || k === '_start' || k === 'main' ? 'init' : root.has(k) ? 'root' : undefined
      exports[k] = part && typeof v === 'function' ? (...args) => {
        const b = performance.now()
        try {
          return v(...args)
        } finally {
          t[part] += performance.now() - b
        }
      } : v
    }
    return { exports }
  }
  return { t, restore: () => (globalThis.WebAssembly.Instance = Orig) }
}

async function childStart(index, snapshot) {
  const [, wasm, config] = PLUGINS[index]
  const { WasmPluginHost } = await import('../dist/index.js')
  const host = new WasmPluginHost({ logger: quietLogger, vmSnapshot: snapshot })
  const a0 = performance.now()
  const plugin = await host.load({ wasm, config })
  const firstLoad = performance.now() - a0
  const plan = (await host.compile(wasm)).snapshot
  const out = { total: [], instantiate: [], init: [], root: [], host: [], firstLoad, restored: 0 }
  const { t, restore } = instrument()
  for (let i = 0; i < STARTS; i++) {
    // A pause between starts: one after another in a tight loop would time the collector freeing
    // the memories of the VMs before (each wasm memory reserves its address space).
    await new Promise((resolve) => setTimeout(resolve, 100))
    t.instantiate = t.init = t.root = 0
    const a = performance.now()
    plugin.start() // a second VM of the compiled module
    const total = performance.now() - a
    out.total.push(total)
    out.instantiate.push(t.instantiate)
    out.init.push(t.init)
    out.root.push(t.root)
    out.host.push(total - t.instantiate - t.init - t.root)
  }
  restore()
  if (typeof plan === 'object' && [...plan.taken.values()].some((x) => typeof x === 'object')) out.restored = STARTS
  // The original module, instantiated bare, for the data segments comparison.
  const original = new WebAssembly.Module(readFileSync(wasm))
  const rewritten = (await host.compile(wasm)).module
  const stubs = (m) => {
    const o = {}
    for (const imp of WebAssembly.Module.imports(m)) (o[imp.module] ??= {})[imp.name] = () => 0
    return o
  }
  const bare = (m) => {
    const xs = []
    for (let i = 0; i < STARTS; i++) {
      const a = performance.now()
      new WebAssembly.Instance(m, stubs(m))
      xs.push(performance.now() - a)
    }
    return stats(xs).median
  }
  out.bareOriginal = bare(original)
  out.bareMerged = bare(rewritten)
  host.close()
  console.log(JSON.stringify(out))
  process.exit(0)
}

async function childFirst(index, warm) {
  const [, wasm, config] = PLUGINS[index]
  const { PluginPipeline, WasmPluginHost } = await import('../dist/index.js')
  const host = new WasmPluginHost({ logger: quietLogger })
  if (warm) {
    // Another plugin served requests first: the host's own code is warm.
    const other = await host.load({ wasm: fixture('go', 'headers') })
    const p = new PluginPipeline(host, { plugins: [other] })
    for (let i = 0; i < 2000; i++) runOne(p)
  }
  const a = performance.now()
  const first = await host.load({ wasm, config })
  const load = performance.now() - a
  // Requests come a moment after the load (background compilation and collection settle).
  await idle()
  const newModule = runOne(new PluginPipeline(host, { plugins: [first] }))
  const again = await host.load({ wasm, config })
  await idle()
  const secondVm = runOne(new PluginPipeline(host, { plugins: [again] }))
  host.close()
  console.log(JSON.stringify({ load, newModule, secondVm }))
  process.exit(0)
}

async function main() {
  console.log(`VM start: ${STARTS} starts of a second VM per round, ${ROUNDS} rounds; first request after load in fresh processes; ${machine()}`)
  const script = fileURLToPath(import.meta.url)
  const res = {}
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of MODES) {
      for (let i = 0; i < PLUGINS.length; i++) {
        const s = await runChild(script, ['--start', String(i), 'snapshot'], m.flags)
        const full = await runChild(script, ['--start', String(i), 'full'], m.flags)
        const cold = await runChild(script, ['--first', String(i), 'cold'], m.flags)
        const warm = await runChild(script, ['--first', String(i), 'warm'], m.flags)
        const cell = ((res[m.name] ??= {})[i] ??= { total: [], instantiate: [], init: [], root: [], host: [], bareOriginal: [], bareMerged: [], cold: [], coldLoad: [], warmNew: [], warmSecond: [], full: {}, firstLoad: [], firstLoadFull: [], first: [], firstFull: [], restored: 0, starts: 0 })
        for (const k of ['total', 'instantiate', 'init', 'root', 'host']) {
          cell[k].push(stats(s[k]).median)
          ;(cell.full[k] ??= []).push(stats(full[k]).median)
        }
        cell.firstLoad.push(s.firstLoad)
        cell.firstLoadFull.push(full.firstLoad)
        cell.first.push(s.total[0])
        cell.firstFull.push(full.total[0])
        cell.restored += s.restored
        cell.starts += s.total.length
        cell.bareOriginal.push(s.bareOriginal)
        cell.bareMerged.push(s.bareMerged)
        cell.cold.push(cold.newModule)
        cell.coldLoad.push(cold.load)
        cell.warmNew.push(warm.newModule)
        cell.warmSecond.push(warm.secondVm)
      }
    }
  }
  for (const m of MODES) {
    for (const [label, pick] of [['full start-up (vmSnapshot: false)', (c) => c.full], ['from the start-up snapshot (default)', (c) => c]]) {
      console.log(`\n${m.name}: second VM of a compiled module, ${label}, ms (median of the round medians; min in brackets)`)
      const rows = []
      for (let i = 0; i < PLUGINS.length; i++) {
        const c = res[m.name][i]
        const f = (k) => `${num(stats(pick(c)[k]).median, 2, 6)} (${num(stats(pick(c)[k]).min, 2, 5)})`
        rows.push([PLUGINS[i][0], f('total'), f('instantiate'), f('init'), f('root'), f('host'), `${num(stats(c.bareOriginal).median, 2, 5)} → ${num(stats(c.bareMerged).median, 2, 5)}`])
      }
      table([['plugin', 26, 'l'], ['total', 15], ['instantiate', 15], ['start-up code', 15], ['root context', 15], ['host (+restore)', 15], ['bare inst. orig → merged', 25]], rows)
    }
    console.log(`\n${m.name}: snapshot vs full start, and the first second VM of a process, the load (which takes the snapshot), ms (median; min in brackets)`)
    const rowsS = []
    for (let i = 0; i < PLUGINS.length; i++) {
      const c = res[m.name][i]
      const f = (xs) => `${num(stats(xs).median, 2, 6)} (${num(stats(xs).min, 2, 5)})`
      rowsS.push([PLUGINS[i][0], num(stats(c.full.total).median / stats(c.total).median, 2, 6), `${c.restored}/${c.starts}`, f(c.firstFull), f(c.first), f(c.firstLoadFull), f(c.firstLoad)])
    }
    table([['plugin', 26, 'l'], ['full/snap', 10], ['restored', 10], ['1st 2nd VM, full', 17], ['1st 2nd VM, snap', 17], ['load, full', 16], ['load, snap', 16]], rowsS)
    console.log(`\n${m.name}: first request after load, ms (median; min in brackets)`)
    const rows2 = []
    for (let i = 0; i < PLUGINS.length; i++) {
      const c = res[m.name][i]
      const f = (k) => `${num(stats(c[k]).median, 2, 6)} (${num(stats(c[k]).min, 2, 5)})`
      rows2.push([PLUGINS[i][0], f('coldLoad'), f('cold'), f('warmNew'), f('warmSecond')])
    }
    table([['plugin', 26, 'l'], ['load (cold)', 15], ['1st req cold', 15], ['warm, new module', 17], ['warm, 2nd VM', 15]], rows2)
  }
  console.log('\ndefault vs no-pretenuring: second VM total, median ("!" past 1.10)')
  const rows3 = []
  for (let i = 0; i < PLUGINS.length; i++) {
    const d = stats(res.default[i].total).median
    const o = stats(res['no-pretenuring'][i].total).median
    const c = pretenuringCheck(d, o)
    rows3.push([PLUGINS[i][0], num(d), num(o), `${num(c.ratio, 2, 6)}${c.ok ? '' : ' !'}`])
  }
  table([['plugin', 26, 'l'], ['default', 9], ['no-pret', 9], ['def/np', 8]], rows3)
  console.log(`\nafter: ${machine()}`)
}

const si = process.argv.indexOf('--start')
const fi = process.argv.indexOf('--first')
if (si >= 0) await childStart(Number(process.argv[si + 1]), process.argv[si + 2] !== 'full')
else if (fi >= 0) await childFirst(Number(process.argv[fi + 1]), process.argv[fi + 2] === 'warm')
else await main()
