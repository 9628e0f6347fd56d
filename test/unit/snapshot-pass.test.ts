import { parse } from '@bytecodealliance/jco'
import { describe, expect, it } from 'vitest'
import { instrument } from '../../src/host/instrument.js'
import { FUEL_IMPORT, fuelPass, rewriteModule, snapshotExportsPass } from '../../src/host/wasm-rewrite/index.js'

const wasm = async (wat: string) => new Uint8Array(await parse(wat))
const exportsOf = (bytes: Uint8Array) => WebAssembly.Module.exports(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>)).map((e) => `${e.name}:${e.kind}`)

describe('snapshot-exports pass', () => {
  it('exports every mutable global not exported yet under a name that cannot clash; constants and the fuel counter stay unexported', async () => {
    const input = await wasm(`(module
      (memory (export "memory") 1)
      (global $a (mut i32) (i32.const 1))
      (global $c i32 (i32.const 2))
      (global $b (export "kept") (mut i64) (i64.const 3))
      (global $d (mut f64) (f64.const 4))
      (func (export "__pwh_g3") (result i32) (global.get $a)))`)
    const snap = snapshotExportsPass()
    const out = rewriteModule(input, [snap, fuelPass(1000)])
    expect(snap.result()).toEqual({ globals: ['__pwh_g0', 'kept', '__pwh_g3_'] })
    expect(exportsOf(out)).toEqual(['memory:memory', 'kept:global', '__pwh_g3:function', '__pwh_g0:global', '__pwh_g3_:global'])
    const instance = new WebAssembly.Instance(new WebAssembly.Module(out as Uint8Array<ArrayBuffer>), { [FUEL_IMPORT.module]: { [FUEL_IMPORT.name]: () => 1000 } })
    const g = instance.exports as Record<string, WebAssembly.Global>
    expect([g.__pwh_g0!.value, g.kept!.value, g.__pwh_g3_!.value]).toEqual([1, 3n, 4])
  })

  it.each([
    ['table.set', '(memory 1) (table 1 funcref) (func $f) (func (table.set 0 (i32.const 0) (ref.func $f))) (elem declare func $f)', /writes a table \(table\.set\)/],
    ['table.grow', '(memory 1) (table 1 funcref) (func (drop (table.grow 0 (ref.null func) (i32.const 1))))', /table\.grow/],
    ['table.copy', '(memory 1) (table 2 funcref) (func (table.copy (i32.const 0) (i32.const 1) (i32.const 1)))', /table\.copy/],
    ['an imported memory', '', /imports its memory/, '(import "env" "memory" (memory 1))'],
    ['an imported global', '(memory 1)', /imports a global \(env\.g\)/, '(import "env" "g" (global (mut i32)))'],
    ['a mutable v128 global', '(memory 1) (global (mut v128) (v128.const i32x4 0 0 0 0))', /type JS cannot carry over/],
    ['passive data', '(memory 1) (data "x") (func (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1)))', /passive data segments/],
    ['a shared memory', '(memory 1 1 shared)', /shared or 64-bit/],
  ])('a module with %s is not snapshotted, and keeps its exports', async (_what, body, why, imports = '') => {
    const input = await wasm(`(module ${imports} ${body} (global (mut i32) (i32.const 0)))`)
    const snap = snapshotExportsPass()
    const out = rewriteModule(input, [snap])
    expect(snap.result()).toMatch(why)
    expect(exportsOf(out)).toEqual(exportsOf(input))
  })

  it('instrument: with no limits the module is rewritten only to export its globals; a module that cannot be snapshotted is left as it is', async () => {
    const input = await wasm('(module (memory (export "memory") 1) (global (mut i32) (i32.const 7)))')
    const a = instrument(input, 'snapshot-pass-a', 0, 0)
    expect(a.snapshot).toEqual({ globals: ['__pwh_g0'] })
    expect(exportsOf(a.bytes)).toEqual(['memory:memory', '__pwh_g0:global'])
    const excluded = await wasm('(module (import "env" "memory" (memory 1)) (global (mut i32) (i32.const 7)))')
    const b = instrument(excluded, 'snapshot-pass-b', 0, 0)
    expect(b.snapshot).toMatch(/imports its memory/)
    expect(b.bytes).toBe(excluded)
  })
})
