import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { coalesceDataSegments } from '../../src/host/wasm-rewrite/data-segments.js'
import { fixture } from '../helpers.js'

// A tiny module encoder: memory (exported), optional imported memory, data segments, data count.
const leb = (n: number): number[] => {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n) b |= 0x80
    out.push(b)
  } while (n)
  return out
}
const sleb = (n: number): number[] => {
  const out: number[] = []
  for (;;) {
    const b = n & 0x7f
    n >>= 7
    const done = (n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)
    out.push(done ? b : b | 0x80)
    if (done) return out
  }
}
const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body]
const name = (s: string) => [...leb(s.length), ...Buffer.from(s)]
interface Seg {
  offset: number
  bytes: number[]
  passive?: boolean
}
function module(segs: Seg[], opts: { pages?: number; importMemory?: boolean; dataCount?: boolean } = {}): Uint8Array {
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]
  if (opts.importMemory) out.push(...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, ...leb(opts.pages ?? 1)]))
  else out.push(...section(5, [1, 0x00, ...leb(opts.pages ?? 1)]))
  out.push(...section(7, [1, ...name('memory'), 0x02, 0x00]))
  if (opts.dataCount) out.push(...section(12, leb(segs.length)))
  const body = [...leb(segs.length)]
  for (const s of segs) {
    if (s.passive) body.push(0x01)
    else body.push(0x00, 0x41, ...sleb(s.offset), 0x0b)
    body.push(...leb(s.bytes.length), ...s.bytes)
  }
  out.push(...section(11, body))
  return new Uint8Array(out)
}
const memoryOf = (wasm: Uint8Array, imports: WebAssembly.Imports = {}) =>
  Buffer.from((new WebAssembly.Instance(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>), imports).exports.memory as WebAssembly.Memory).buffer)
const countSegments = (wasm: Uint8Array) => {
  // the data section is the last one in these modules: its first byte after the size is the count
  let p = 8
  let count = -1
  while (p < wasm.length) {
    const id = wasm[p++]!
    let len = 0
    let shift = 0
    let b: number
    do {
      b = wasm[p++]!
      len |= (b & 0x7f) << shift
      shift += 7
    } while (b & 0x80)
    if (id === 11) {
      count = 0
      shift = 0
      let q = p
      do {
        b = wasm[q++]!
        count |= (b & 0x7f) << shift
        shift += 7
      } while (b & 0x80)
    }
    p += len
  }
  return count
}
// 200 small segments a few bytes apart, out of order in places, the last one near the end of memory.
const many = (): Seg[] => {
  const segs: Seg[] = []
  for (let i = 0; i < 200; i++) segs.push({ offset: 64 + i * 40, bytes: [i & 0xff, 1, 2, 3, 4, 5, 6, 7, 8, (i * 7) & 0xff] })
  segs.push({ offset: 20000, bytes: [9, 9, 9] })
  segs.push({ offset: 65536 - 4, bytes: [1, 2, 3, 4] })
  ;[segs[3], segs[150]] = [segs[150]!, segs[3]!]
  return segs
}

describe('coalesceDataSegments', () => {
  it('merges nearby segments into few, with the same memory after instantiation', () => {
    const wasm = module(many())
    const out = coalesceDataSegments(wasm)
    expect(WebAssembly.validate(out as Uint8Array<ArrayBuffer>)).toBe(true)
    expect(countSegments(wasm)).toBe(202)
    expect(countSegments(out)).toBe(3) // the run from 64 to 8064 (gaps under 4 KiB), then 20000, then the last one
    expect(memoryOf(out).equals(memoryOf(wasm))).toBe(true)
  })

  it('gives the same memory for the Go fixtures, with far fewer segments', () => {
    const wasm = new Uint8Array(readFileSync(fixture('go', 'noop')))
    const out = coalesceDataSegments(wasm)
    expect(countSegments(out)).toBeLessThan(countSegments(wasm) / 100)
    const imports = (m: Uint8Array) => {
      const o: Record<string, Record<string, () => number>> = {}
      for (const i of WebAssembly.Module.imports(new WebAssembly.Module(m as Uint8Array<ArrayBuffer>))) (o[i.module] ??= {})[i.name] = () => 0
      return o
    }
    expect(memoryOf(out, imports(out)).equals(memoryOf(wasm, imports(wasm)))).toBe(true)
  })

  it('leaves alone what it cannot prove identical', () => {
    const base = many()
    const cases: Array<[string, Uint8Array]> = [
      ['a data count section', module(base, { dataCount: true })],
      ['a passive segment', module([...base, { offset: 0, bytes: [1], passive: true }])],
      ['overlapping segments', module([...base, { offset: 66, bytes: [7, 7] }])],
      ['a segment past the initial memory', module([...base, { offset: 65536 - 2, bytes: [1, 2, 3] }])],
      ['an imported memory', module(base, { importMemory: true })],
      ['few segments', module(base.slice(0, 10))],
      ['not a module', new Uint8Array([1, 2, 3])],
    ]
    for (const [, wasm] of cases) expect(coalesceDataSegments(wasm)).toBe(wasm)
  })
})
