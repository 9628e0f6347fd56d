/**
 * The host's clock: every time a plugin reads (WASI clocks, `proxy_get_current_time_nanoseconds`,
 * request timestamps) and every timer it sets (ticks) goes through one {@link Clock}, so that an
 * embedder or the test kit can replace it (product seam "the clock, timers").
 * @module
 */

/** A timer started by {@link Clock.setTimer}. */
export interface ClockTimer {
  /** Stops the timer; its function will not run. Idempotent. */
  cancel(): void
}

/**
 * Time source and timers of a host.
 *
 * @example
 * ```ts
 * const host = new WasmPluginHost({ clock: systemClock })
 * ```
 */
export interface Clock {
  /** Wall-clock time in milliseconds since the Unix epoch. */
  now(): number
  /** Wall-clock time in nanoseconds since the Unix epoch (WASI clock 0). */
  realtimeNs(): bigint
  /**
   * Monotonic time in nanoseconds (WASI clock 1). Never 0 and never decreasing: Go's runtime stops
   * with `nanotime returning zero` otherwise.
   */
  monotonicNs(): bigint
  /**
   * Runs `fn` once after `ms` milliseconds. The timer must not keep the process alive on its own.
   * @param fn - what to run
   * @param ms - delay in milliseconds
   * @returns a handle that cancels the timer
   */
  setTimer(fn: () => void, ms: number): ClockTimer
}

// Captured when the library is imported, so that fake timers installed later (vitest/jest
// `useFakeTimers`, which replace `process.hrtime`, `Date` and `setTimeout`) never reach plugins.
const hrtime = process.hrtime.bigint.bind(process.hrtime)
const dateNow = Date.now.bind(Date)
const realSetTimeout = globalThis.setTimeout.bind(globalThis)
const realClearTimeout = globalThis.clearTimeout.bind(globalThis)
const NS_ORIGIN = BigInt(dateNow()) * 1_000_000n - hrtime()
let lastMonotonic = 0n

/** The real clock: Node's `process.hrtime` and timers, as they were when the library was imported. */
export const systemClock: Clock = {
  now: dateNow,
  realtimeNs: () => hrtime() + NS_ORIGIN,
  monotonicNs: () => {
    let t = hrtime()
    if (t <= lastMonotonic) t = lastMonotonic + 1n
    lastMonotonic = t
    return t
  },
  setTimer(fn, ms) {
    const t = realSetTimeout(fn, ms)
    t.unref?.()
    return { cancel: () => realClearTimeout(t) }
  },
}
