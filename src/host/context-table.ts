/**
 * The live contexts of one VM by id: a `Map`-like table tuned for what a VM sees (ids only grow,
 * ABI §4.12; stream contexts come and go one request at a time; roots live long).
 * @module
 */
import type { ContextBase } from './context.js'

/** Past this many ids, the window stops waiting for its oldest live context (it moves aside). */
const WINDOW = 1024

/**
 * Live contexts by id. Stream contexts sit in a window array indexed by `id - base`, which a
 * request-after-request workload keeps short: a `Map` insert and delete per stream cost about as
 * much as the rest of a plugin's fixed per-request work. Root contexts, and stream contexts that
 * outlive `WINDOW` newer ones, go to a `Map`. Iteration visits the `Map` first, then the window in
 * id order.
 * @internal
 */
export class ContextTable implements Iterable<[number, ContextBase]> {
  #base = 0
  #head = 0
  #window: Array<ContextBase | undefined> = []
  #inWindow = 0
  #aside: Map<number, ContextBase> | undefined

  /** Number of live contexts. */
  get size(): number {
    return this.#inWindow + (this.#aside === undefined ? 0 : this.#aside.size)
  }

  /** The context with `id`, or `undefined`. */
  get(id: number): ContextBase | undefined {
    const i = id - this.#base
    if (i >= this.#head && i < this.#window.length) {
      const c = this.#window[i]
      if (c !== undefined) return c
    }
    return this.#aside?.get(id)
  }

  /** Whether a context with `id` is live. */
  has(id: number): boolean {
    return this.get(id) !== undefined
  }

  /** Adds (or replaces) the context with `id`. */
  set(id: number, ctx: ContextBase): this {
    const w = this.#window
    if (this.#inWindow === 0) {
      // An empty window starts again at this id (its array, all holes, is reused).
      this.#base = id
      this.#head = 0
    }
    const i = id - this.#base
    if (ctx.isRoot || i < this.#head) {
      this.#delete(id)
      ;(this.#aside ??= new Map()).set(id, ctx)
      return this
    }
    while (w.length < i) w.push(undefined)
    if (i === w.length) w.push(ctx)
    else if (w[i] === undefined) w[i] = ctx
    else {
      w[i] = ctx
      this.#inWindow--
    }
    this.#inWindow++
    // A context that stays while many newer ones come and go moves aside, so the window stays short.
    while (this.#window.length - this.#head > WINDOW && this.#inWindow !== 0) {
      const win = this.#window
      const old = win[this.#head]
      if (old !== undefined) {
        ;(this.#aside ??= new Map()).set(this.#base + this.#head, old)
        win[this.#head] = undefined
        this.#inWindow--
      }
      this.#advance()
    }
    return this
  }

  /** Removes the context with `id`; whether it was there. */
  delete(id: number): boolean {
    return this.#delete(id)
  }

  #delete(id: number): boolean {
    const w = this.#window
    const i = id - this.#base
    if (i >= this.#head && i < w.length && w[i] !== undefined) {
      w[i] = undefined
      this.#inWindow--
      if (this.#inWindow !== 0 && i === this.#head) this.#advance()
      return true
    }
    return this.#aside !== undefined && this.#aside.delete(id)
  }

  /** Moves the head past dead entries, and drops them from the array once they are many. */
  #advance(): void {
    const w = this.#window
    while (this.#head < w.length && w[this.#head] === undefined) this.#head++
    if (this.#head >= 64 && this.#head * 2 >= w.length) {
      this.#window = w.slice(this.#head)
      this.#base += this.#head
      this.#head = 0
    }
  }

  /** The live contexts (a snapshot: contexts may come and go while it is visited). */
  values(): IterableIterator<ContextBase> {
    const out: ContextBase[] = this.#aside === undefined ? [] : [...this.#aside.values()]
    const w = this.#window
    for (let i = this.#head; i < w.length; i++) {
      const c = w[i]
      if (c !== undefined) out.push(c)
    }
    return out.values()
  }

  /** `[id, context]` pairs (a snapshot). */
  [Symbol.iterator](): IterableIterator<[number, ContextBase]> {
    return [...this.values()].map((c): [number, ContextBase] => [c.id, c]).values()
  }
}
