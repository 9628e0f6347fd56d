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
  /** @internal the entries, in order; keys are lower case. */
  pairs: HeaderPair[]
  /** @internal counts changes made through the methods (and by plugins), so that unchanged headers can be left alone. */
  version = 0

  /**
   * @param init - entries: another map, `[name, value]` pairs, or a record (arrays become repeated entries)
   */
  constructor(init?: HeadersInit) {
    this.pairs = []
    if (init === undefined) return
    if (init instanceof HeaderMap) {
      this.pairs = init.pairs.map(([k, v]) => [k, v])
    } else if (Symbol.iterator in init) {
      for (const [k, v] of init as Iterable<readonly [string, string]>) this.pairs.push([k.toLowerCase(), String(v)])
    } else {
      for (const k in init) {
        const v = init[k]
        if (v === undefined) continue
        const key = k.toLowerCase()
        if (Array.isArray(v)) for (const x of v) this.pairs.push([key, String(x)])
        else this.pairs.push([key, String(v)])
      }
    }
  }

  /** @internal wraps already lower-cased pairs without copying. */
  static fromPairs(pairs: HeaderPair[]): HeaderMap {
    const m = new HeaderMap()
    m.pairs = pairs
    return m
  }

  /** Number of entries (repeated headers count once per entry). */
  get size(): number {
    return this.pairs.length
  }

  /** First value of `name`, or `undefined`. */
  get(name: string): string | undefined {
    const pairs = this.pairs
    for (let i = 0; i < pairs.length; i++) if (pairs[i]![0] === name) return pairs[i]![1]
    const key = name.toLowerCase()
    if (key === name) return undefined
    for (let i = 0; i < pairs.length; i++) if (pairs[i]![0] === key) return pairs[i]![1]
    return undefined
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const key = name.toLowerCase()
    const out: string[] = []
    for (const p of this.pairs) if (p[0] === key) out.push(p[1])
    return out
  }

  /** Whether `name` is present. */
  has(name: string): boolean {
    return this.get(name) !== undefined
  }

  /** Appends an entry (keeps existing values of the same name). */
  add(name: string, value: string): this {
    this.version++
    this.pairs.push([name.toLowerCase(), value])
    return this
  }

  /** Sets `name` to exactly `value`: the first entry is replaced in place, later ones removed; appended if absent. */
  set(name: string, value: string): this {
    const key = name.toLowerCase()
    this.version++
    let found = false
    this.pairs = this.pairs.filter((p) => {
      if (p[0] !== key) return true
      if (found) return false
      found = true
      p[1] = value
      return true
    })
    if (!found) this.pairs.push([key, value])
    return this
  }

  /** Removes every entry of `name`; returns whether any was removed. */
  delete(name: string): boolean {
    const key = name.toLowerCase()
    const before = this.pairs.length
    this.pairs = this.pairs.filter((p) => p[0] !== key)
    if (this.pairs.length === before) return false
    this.version++
    return true
  }

  /** Removes all entries. */
  clear(): void {
    this.version++
    this.pairs = []
  }

  /** Iterates `[name, value]` entries in order. */
  [Symbol.iterator](): Iterator<HeaderPair> {
    return this.pairs[Symbol.iterator]()
  }

  /** The entries as `[name, value]` pairs (a copy). */
  entries(): HeaderPair[] {
    return this.pairs.map(([k, v]) => [k, v])
  }

  /**
   * The entries as a record; repeated names become arrays.
   * @param options - `pseudo: false` leaves out `:`-prefixed entries
   */
  toObject(options: { pseudo?: boolean } = {}): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {}
    for (const [k, v] of this.pairs) {
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
