/**
 * The pairs encoding of header maps (ABI §5.2):
 * `u32 N`, then N × (`u32 key_len`, `u32 value_len`), then `key\0value\0` for each pair.
 * Keys and values are kept as latin1 strings so that any octet survives the round trip.
 * @module
 */
import { PAIRS_MAX_BYTES, PAIRS_MAX_COUNT } from './limits.js'

/** A header name and value, both latin1 strings. */
export type HeaderPair = [name: string, value: string]

/** Bytes needed to serialize a flat `[name, value, …]` list. */
export function pairsSizeFlat(kv: readonly string[]): number {
  let size = 4 + 5 * kv.length
  for (let i = 0; i < kv.length; i++) size += kv[i]!.length
  return size
}

/**
 * Serializes a flat `[name, value, …]` list into `out` at `offset` (which must have
 * {@link pairsSizeFlat} bytes free), written with `dv` (a view of the whole of `out`, so that no
 * view is made per call).
 */
export function writePairsFlat(kv: readonly string[], out: Uint8Array, dv: DataView, offset: number): void {
  const n = kv.length >> 1
  dv.setUint32(offset, n, true)
  let p = offset + 4 + 8 * n
  for (let i = 0; i < n; i++) {
    const k = kv[2 * i]!
    const v = kv[2 * i + 1]!
    dv.setUint32(offset + 4 + 8 * i, k.length, true)
    dv.setUint32(offset + 8 + 8 * i, v.length, true)
    for (let j = 0; j < k.length; j++) out[p++] = k.charCodeAt(j) & 0xff
    out[p++] = 0
    for (let j = 0; j < v.length; j++) out[p++] = v.charCodeAt(j) & 0xff
    out[p++] = 0
  }
}

/** Serializes `pairs` into a new buffer. */
export function encodePairs(pairs: readonly HeaderPair[]): Uint8Array {
  const kv = pairs.flat()
  const out = new Uint8Array(pairsSizeFlat(kv))
  writePairsFlat(kv, out, new DataView(out.buffer), 0)
  return out
}

const latin1 = new TextDecoder('latin1')

/**
 * Parses serialized pairs. Empty input, a single `0x00` byte, or `N = 0` is an empty map.
 * Malformed input (sizes not matching, missing `0x00` terminators, over the caps) returns
 * `undefined`; cpp-host treats that as an empty map, the caller decides.
 */
export function decodePairs(bytes: Uint8Array): HeaderPair[] | undefined {
  if (bytes.byteLength === 0 || (bytes.byteLength === 1 && bytes[0] === 0)) return []
  if (bytes.byteLength < 4 || bytes.byteLength > PAIRS_MAX_BYTES) return undefined
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const n = dv.getUint32(0, true)
  if (n > PAIRS_MAX_COUNT) return undefined
  let p = 4 + 8 * n
  if (p > bytes.byteLength) return undefined
  const out: HeaderPair[] = []
  for (let i = 0; i < n; i++) {
    const kl = dv.getUint32(4 + 8 * i, true)
    const vl = dv.getUint32(8 + 8 * i, true)
    if (p + kl + vl + 2 > bytes.byteLength) return undefined
    if (bytes[p + kl] !== 0 || bytes[p + kl + 1 + vl] !== 0) return undefined
    const k = latin1.decode(bytes.subarray(p, p + kl))
    const v = latin1.decode(bytes.subarray(p + kl + 1, p + kl + 1 + vl))
    out.push([k, v])
    p += kl + vl + 2
  }
  return p === bytes.byteLength ? out : undefined
}
