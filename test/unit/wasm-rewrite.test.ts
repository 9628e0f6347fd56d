import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from '@bytecodealliance/jco'
import { describe, expect, it } from 'vitest'
import { FUEL_IMPORT, fuelPass, memoryCapPass, rewriteModule, RewriteError, WasmModule, type RewritePass } from '../../src/host/wasm-rewrite/index.js'
import { fixture } from '../helpers.js'

const build = fileURLToPath(new URL('../../fixtures/build/', import.meta.url))
// Every fixture but hostile-refuel, which imports the fuel pass's own import on purpose (refused below).
const all = (['go', 'as', 'wat'] as const).flatMap((k) =>
  readdirSync(`${build}${k}`).filter((f) => f.endsWith('.wasm') && f !== 'hostile-refuel.wasm').map((f) => [k, f.replace(/\.wasm$/, '')] as const))
const bytesOf = (kind: 'go' | 'as' | 'wat', name: string) => new Uint8Array(readFileSync(fixture(kind, name)))
const describeImports = (m: WebAssembly.Module) => WebAssembly.Module.imports(m).map((i) => `${i.module}.${i.name}:${i.kind}`)
const describeExports = (m: WebAssembly.Module) => WebAssembly.Module.exports(m).map((e) => `${e.name}:${e.kind}`)

/** Instantiates `bytes` with a refuel that answers `budget` until it has been called `calls` times, then 0. */
function instantiate(bytes: Uint8Array, opts: { calls?: number; budget?: number } = {}) {
  let refuels = 0
  const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>)
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true })
  const imports: WebAssembly.Imports = {
    host: { add1: (x: number) => x + 1, memory },
    [FUEL_IMPORT.module]: { [FUEL_IMPORT.name]: () => (++refuels > (opts.calls ?? Infinity) ? 0 : (opts.budget ?? 1 << 20)) },
  }
  const instance = new WebAssembly.Instance(module, imports)
  return { exports: instance.exports as Record<string, (...a: number[]) => number | bigint>, refuels: () => refuels }
}

describe('load-time rewriter', () => {
  it.each(all)('%s/%s: fuel + memory cap validate, same exports, one import more', (kind, name) => {
    const input = bytesOf(kind, name)
    const out = rewriteModule(input, [memoryCapPass(1 << 30), fuelPass(1 << 20)])
    const before = new WebAssembly.Module(input as Uint8Array<ArrayBuffer>)
    const after = new WebAssembly.Module(out as Uint8Array<ArrayBuffer>)
    expect(describeExports(after)).toEqual(describeExports(before))
    expect(describeImports(after)).toEqual([...describeImports(before), `${FUEL_IMPORT.module}.${FUEL_IMPORT.name}:function`])
  })

  const features = bytesOf('wat', 'rewrite-features')
  const tests = WebAssembly.Module.exports(new WebAssembly.Module(features)).map((e) => e.name).filter((n) => n.startsWith('t_'))
  it('the feature module covers every instruction family it claims', () => {
    expect(tests).toEqual(['t_control', 't_calls', 't_tables', 't_memory', 't_simd', 't_atomics', 't_tail', 't_exceptions', 't_numeric'])
  })
  it.each(tests)('%s gives the same answer after the rewrite (renumbered calls, tables, elements, start, globals)', (name) => {
    const plain = instantiate(features).exports[name]!()
    const fueled = instantiate(rewriteModule(features, [fuelPass(1 << 20), memoryCapPass(1 << 17)])).exports[name]!()
    expect(fueled).toEqual(plain)
  })

  it('function names survive (the name section is renumbered), label names are dropped with the code change', async () => {
    const input = await parse('(module (func $first (result i32) (i32.const 1)) (func $boom (export "boom") (loop $again (br_if $again (i32.const 0))) unreachable))')
    const out = rewriteModule(input, [fuelPass(100)])
    const { exports } = instantiate(out)
    let stack = ''
    try {
      exports.boom!()
    } catch (err) {
      stack = (err as Error).stack ?? ''
    }
    expect(stack).toMatch(/\$?boom/)
    expect(stack).not.toMatch(/first/)
  })

  it('memory cap: the maximum is set, memory.grow past it answers -1, a memory that starts over the cap is refused', async () => {
    const input = await parse('(module (memory (export "memory") 2) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))')
    const out = rewriteModule(input, [memoryCapPass(4 * 65536 + 100)])
    expect(new WasmModule(out).memories).toEqual([{ min: 2, max: 4, shared: false, memory64: false }])
    const { exports } = instantiate(out)
    expect(exports.grow!(2)).toBe(2)
    expect(exports.grow!(1)).toBe(-1)
    const smaller = rewriteModule(input, [memoryCapPass(100 * 65536)])
    expect(new WasmModule(smaller).memories[0]!.max).toBe(100)
    const capped = await parse('(module (memory 1 3))')
    expect(new WasmModule(rewriteModule(capped, [memoryCapPass(1 << 30)])).memories[0]!.max).toBe(3)
    let err: unknown
    try {
      rewriteModule(input, [memoryCapPass(65536)])
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(RewriteError)
    expect((err as RewriteError).refusal).toBe('memory-limit')
  })

  it.each([
    ['a plain loop', '(func (export "spin") (loop $l (br $l)))'],
    ['a loop in a function called from a loop', '(func $inner (loop $l (br_if $l (i32.const 1)))) (func (export "spin") (loop $l (call $inner) (br $l)))'],
    ['recursion without loops', '(func $f (export "spin") (call $f))'],
    ['mutual recursion', '(func $a (export "spin") (call $b)) (func $b (call $a))'],
    ['tail recursion', '(func $f (export "spin") (return_call $f))'],
    ['a loop of indirect calls', '(table 1 funcref) (elem (i32.const 0) $g) (type $v (func)) (func $g) (func (export "spin") (loop $l (call_indirect (type $v) (i32.const 0)) (br $l)))'],
    ['indirect recursion', '(table 1 funcref) (elem (i32.const 0) $f) (type $v (func)) (func $f (export "spin") (call_indirect (type $v) (i32.const 0)))'],
    ['memory.fill of a whole memory in a loop (charged by size)', '(memory 16) (func (export "spin") (loop $l (memory.fill (i32.const 0) (i32.const 1) (i32.const 1048576)) (br $l)))'],
    ['table.fill in a loop', '(table 100000 funcref) (func (export "spin") (loop $l (table.fill (i32.const 0) (ref.null func) (i32.const 100000)) (br $l)))'],
  ])('%s runs out of fuel and traps (refuel answers 0)', async (_what, body) => {
    const out = rewriteModule(await parse(`(module ${body})`), [fuelPass(1000)])
    const run = instantiate(out, { calls: 3, budget: 1000 })
    let err: unknown
    try {
      run.exports.spin!()
    } catch (e) {
      err = e
    }
    // Recursion may hit the stack limit before the fuel runs out; both stop the call.
    expect(err).toBeInstanceOf(Error)
    if (!(err instanceof RangeError)) {
      expect(err).toBeInstanceOf(WebAssembly.RuntimeError)
      expect(run.refuels()).toBe(4)
    }
  })

  it('a function that returns keeps its fuel: a small call never refuels', async () => {
    const out = rewriteModule(await parse('(module (func (export "sum") (param i32) (result i32) (local i32) (loop $l (local.set 1 (i32.add (local.get 1) (local.get 0))) (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))) (local.get 1)))'), [fuelPass(1 << 20)])
    const run = instantiate(out)
    expect(run.exports.sum!(100)).toBe(5050)
    expect(run.refuels()).toBe(0)
  })

  it('refuses a module that could block the thread: a wait on a shared memory', async () => {
    const wait = await parse('(module (memory 1 1 shared) (func (export "w") (result i32) (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))))')
    expect(() => rewriteModule(wait, [fuelPass(10)])).toThrow(expect.objectContaining({ refusal: 'blocking-wait' }))
  })

  it('refuses what it does not understand instead of guessing', () => {
    // A code section whose body holds the GC prefix (0xfb): rejected by name, not rewritten.
    const gc = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 6, 1, 4, 0, 0xfb, 0x00, 0x0b])
    expect(() => rewriteModule(gc, [fuelPass(10)])).toThrow(/GC instruction/)
    expect(() => rewriteModule(new Uint8Array([1, 2, 3]), [fuelPass(10)])).toThrow(RewriteError)
    const twice: RewritePass = { name: 'twice', changesCode: false, declare: (ctx) => void ctx.importFunction(FUEL_IMPORT.module, FUEL_IMPORT.name, { params: [], results: ['i32'] }) }
    const once = rewriteModule(bytesOf('wat', 'trap'), [fuelPass(10)])
    expect(() => rewriteModule(once, [twice])).toThrow(/already imports/)
    expect(() => rewriteModule(bytesOf('wat', 'hostile-refuel'), [fuelPass(10)])).toThrow(/already imports proxy_wasm_host\.refuel/)
  })

  it('the decoder reads import signatures (stand-ins for unknown imports are built from them)', async () => {
    const m = new WasmModule(await parse('(module (import "env" "a" (func (param i64) (result i64 f64))) (import "env" "g" (global (mut i32))) (import "env" "v" (func (result v128))))'))
    expect(m.imports).toEqual([
      { module: 'env', name: 'a', kind: 0, type: { params: ['i64'], results: ['i64', 'f64'] } },
      { module: 'env', name: 'g', kind: 3, global: { type: 'i32', mutable: true } },
      { module: 'env', name: 'v', kind: 0, type: { params: [], results: ['v128'] } },
    ])
  })
})
