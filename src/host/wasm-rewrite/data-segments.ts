/**
 * Fewer, larger data segments: the same initial memory image with the module's active data
 * segments merged where they lie close together.
 *
 * Go's wasm linker emits tens of thousands of small active data segments (a wasm-go plugin: about
 * 61 000 segments for 1.7 MB). Instantiation applies them one by one, and that per-segment work was
 * the largest part of starting a second VM of a compiled module (docs/adr/0023-vm-start.md).
 * Merging segments that do not overlap and are separated by at most {@link MAX_GAP} zero bytes
 * gives byte-for-byte the same memory after instantiation: memory starts zeroed and nothing else
 * writes the gaps; and because every segment lies inside the module's own initial memory, none
 * traps, so the order they are applied in does not matter either. Modules the pass cannot prove
 * this for are returned unchanged: an imported memory, a data count section (code may name
 * segments with `memory.init` / `data.drop`), passive segments, offsets that are not `i32.const`,
 * overlapping segments, or a segment past the initial memory.
 * @internal
 * @module
 */

/** Largest run of zero bytes between two segments that is filled in to merge them. */
const MAX_GAP = 4096

/** Below this many segments the pass does nothing (nothing to gain). */
const MIN_SEGMENTS = 64

interface Segment {
  offset: number
  bytes: Uint8Array
}

class Reader {
  pos: number
  constructor(
    readonly b: Uint8Array,
    pos = 0,
  ) {
    this.pos = pos
  }
  u32(): number {
    let r = 0
    let shift = 0
    for (;;) {
      const x = this.b[this.pos++]
      if (x === undefined) throw new RangeError('truncated')
      r |= (x & 0x7f) << shift
      if ((x & 0x80) === 0) return r >>> 0
      shift += 7
      if (shift > 35) throw new RangeError('bad LEB128')
    }
  }
  /** A signed 32-bit LEB128 (an `i32.const` immediate). */
  i32(): number {
    let r = 0
    let shift = 0
    let x: number
    do {
      const y = this.b[this.pos++]
      if (y === undefined) throw new RangeError('truncated')
      x = y
      r |= (x & 0x7f) << shift
      shift += 7
    } while (x & 0x80 && shift < 35)
    if (shift < 32 && x & 0x40) r |= -1 << shift
    return r | 0
  }
}

/** Whether the import section at `at` imports a memory. */
function importsMemory(b: Uint8Array, at: number): boolean {
  const r = new Reader(b, at)
  const n = r.u32()
  for (let i = 0; i < n; i++) {
    const moduleName = r.u32()
    r.pos += moduleName
    const fieldName = r.u32()
    r.pos += fieldName
    const kind = b[r.pos++]
    if (kind === 0x02) return true
    if (kind === 0x00) r.u32() // function: type index
    else if (kind === 0x01) {
      r.pos++ // table: element type
      if (r.u32() & 1) r.u32()
      r.u32()
    } else if (kind === 0x03) r.pos += 2 // global: value type, mutability
    else return true // unknown: be careful
  }
  return false
}

/** The initial size in bytes of the first memory of the memory section at `at`. */
function initialMemoryBytes(b: Uint8Array, at: number): number | undefined {
  const r = new Reader(b, at)
  if (r.u32() < 1) return undefined
  const flags = r.u32()
  if (flags & ~1) return undefined // shared or 64-bit memory: not handled
  return r.u32() * 65536
}

function leb(n: number, out: number[]): void {
  do {
    let x = n & 0x7f
    n >>>= 7
    if (n !== 0) x |= 0x80
    out.push(x)
  } while (n !== 0)
}

/** The active segments of a data section, or `undefined` when the pass does not apply. */
function readSegments(b: Uint8Array, start: number, end: number): Segment[] | undefined {
  const r = new Reader(b, start)
  const n = r.u32()
  const out: Segment[] = []
  for (let i = 0; i < n; i++) {
    const flag = r.u32()
    if (flag === 2) {
      if (r.u32() !== 0) return undefined // another memory
    } else if (flag !== 0) return undefined // passive
    if (b[r.pos++] !== 0x41) return undefined // i32.const
    const offset = r.i32() >>> 0
    if (b[r.pos++] !== 0x0b) return undefined // end
    const size = r.u32()
    if (r.pos + size > end) return undefined
    out.push({ offset, bytes: b.subarray(r.pos, r.pos + size) })
    r.pos += size
  }
  return r.pos === end ? out : undefined
}

/** Merges non-overlapping segments separated by small gaps; `undefined` when two overlap. */
function merge(input: Segment[]): Segment[] | undefined {
  const segments = [...input].sort((a, b) => a.offset - b.offset)
  const out: Segment[] = []
  let i = 0
  while (i < segments.length) {
    const first = segments[i]!
    let endAt = first.offset + first.bytes.byteLength
    let j = i + 1
    for (; j < segments.length; j++) {
      const s = segments[j]!
      if (s.offset < endAt) return undefined // overlapping or out of order: leave the module alone
      if (s.offset - endAt > MAX_GAP) break
      endAt = s.offset + s.bytes.byteLength
    }
    if (j === i + 1) out.push(first)
    else {
      const bytes = new Uint8Array(endAt - first.offset)
      for (let k = i; k < j; k++) bytes.set(segments[k]!.bytes, segments[k]!.offset - first.offset)
      out.push({ offset: first.offset, bytes })
    }
    if (j < segments.length && segments[j]!.offset < endAt) return undefined
    i = j
  }
  return out
}

function encodeSection(segments: Segment[]): Uint8Array {
  const head: number[] = []
  leb(segments.length, head)
  let size = head.length
  const prefixes: number[][] = []
  for (const s of segments) {
    const p: number[] = [0x00, 0x41]
    // i32.const takes a signed LEB128: offsets past 2 GiB are written as negative numbers.
    let v = s.offset | 0
    for (;;) {
      const byte = v & 0x7f
      v >>= 7
      const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)
      p.push(done ? byte : byte | 0x80)
      if (done) break
    }
    p.push(0x0b)
    leb(s.bytes.byteLength, p)
    prefixes.push(p)
    size += p.length + s.bytes.byteLength
  }
  const sectionHead: number[] = [11]
  leb(size, sectionHead)
  const out = new Uint8Array(sectionHead.length + size)
  out.set(sectionHead, 0)
  let at = sectionHead.length
  out.set(head, at)
  at += head.length
  for (let k = 0; k < segments.length; k++) {
    out.set(prefixes[k]!, at)
    at += prefixes[k]!.length
    out.set(segments[k]!.bytes, at)
    at += segments[k]!.bytes.byteLength
  }
  return out
}

/**
 * The module with its active data segments merged (see the module comment), or the same bytes when
 * there is nothing to gain or the pass cannot prove the result identical. Expects a valid module.
 * @internal
 */
export function coalesceDataSegments(wasm: Uint8Array): Uint8Array {
  if (wasm.byteLength < 8) return wasm
  const r = new Reader(wasm, 8)
  let data: { start: number; end: number; bodyStart: number } | undefined
  try {
    let memoryBytes: number | undefined
    while (r.pos < wasm.byteLength) {
      const start = r.pos
      const id = wasm[r.pos++]!
      const len = r.u32()
      const bodyStart = r.pos
      if (id === 12) return wasm // data count: code may refer to segments by index
      if (id === 2 && importsMemory(wasm, bodyStart)) return wasm
      if (id === 5) memoryBytes = initialMemoryBytes(wasm, bodyStart)
      if (id === 11) data = { start, end: bodyStart + len, bodyStart }
      r.pos = bodyStart + len
    }
    if (!data || memoryBytes === undefined) return wasm
    const segments = readSegments(wasm, data.bodyStart, data.end)
    if (!segments || segments.length < MIN_SEGMENTS) return wasm
    for (const seg of segments) if (seg.offset + seg.bytes.byteLength > memoryBytes) return wasm
    const merged = merge(segments)
    if (!merged || merged.length === segments.length) return wasm
    const section = encodeSection(merged)
    const out = new Uint8Array(wasm.byteLength - (data.end - data.start) + section.byteLength)
    out.set(wasm.subarray(0, data.start), 0)
    out.set(section, data.start)
    out.set(wasm.subarray(data.end), data.start + section.byteLength)
    return out
  } catch {
    return wasm
  }
}
