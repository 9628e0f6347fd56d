/** The list of calls a recorder saw, in order, with waiting for the next one. @module */
import { ProxyWasmHostError } from '../errors.js'
import type { Clock } from '../host/clock.js'
import { isFakeClock } from './fake-clock.js'

/** State of a recorded call. */
export type CallState = 'pending' | 'answered' | 'cancelled'

/** What every recorded call has. */
export interface RecordedCall {
  /** `pending` until the test answers it; `cancelled` when the host gave up on it (timeout, root shut down). */
  readonly state: CallState
}

/**
 * Every call a recorder saw, oldest first (answered ones stay, so indexes never move), with
 * helpers for the ones still pending.
 *
 * @example
 * ```ts
 * const pending = t.request({ path: '/' })
 * const call = await t.httpCalls.next()   // or t.httpCalls[0], t.httpCalls.last
 * await call.respond({ status: 200 })
 * t.httpCalls.pending                     // []
 * ```
 */
export class CallList<T extends RecordedCall> extends Array<T> {
  readonly #waiters: Array<(call: T) => void> = []

  // map/filter/slice give plain arrays.
  static override get [Symbol.species](): ArrayConstructor {
    return Array
  }

  /** Calls not answered yet, oldest first. */
  get pending(): T[] {
    return this.filter((c) => c.state === 'pending')
  }

  /** The newest call, if any. */
  get last(): T | undefined {
    return this[this.length - 1]
  }

  /**
   * The next call to arrive, or the oldest pending one when there is one already.
   * @returns a promise of the call
   */
  next(): Promise<T> {
    const p = this.find((c) => c.state === 'pending' && !claimed.has(c))
    if (p) {
      claimed.add(p)
      return Promise.resolve(p)
    }
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** @internal records a new call. */
  record(call: T): void {
    this.push(call)
    const w = this.#waiters.shift()
    if (w) {
      claimed.add(call)
      w(call)
    }
  }
}

// Calls already handed out by next(), so that two next() calls give two different calls.
const claimed = new WeakSet<object>()

/** Shared settle-once logic of recorded calls. @internal */
export class Settle<R> {
  state: CallState = 'pending'
  readonly #resolve: (r: R) => void
  readonly promise: Promise<R>
  readonly #what: string

  constructor(what: string, signal: AbortSignal | undefined) {
    this.#what = what
    let resolve!: (r: R) => void
    this.promise = new Promise<R>((r) => (resolve = r))
    this.#resolve = resolve
    signal?.addEventListener('abort', () => {
      if (this.state === 'pending') this.state = 'cancelled'
    }, { once: true })
  }

  /** @throws `PWH_ERR_TESTING_CALL_SETTLED` when the call was answered or cancelled before */
  settle(r: R): void {
    this.check()
    this.state = 'answered'
    this.#resolve(r)
  }

  /** @throws `PWH_ERR_TESTING_CALL_SETTLED` unless the call is pending */
  check(): void {
    if (this.state !== 'pending') {
      throw new ProxyWasmHostError('PWH_ERR_TESTING_CALL_SETTLED',
        this.state === 'answered'
          ? `${this.#what} was already answered; answer each call once`
          : `${this.#what} was cancelled by the host (its timeout passed or its root context shut down) before the test answered it`)
    }
  }
}

/**
 * Lets a recorded call's timeout pass. The host enforces the plugin's timeout on its clock: with a
 * fake clock the clock moves to the call's deadline (the host then answers the plugin); with a real
 * clock this waits until the host gave up on the call.
 * @param noTimeout - the message when the call has none, e.g. `HTTP call 4 to x has no timeout (timeout_ms 0) …`
 * @throws `PWH_ERR_TESTING_CALL_SETTLED` unless the call is pending; `PWH_ERR_TESTING_CALL_NO_TIMEOUT`
 * when it has no timeout (`timeoutMs` 0)
 * @internal
 */
export async function timeOut(settle: Settle<unknown>, call: { timeoutMs: number; signal: AbortSignal }, clock: Clock, startedAt: number, noTimeout: string): Promise<void> {
  settle.check()
  if (call.timeoutMs === 0) throw new ProxyWasmHostError('PWH_ERR_TESTING_CALL_NO_TIMEOUT', noTimeout)
  if (isFakeClock(clock)) {
    await clock.advance(Math.max(0, startedAt + call.timeoutMs - clock.now()))
  } else if (!call.signal.aborted) {
    await new Promise<void>((resolve) => call.signal.addEventListener('abort', () => resolve(), { once: true }))
  }
}
