/**
 * RESP framing without decoding: where one complete reply ends in a byte stream, and the command
 * name and arguments of a query (for cluster slot routing). The bytes themselves are never
 * rebuilt: queries go to Redis as the plugin wrote them and replies come back as Redis sent them.
 * @module
 */

const CR = 13
const LF = 10

/** Index just past the CRLF that ends the line starting at `at`, or -1 when incomplete. */
function lineEnd(buf: Uint8Array, at: number): number {
  for (let i = at; i < buf.length - 1; i++) {
    if (buf[i] === CR && buf[i + 1] === LF) return i + 2
  }
  return -1
}

/** The integer of a `<type><digits>\r\n` header line `[at, end)`; NaN when malformed. */
function headerInt(buf: Uint8Array, at: number, end: number): number {
  let s = ''
  for (let i = at + 1; i < end - 2; i++) s += String.fromCharCode(buf[i]!)
  return /^-?\d+$/.test(s) ? Number(s) : NaN
}

/**
 * Finds the end of the RESP2/RESP3 value that starts at `at`.
 * @param buf - received bytes
 * @param at - where the value starts
 * @returns the index just past the value, -1 when more bytes are needed, or -2 when the bytes are
 * not RESP (the connection must then be dropped)
 */
export function frameEnd(buf: Uint8Array, at = 0): number {
  if (at >= buf.length) return -1
  const end = lineEnd(buf, at)
  if (end < 0) return -1
  switch (buf[at]) {
    case 0x2b: // + simple string
    case 0x2d: // - error
    case 0x3a: // : integer
    case 0x5f: // _ null (RESP3)
    case 0x2c: // , double
    case 0x23: // # boolean
    case 0x28: // ( big number
      return end
    case 0x24: // $ bulk string
    case 0x21: // ! bulk error
    case 0x3d: { // = verbatim string
      const n = headerInt(buf, at, end)
      if (Number.isNaN(n)) return -2
      if (n < 0) return end
      return end + n + 2 <= buf.length ? end + n + 2 : -1
    }
    case 0x2a: // * array
    case 0x7e: // ~ set
    case 0x3e: // > push
    case 0x25: // % map
    case 0x7c: { // | attribute (followed by the value it annotates)
      let n = headerInt(buf, at, end)
      if (Number.isNaN(n)) return -2
      if (n < 0) return end
      if (buf[at] === 0x25 || buf[at] === 0x7c) n *= 2
      let p = end
      for (let i = 0; i < n; i++) {
        p = frameEnd(buf, p)
        if (p < 0) return p
      }
      return buf[at] === 0x7c ? frameEnd(buf, p) : p
    }
    default:
      return -2
  }
}

/**
 * Splits a byte stream into complete RESP values, keeping the unfinished tail for the next chunk.
 * @internal
 */
export class FrameSplitter {
  #pending: Buffer | undefined

  /**
   * Adds received bytes.
   * @returns the complete values in arrival order (each a copy), or `undefined` when the stream is not RESP
   */
  push(chunk: Buffer): Buffer[] | undefined {
    const buf = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk
    const out: Buffer[] = []
    let at = 0
    for (;;) {
      const end = frameEnd(buf, at)
      if (end === -2) {
        this.#pending = undefined
        return undefined
      }
      if (end === -1) break
      out.push(Buffer.from(buf.subarray(at, end)))
      at = end
    }
    this.#pending = at < buf.length ? Buffer.from(buf.subarray(at)) : undefined
    return out
  }

  /** Forgets a partial value (the connection was replaced). */
  reset(): void {
    this.#pending = undefined
  }
}

/** A query's command name (lower-case) and arguments. */
export interface ParsedCommand {
  /** Command name, lower-case (`get`, `eval` …). */
  name: string
  /** Arguments as raw bytes. */
  args: Buffer[]
}

/**
 * Reads the command of a query: exactly one RESP array of bulk strings (what every SDK sends), or
 * an inline command (`PING\r\n`).
 * @returns the command, or `undefined` when `query` is not exactly one well-formed command
 */
export function parseCommand(query: Buffer): ParsedCommand | undefined {
  if (query.length === 0) return undefined
  if (query[0] !== 0x2a) {
    // Inline command: words separated by spaces, one line.
    const end = lineEnd(query, 0)
    if (end !== query.length) return undefined
    const words = query.subarray(0, end - 2).toString('latin1').split(' ').filter(Boolean)
    if (words.length === 0) return undefined
    return { name: words[0]!.toLowerCase(), args: words.slice(1).map((w) => Buffer.from(w, 'latin1')) }
  }
  if (frameEnd(query, 0) !== query.length) return undefined
  const first = lineEnd(query, 0)
  const n = headerInt(query, 0, first)
  if (!(n > 0)) return undefined
  const parts: Buffer[] = []
  let p = first
  for (let i = 0; i < n; i++) {
    if (query[p] !== 0x24) return undefined
    const e = lineEnd(query, p)
    const len = headerInt(query, p, e)
    if (!(len >= 0)) return undefined
    parts.push(query.subarray(e, e + len))
    p = e + len + 2
  }
  return { name: parts[0]!.toString('latin1').toLowerCase(), args: parts.slice(1) }
}

/** A RESP simple error (`-<message>\r\n`); the message must not contain CR or LF. @internal */
export function respError(message: string): Buffer {
  return Buffer.from(`-${message.replace(/[\r\n]+/g, ' ')}\r\n`, 'latin1')
}
