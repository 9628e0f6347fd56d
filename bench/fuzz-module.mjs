// Hostcall fuzzing, shared by test/hostile/fuzz.test.ts (100 k calls) and bench/fuzz.mjs (1 M):
// a generated plugin imports every `env` hostcall of the host's table (with its ABI signature)
// and, in each of its callbacks, makes N calls picked at random with random arguments — small
// numbers, enum values, pointers inside and at the edge of its memory, huge values. The host must
// answer every call with a status: no exception may reach the guest (it would trap), the process
// must not crash, and memory must stay bounded.
import { parse } from '@bytecodealliance/jco'

/** Hostcalls with an i64 parameter (ABI §2.12), by argument position. */
const I64_PARAMS = { proxy_increment_metric: [1], proxy_record_metric: [1] }

/** A small seeded PRNG (mulberry32), so that a failing run can be replayed from its seed. */
export function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0)
  }
}

/**
 * Random argument values, biased toward what finds bugs: small numbers and enum values, pointers
 * into the 2-page memory and just past it, and values at the i32 edges.
 */
export function argumentSource(next) {
  // 10 classes, picked by the low digits of a draw
  const edges = [0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 65536, 131071, 131072, 131068, 0xfffffff0]
  return () => {
    const r = next()
    switch (r % 10) {
      case 0: case 1: case 2: return (r >>> 4) % 64
      case 3: case 4: return (r >>> 4) % 12
      case 5: case 6: return 65536 + ((r >>> 4) % 65536) // heap and data area
      case 7: return (r >>> 4) % 2048 // low memory (strings the module keeps there)
      case 8: return edges[(r >>> 4) % edges.length]
      default: return next()
    }
  }
}

/**
 * The WAT text of the fuzz plugin for `hostcalls` (name → arity). Each callback runs `calls`
 * random hostcalls (the count comes from the plugin configuration, a decimal).
 */
export function fuzzWat(hostcalls) {
  const names = Object.keys(hostcalls).sort()
  const imports = names.map((n, i) => {
    const params = Array.from({ length: hostcalls[n] }, (_, k) => (I64_PARAMS[n]?.includes(k) ? 'i64' : 'i32'))
    return `  (import "env" "${n}" (func $h${i} (param ${params.join(' ')}) (result i32)))`
  })
  // br_table dispatch: case i calls hostcall i with fresh random arguments.
  let dispatch = '(block $done\n'
  for (let i = names.length - 1; i >= 0; i--) dispatch += `(block $c${i}\n`
  dispatch += `  (br_table ${names.map((_, i) => `$c${i}`).join(' ')} $done (i32.rem_u (call $rand) (i32.const ${names.length})))\n`
  names.forEach((n, i) => {
    const args = Array.from({ length: hostcalls[n] }, (_, k) => (I64_PARAMS[n]?.includes(k) ? '(i64.extend_i32_u (call $rand))' : '(call $rand)')).join(' ')
    dispatch += `) (drop (call $h${i} ${args})) (br $done)\n`
  })
  dispatch += ')'
  return `(module
${imports.join('\n')}
  (import "fuzz" "rand" (func $rand (result i32)))
  (memory (export "memory") 2 4)
  (global $heap (mut i32) (i32.const 65536))
  (global $calls (export "calls") (mut i32) (i32.const 0))
  (global $per (mut i32) (i32.const 0))
  (data (i32.const 0) "x-a\\00:path\\00:authority\\00request.path\\00plugin_name\\00source.address\\00get_log_level\\00wasm_need_rebuild\\00true\\00")
  (func (export "proxy_abi_version_0_2_1"))
  ;; bump allocator over the upper page, reset at every callback; 0 when full
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (if (i32.gt_u (local.get $size) (i32.const 65536)) (then (return (i32.const 0))))
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $size)) (i32.const 131072)) (then (return (i32.const 0))))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (local.get $p))
  (func $run
    (local $i i32)
    (global.set $heap (i32.const 65536))
    (block $end
      (loop $next
        (br_if $end (i32.ge_u (local.get $i) (global.get $per)))
        ${dispatch}
        (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))
  (func (export "proxy_on_context_create") (param i32 i32) (call $run))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (local $n i32) (local $p i32) (local $e i32)
    ;; the plugin configuration (buffer 7) is a decimal: calls per callback
    (drop (call $get_buffer (i32.const 7) (i32.const 0) (i32.const 16) (i32.const 2048) (i32.const 2052)))
    (local.set $p (i32.load (i32.const 2048)))
    (local.set $e (i32.add (local.get $p) (i32.load (i32.const 2052))))
    (block $out (loop $digit
      (br_if $out (i32.ge_u (local.get $p) (local.get $e)))
      (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10)) (i32.sub (i32.load8_u (local.get $p)) (i32.const 48))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $digit)))
    (global.set $per (local.get $n))
    (call $run)
    (i32.const 1))
  (func $get_buffer (param i32 i32 i32 i32 i32) (result i32) (call $h${names.indexOf('proxy_get_buffer_bytes')} (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (call $run) (i32.const 0))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (call $run) (i32.const 0))
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32) (call $run) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (call $run) (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (call $run) (i32.const 0))
  (func (export "proxy_on_tick") (param i32) (call $run))
  (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32) (call $run))
  (func (export "proxy_on_queue_ready") (param i32 i32) (call $run))
  (func (export "proxy_on_log") (param i32) (call $run))
  (func (export "proxy_on_done") (param i32) (result i32) (call $run) (i32.const 1))
  (func (export "proxy_on_delete") (param i32))
)`
}

/** The hostcall table of a host (`envHostcalls` from the source or the build): name → arity. */
export function arities(table) {
  return Object.fromEntries(Object.entries(table).map(([n, f]) => [n, f.length]))
}

/**
 * A WASI provider for the fuzz host: it provides no WASI (the plugin imports none) but the
 * plugin's source of random arguments, `fuzz.rand`.
 */
export function fuzzWasi(seed) {
  const arg = argumentSource(prng(seed))
  return { create: () => ({ imports: { fuzz: { rand: arg } } }) }
}

/**
 * Runs the fuzz plugin (loaded on `host`, which must use {@link fuzzWasi}) until `calls`
 * hostcalls were made, through exchanges with bodies and trailers.
 * @returns {Promise<{ calls: number, requests: number, rss: number[], escaped: unknown[] }>}
 *   `rss`: process RSS in bytes after each tenth of the run; `escaped`: exceptions thrown by the
 *   exchange API (there must be none)
 */
export async function runFuzz({ host, PluginPipeline, table, calls, perCallback = 200, onTenth }) {
  const wasm = await parse(fuzzWat(arities(table)))
  const plugin = await host.load({ wasm, name: 'fuzz', config: String(perCallback), failStrategy: 'FAIL_RELOAD' })
  const pipeline = new PluginPipeline(host, { plugins: [plugin], pauseTimeoutMs: 2000 })
  const seen = new Map()
  const count = () => {
    const vm = plugin.vm
    const g = vm?.instance?.exports.calls
    if (vm && g) seen.set(vm, g.value)
    let n = 0
    for (const v of seen.values()) n += v
    return n
  }
  const escaped = []
  const rss = []
  let requests = 0
  let tenth = 1
  const body = Buffer.from('fuzz body')
  while (count() < calls) {
    requests++
    const ex = pipeline.exchange({ method: 'POST', path: `/fuzz/${requests}?q=1`, authority: 'fuzz.example', headers: { 'x-a': 'b', 'content-type': 'text/plain' } })
    try {
      let r = await ex.requestHeaders(false)
      if (r.action === 'continue' || r.action === 'held') r = await ex.requestBody(body, false)
      if (r.action === 'continue' || r.action === 'held') r = await ex.requestTrailers({ 'x-t': '1' })
      if (r.action === 'continue' || r.action === 'held') {
        const s = await ex.responseHeaders(200, { 'content-type': 'text/plain' }, false)
        if (s.action === 'continue' || s.action === 'held') await ex.responseBody(body, true)
      }
    } catch (err) {
      escaped.push(err)
    } finally {
      ex.done()
    }
    if (count() >= (calls * tenth) / 10) {
      rss.push(process.memoryUsage().rss)
      onTenth?.(tenth, count(), requests)
      tenth++
    }
  }
  return { calls: count(), requests, rss, escaped }
}
