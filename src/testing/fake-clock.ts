/**
 * A fake {@link Clock}: time stands still until the test moves it, and the timers plugins set
 * (ticks) and the host sets (pause timeout, callout timeouts) run when it is moved past them.
 * @module
 */
import type { Clock, ClockTimer } from '../host/clock.js'
import { flush } from './flush.js'

/** Options of {@link createFakeClock}. */
export interface FakeClockOptions {
  /** Wall-clock start, ms since the epoch or a `Date` (default 2025-01-01T00:00:00Z). */
  now?: number | Date
}

/** A {@link Clock} the test moves with {@link FakeClock.advance}. */
export interface FakeClock extends Clock {
  /** Always true: tells a fake clock from a real one. */
  readonly fake: true
  /**
   * Moves time forward by `ms`, running every timer that falls due on the way, in order of due
   * time (then of arming). A timer armed while advancing (a tick re-armed after `proxy_on_tick`
   * returned) runs too when it falls due before the end. Pending promise callbacks run after each
   * timer, so that a callout answered or a stream resumed by one timer is settled before the next.
   * @param ms - milliseconds, >= 0
   * @returns how many timers ran
   */
  advance(ms: number): Promise<number>
  /** How many timers are armed. */
  readonly pendingTimers: number
  /** When the next timer falls due (ms since the epoch), or `undefined` when none is armed. */
  readonly nextTimerAt: number | undefined
}

/** 2025-01-01T00:00:00Z, the default start of a fake clock. */
export const FAKE_CLOCK_START = Date.UTC(2025, 0, 1)

interface Timer {
  due: number
  seq: number
  fn: () => void
}

/**
 * Creates a fake clock. Monotonic time starts at 1 s (never 0: Go's runtime stops on a zero
 * `nanotime`) and moves with the wall clock; each read adds 1 ns so that it never repeats.
 * @param options - start time
 * @returns the clock
 * @example
 * ```ts
 * const clock = createFakeClock({ now: Date.UTC(2025, 0, 1) })
 * const host = new WasmPluginHost({ clock })
 * await clock.advance(1000) // due ticks run
 * ```
 */
export function createFakeClock(options: FakeClockOptions = {}): FakeClock {
  const start = options.now instanceof Date ? options.now.getTime() : (options.now ?? FAKE_CLOCK_START)
  let nowMs = start
  let monoExtra = 0n
  let seq = 0
  let timers: Timer[] = []
  const elapsedNs = () => BigInt(Math.round((nowMs - start) * 1e6))
  const clock: FakeClock = {
    fake: true,
    now: () => nowMs,
    realtimeNs: () => BigInt(Math.round(nowMs * 1e6)),
    monotonicNs: () => 1_000_000_000n + elapsedNs() + ++monoExtra,
    setTimer(fn, ms) {
      // As Node's setTimeout: a delay under 1 ms is 1 ms (so that a timer re-armed with 0 cannot
      // spin forever inside one advance).
      const t: Timer = { due: nowMs + Math.max(1, Number(ms) || 0), seq: seq++, fn }
      timers.push(t)
      const handle: ClockTimer = { cancel: () => void (timers = timers.filter((x) => x !== t)) }
      return handle
    },
    async advance(ms) {
      if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`advance(ms) needs a finite number >= 0, got ${ms}`)
      const target = nowMs + ms
      let ran = 0
      await flush()
      for (;;) {
        let next: Timer | undefined
        for (const t of timers) if (t.due <= target && (!next || t.due < next.due || (t.due === next.due && t.seq < next.seq))) next = t
        if (!next) break
        timers = timers.filter((x) => x !== next)
        nowMs = Math.max(nowMs, next.due)
        next.fn()
        ran++
        await flush()
      }
      nowMs = target
      await flush()
      return ran
    },
    get pendingTimers() {
      return timers.length
    },
    get nextTimerAt() {
      let min: number | undefined
      for (const t of timers) if (min === undefined || t.due < min) min = t.due
      return min
    },
  }
  return clock
}

/**
 * Whether `clock` is a {@link FakeClock}.
 * @param clock - any clock
 * @returns true for a fake clock
 * @example
 * ```ts
 * if (isFakeClock(t.clock)) await t.clock.advance(1000)
 * ```
 */
export function isFakeClock(clock: Clock): clock is FakeClock {
  return (clock as Partial<FakeClock>).fake === true && typeof (clock as Partial<FakeClock>).advance === 'function'
}
