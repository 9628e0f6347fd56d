/**
 * Byte-level reading and writing of WebAssembly binaries: LEB128 integers, names, vectors.
 * @module
 */

/** Thrown when a module cannot be decoded or rewritten; the message says where and why. @internal */
export class RewriteError extends Error {
  /**
   * @param message - what and where
   * @param refusal - set when the module could be rewritten but must not run: it needs more memory
   * than the cap from the start (`memory-limit`), or it could block the thread (`blocking-wait`);
   * absent when the rewriter does not understand the module
   */
  constructor(message: string, readonly refusal?: 'memory-limit' | 'blocking-wait') {
    super(message)
    this.name = 'RewriteError'
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false })
const enc = new TextEncoder()
const PADDED_ZERO = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x00])

/** A cursor over module bytes. @internal */
export class Reader {
  pos: number
  constructor(
    readonly bytes: Uint8Array,
    pos = 0,
    readonly end = bytes.byteLength,
  ) {
    this.pos = pos
  }

  get done(): boolean {
    return this.pos >= this.end
  }

  fail(what: string): never {
    throw new RewriteError(`${what} at byte ${this.pos}`)
  }

  byte(): number {
    if (this.pos >= this.end) this.fail('unexpected end of data')
    return this.bytes[this.pos++]!
  }

  /** An unsigned LEB128 of at most 32 bits. */
  u32(): number {
    return this.unsigned(5, 'u32')
  }

  /** An unsigned LEB128 of at most 64 bits, as a number (exact up to 2^53: memory64 limits). */
  u64(): number {
    return this.unsigned(10, 'u64')
  }

  unsigned(maxBytes: number, what: string): number {
    let result = 0
    let shift = 0
    for (let i = 0; i < maxBytes; i++) {
      const b = this.byte()
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return result
      shift += 7
    }
    return this.fail(`${what} LEB128 too long`)
  }

  /** Skips a LEB128 of any width (signed or unsigned, up to 64 bits). */
  skipLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return
    this.fail('LEB128 too long')
  }

  /** A signed 33-bit LEB128 (block types); returned as a number. */
  s33(): number {
    let result = 0
    let shift = 0
    let b: number
    do {
      b = this.byte()
      result += (b & 0x7f) * 2 ** shift
      shift += 7
      if (shift > 35 && b & 0x80) this.fail('s33 LEB128 too long')
    } while (b & 0x80)
    if (b & 0x40) result -= 2 ** shift
    return result
  }

  skip(n: number): void {
    if (this.pos + n > this.end) this.fail('unexpected end of data')
    this.pos += n
  }

  slice(n: number): Uint8Array {
    const start = this.pos
    this.skip(n)
    return this.bytes.subarray(start, this.pos)
  }

  name(): string {
    const n = this.u32()
    return utf8.decode(this.slice(n))
  }
}

/** A growable output buffer. @internal */
export class Writer {
  #buf: Uint8Array
  length = 0

  constructor(capacity = 1024) {
    this.#buf = new Uint8Array(capacity)
  }

  #room(n: number): void {
    if (this.length + n <= this.#buf.byteLength) return
    let cap = this.#buf.byteLength * 2
    while (cap < this.length + n) cap *= 2
    const next = new Uint8Array(cap)
    next.set(this.#buf.subarray(0, this.length))
    this.#buf = next
  }

  byte(b: number): void {
    this.#room(1)
    this.#buf[this.length++] = b
  }

  /** An unsigned LEB128. */
  u32(v: number): void {
    this.#room(5)
    do {
      let b = v & 0x7f
      v = Math.floor(v / 128)
      if (v !== 0) b |= 0x80
      this.#buf[this.length++] = b
    } while (v !== 0)
  }

  /** A signed LEB128 of a 32-bit value. */
  s32(v: number): void {
    this.#room(5)
    v |= 0
    for (;;) {
      const b = v & 0x7f
      v >>= 7
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.#buf[this.length++] = b
        return
      }
      this.#buf[this.length++] = b | 0x80
    }
  }

  /** Overwrites the 5 bytes at `at` with `v` as a padded (fixed-width) unsigned LEB128. */
  patchU32(at: number, v: number): void {
    for (let i = 0; i < 4; i++) {
      this.#buf[at + i] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    this.#buf[at + 4] = v & 0x7f
  }

  /** Writes a placeholder for {@link Writer.patchU32}: 5 bytes, value 0. */
  slotU32(): number {
    const at = this.length
    this.bytes(PADDED_ZERO)
    return at
  }

  bytes(data: Uint8Array): void {
    this.#room(data.byteLength)
    this.#buf.set(data, this.length)
    this.length += data.byteLength
  }

  name(s: string): void {
    const b = enc.encode(s)
    this.u32(b.byteLength)
    this.bytes(b)
  }

  /** A length-prefixed copy of another writer's content. */
  sized(w: Writer): void {
    this.u32(w.length)
    this.bytes(w.result())
  }

  /** The bytes written so far (a view, not a copy). */
  result(): Uint8Array {
    return this.#buf.subarray(0, this.length)
  }
}
