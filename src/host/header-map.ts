import type { HeaderPair } from '../abi/pairs.js'

/** Anything a {@link HeaderMap} can be built from. */
export type HeadersInit =
  | HeaderMap
  | Iterable<readonly [string, string]>
  | Record<string, string | readonly string[] | number | undefined>

/**
 * An ordered, case-insensitive, multi-value header map, as a proxy-wasm plugin sees it:
 * keys are lower-cased, repeated headers are separate entries, and pseudo-headers
 * (`:method :path :authority :scheme` on requests, `:status` on responses) are ordinary entries
 * that come first. Values are latin1 strings so that raw octets survive (Node's own convention).
 *
 * @example
 * ```ts
 * const h = new HeaderMap({ ':method': 'GET', ':path': '/', 'x-a': ['1', '2'] })
 * h.get('X-A')      // '1'
 * h.getAll('x-a')   // ['1', '2']
 * h.set('x-a', '3') // one entry left
 * ```
 */
export class HeaderMap implements Iterable<HeaderPair> {
  /**
   * @internal the entries, flat and in order: name, value, name, value… (names lower case). One
   * array of strings per map instead of an array per entry: header maps are made per request.
   */
  kv: string[]
  /** @internal counts changes made through the methods (and by plugins), so that unchanged headers can be left alone. */
  version = 0
  #pairs: HeaderPair[] | undefined
  #pairsVersion = -1

  /**
   * @param init - entries: another map, `[name, value]` pairs, or a record (arrays become repeated entries)
   */
  constructor(init?: HeadersInit) {
    const kv: string[] = []
    this.kv = kv
    if (init === undefined) return
    if (init instanceof HeaderMap) {
      this.kv = init.kv.slice()
    } else if (Array.isArray(init)) {
      for (let i = 0; i < init.length; i++) {
        const p = init[i] as readonly [string, string]
        kv.push(p[0].toLowerCase(), String(p[1]))
      }
    } else if (Symbol.iterator in init) {
      for (const [k, v] of init as Iterable<readonly [string, string]>) kv.push(k.toLowerCase(), String(v))
    } else {
      for (const k in init) {
        const v = init[k]
        if (v === undefined) continue
        const key = k.toLowerCase()
        if (Array.isArray(v)) for (const x of v) kv.push(key, String(x))
        else kv.push(key, String(v))
      }
    }
  }

  /** @internal wraps already lower-cased pairs (the strings are shared, not copied). */
  static fromPairs(pairs: readonly HeaderPair[]): HeaderMap {
    const m = new HeaderMap()
    const kv = m.kv
    for (let i = 0; i < pairs.length; i++) kv.push(pairs[i]![0], pairs[i]![1])
    return m
  }

  /** @internal wraps a flat `[name, value, …]` array of lower-cased names without copying. */
  static fromFlat(kv: string[]): HeaderMap {
    const m = new HeaderMap()
    m.kv = kv
    return m
  }

  /**
   * @internal the entries as `[name, value]` pairs, made on first read after a change (read-only:
   * edit through the methods, or assign a new array).
   */
  get pairs(): HeaderPair[] {
    if (this.#pairs !== undefined && this.#pairsVersion === this.version && this.#pairs.length * 2 === this.kv.length) return this.#pairs
    const kv = this.kv
    const out: HeaderPair[] = []
    for (let i = 0; i < kv.length; i += 2) out.push([kv[i]!, kv[i + 1]!])
    this.#pairs = out
    this.#pairsVersion = this.version
    return out
  }

  set pairs(pairs: HeaderPair[]) {
    const kv: string[] = []
    for (let i = 0; i < pairs.length; i++) kv.push(pairs[i]![0], pairs[i]![1])
    this.kv = kv
    this.#pairs = undefined
  }

  /** Number of entries (repeated headers count once per entry). */
  get size(): number {
    return this.kv.length >> 1
  }

  /** First value of `name`, or `undefined`. */
  get(name: string): string | undefined {
    const kv = this.kv
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === name) return kv[i + 1]
    const key = name.toLowerCase()
    if (key === name) return undefined
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === key) return kv[i + 1]
    return undefined
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const key = name.toLowerCase()
    const kv = this.kv
    const out: string[] = []
    for (let i = 0; i < kv.length; i += 2) if (kv[i] === key) out.push(kv[i + 1]!)
    return out
  }

  /** Whether `name` is present. */
  has(name: string): boolean {
    return this.get(name) !== undefined
  }

  /** Appends an entry (keeps existing values of the same name). */
  add(name: string, value: string): this {
    this.version++
    this.#pairs = undefined
    this.kv.push(name.toLowerCase(), value)
    return this
  }

  /** Sets `name` to exactly `value`: the first entry is replaced in place, later ones removed; appended if absent. */
  set(name: string, value: string): this {
    const key = name.toLowerCase()
    this.version++
    this.#pairs = undefined
    const kv = this.kv
    let found = false
    let w = 0
    for (let r = 0; r < kv.length; r += 2) {
      if (kv[r] === key) {
        if (found) continue
        found = true
        kv[w] = key
        kv[w + 1] = value
      } else if (w !== r) {
        kv[w] = kv[r]!
        kv[w + 1] = kv[r + 1]!
      }
      w += 2
    }
    kv.length = w
    if (!found) kv.push(key, value)
    return this
  }

  /** Removes every entry of `name`; returns whether any was removed. */
  delete(name: string): boolean {
    const key = name.toLowerCase()
    const kv = this.kv
    let w = 0
    for (let r = 0; r < kv.length; r += 2) {
      if (kv[r] === key) continue
      if (w !== r) {
        kv[w] = kv[r]!
        kv[w + 1] = kv[r + 1]!
      }
      w += 2
    }
    if (w === kv.length) return false
    kv.length = w
    this.version++
    this.#pairs = undefined
    return true
  }

  /** Removes all entries. */
  clear(): void {
    this.version++
    this.#pairs = undefined
    this.kv = []
  }

  /** Iterates `[name, value]` entries in order. */
  [Symbol.iterator](): Iterator<HeaderPair> {
    return this.pairs[Symbol.iterator]()
  }

  /** The entries as `[name, value]` pairs (a copy). */
  entries(): HeaderPair[] {
    const kv = this.kv
    const out: HeaderPair[] = []
    for (let i = 0; i < kv.length; i += 2) out.push([kv[i]!, kv[i + 1]!])
    return out
  }

  /**
   * The entries as a record; repeated names become arrays.
   * @param options - `pseudo: false` leaves out `:`-prefixed entries
   */
  toObject(options: { pseudo?: boolean } = {}): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {}
    const kv = this.kv
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i]!
      const v = kv[i + 1]!
      if (options.pseudo === false && k.startsWith(':')) continue
      const cur = out[k]
      if (cur === undefined) out[k] = v
      else if (Array.isArray(cur)) cur.push(v)
      else out[k] = [cur, v]
    }
    return out
  }

  /** A deep copy. */
  clone(): HeaderMap {
    return new HeaderMap(this)
  }

  /** `JSON.stringify` gives {@link HeaderMap.toObject} (repeated names as arrays, pseudo-headers included). */
  toJSON(): Record<string, string | string[]> {
    return this.toObject()
  }

  /** `console.log` / `util.inspect` show `HeaderMap { name: value, … }`. */
  [Symbol.for('nodejs.util.inspect.custom')](_depth: number, options: unknown, inspect: (v: unknown, o: unknown) => string): string {
    return `HeaderMap ${inspect(this.toObject(), options)}`
  }
}
