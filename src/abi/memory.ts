/**
 * Bounds-checked access to a guest's linear memory.
 * Every `(ptr, len)` the guest hands over is checked here; an out-of-range access yields
 * `undefined`/`false` so the hostcall can answer `InvalidMemoryAccess` (ABI §2) instead of throwing.
 * @module
 */

const latin1 = new TextDecoder('latin1')
const utf8 = new TextDecoder('utf-8')

/**
 * A view over guest memory that follows memory growth: `memory.buffer` is re-read whenever it was
 * detached by `memory.grow` (ABI §5.1: every call into the guest may grow memory).
 * @internal
 */
export class GuestMemory {
  #memory: WebAssembly.Memory | undefined
  #buffer: ArrayBuffer | undefined
  #shared = false
  #u8: Uint8Array = new Uint8Array(0)
  #dv: DataView = new DataView(new ArrayBuffer(0))

  constructor(memory?: WebAssembly.Memory) {
    this.#memory = memory
  }

  /** Binds the memory once the instance exists. */
  attach(memory: WebAssembly.Memory): void {
    this.#memory = memory
    this.#u8 = new Uint8Array(0)
  }

  /** Size of memory in bytes. */
  get byteLength(): number {
    return this.bytes.byteLength
  }

  /** The current bytes of guest memory. */
  get bytes(): Uint8Array {
    // Growing memory detaches the old buffer (its views then read zero bytes), so `memory.buffer`
    // (a costly getter) is read again only then. Shared memory never detaches: always re-read.
    if (this.#u8.byteLength !== 0 && !this.#shared) return this.#u8
    const b = this.#memory?.buffer as ArrayBuffer | undefined
    if (b === undefined) return this.#u8
    if (b !== this.#buffer) {
      this.#buffer = b
      this.#shared = typeof SharedArrayBuffer !== 'undefined' && (b as unknown) instanceof SharedArrayBuffer
      this.#u8 = new Uint8Array(b)
      this.#dv = new DataView(b)
    }
    return this.#u8
  }

  /** A little-endian view of the whole current memory (re-made only after growth, as {@link GuestMemory.bytes}). */
  get dataView(): DataView {
    void this.bytes
    return this.#dv
  }

  get #view(): DataView {
    void this.bytes
    return this.#dv
  }

  /** Whether `[ptr, ptr + len)` lies inside memory (both read as unsigned). */
  inBounds(ptr: number, len: number): boolean {
    return (ptr >>> 0) + (len >>> 0) <= this.bytes.byteLength
  }

  /** A view of `[ptr, ptr + len)`, or `undefined` when out of bounds. Not a copy: copy before the next guest call. */
  view(ptr: number, len: number): Uint8Array | undefined {
    ptr >>>= 0
    len >>>= 0
    const b = this.bytes
    if (ptr + len > b.byteLength) return undefined
    return b.subarray(ptr, ptr + len)
  }

  /** A copy of `[ptr, ptr + len)`, or `undefined` when out of bounds. */
  copy(ptr: number, len: number): Buffer | undefined {
    const v = this.view(ptr, len)
    return v === undefined ? undefined : Buffer.from(v)
  }

  /** Bytes decoded one byte per character (header names and values keep raw octets). */
  latin1(ptr: number, len: number): string | undefined {
    ptr >>>= 0
    len >>>= 0
    const b = this.bytes
    if (ptr + len > b.byteLength) return undefined
    // Header names and values are short: a loop beats TextDecoder's call overhead.
    if (len <= 64) {
      let s = ''
      for (let i = ptr; i < ptr + len; i++) s += String.fromCharCode(b[i]!)
      return s
    }
    return latin1.decode(b.subarray(ptr, ptr + len))
  }

  /** Bytes decoded as UTF-8 (log messages, property paths). */
  utf8(ptr: number, len: number): string | undefined {
    const v = this.view(ptr, len)
    return v === undefined ? undefined : utf8.decode(v)
  }

  /** Writes a little-endian u32; `false` when out of bounds. */
  setU32(ptr: number, value: number): boolean {
    ptr >>>= 0
    const dv = this.#view
    if (ptr + 4 > dv.byteLength) return false
    dv.setUint32(ptr, value >>> 0, true)
    return true
  }

  /** Reads a little-endian u32, or `undefined` when out of bounds. */
  getU32(ptr: number): number | undefined {
    ptr >>>= 0
    const dv = this.#view
    if (ptr + 4 > dv.byteLength) return undefined
    return dv.getUint32(ptr, true)
  }

  /** Writes a little-endian u64; `false` when out of bounds. */
  setU64(ptr: number, value: bigint): boolean {
    ptr >>>= 0
    const dv = this.#view
    if (ptr + 8 > dv.byteLength) return false
    dv.setBigUint64(ptr, BigInt.asUintN(64, value), true)
    return true
  }

  /** Copies `data` to `ptr`; `false` when out of bounds. */
  set(ptr: number, data: Uint8Array): boolean {
    ptr >>>= 0
    const b = this.bytes
    if (ptr + data.byteLength > b.byteLength) return false
    b.set(data, ptr)
    return true
  }
}
