/**
 * What a header name or value may hold when a plugin writes it (RFC 9110 §5.1, §5.5): a name is a
 * token (or a `:` pseudo-header name), a value holds no control character but HTAB. CR and LF
 * would split the header block on the wire (response splitting, request smuggling); Node refuses
 * the rest with an exception (`ERR_INVALID_CHAR`, `ERR_INVALID_HTTP_TOKEN`) that would reset the
 * connection. Envoy's codecs refuse the same. Used by the header-map and local-reply hostcalls.
 * @module
 */
import type { GuestMemory } from '../../abi/memory.js'

/** {@link fieldText}'s answer for bytes a header name or value may not hold. @internal */
export const BAD_FIELD = false

const TOKEN = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1
const latin1 = new TextDecoder('latin1')

/** Whether byte `c` may appear in a header value: HTAB, SP … `~`, obs-text (0x80–0xFF). */
function valueByte(c: number): boolean {
  return c >= 0x20 ? c !== 0x7f : c === 0x09
}

/**
 * A header name (`name` true) or value to be written: the bytes `[ptr, ptr + len)` as latin1,
 * `undefined` when out of bounds, or {@link BAD_FIELD} when they hold what a name or value may not.
 * The check runs in the loop that decodes the bytes.
 * @internal
 */
export function fieldText(mem: GuestMemory, ptr: number, len: number, name: boolean): string | undefined | typeof BAD_FIELD {
  ptr >>>= 0
  len >>>= 0
  const b = mem.bytes
  const end = ptr + len
  if (end > b.byteLength) return undefined
  if (name) {
    if (len === 0) return BAD_FIELD
    let s = ''
    for (let i = ptr; i < end; i++) {
      const c = b[i]!
      if (TOKEN[c] === 0 && !(c === 0x3a && i === ptr && len > 1)) return BAD_FIELD
      s += String.fromCharCode(c)
    }
    return s
  }
  if (len <= 64) {
    let s = ''
    for (let i = ptr; i < end; i++) {
      const c = b[i]!
      if (c < 0x20 ? c !== 0x09 : c === 0x7f) return BAD_FIELD
      s += String.fromCharCode(c)
    }
    return s
  }
  const v = b.subarray(ptr, end)
  for (let i = 0; i < v.byteLength; i++) if (!valueByte(v[i]!)) return BAD_FIELD
  return latin1.decode(v)
}

const BAD_NAME = /^(?!:?[!#$%&'*+\-.^_`|~0-9A-Za-z]+$)/
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/

/** What is wrong with a decoded header, for a warn line; `undefined` when it may be written. @internal */
export function fieldProblem(name: string, value: string): string | undefined {
  if (BAD_NAME.test(name)) return 'the name is not an HTTP token'
  if (BAD_VALUE.test(value)) return 'the value holds a control character (CR, LF, NUL …)'
  return undefined
}
