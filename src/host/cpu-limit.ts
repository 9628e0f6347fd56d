/**
 * The CPU limit of guest calls (`limits.callbackTimeoutMs`), host side. Instrumented modules
 * (`wasm-rewrite` fuel pass) call {@link refueler} when their fuel runs out; the deadline of a call
 * starts when the fuel first runs out in it, so a call that ends before that never reads the clock.
 * Modules the rewriter cannot handle run under the {@link watchdog}: each call goes through
 * `vm.Script#runInContext` with a timeout (correct for any module, about 60–190 µs per call).
 * See `docs/adr/0001-cpu-limit.md`.
 * @module
 */
import { performance } from 'node:perf_hooks'
import vm from 'node:vm'
import type { WasmVm } from './vm.js'

/**
 * Fuel per refill, in units of about one instruction (the fuel pass charges the byte size of the
 * body at each function entry and loop head): a few milliseconds of guest work, so a call over its
 * limit is stopped at most a few milliseconds late and normal calls rarely refill.
 * @internal
 */
export const FUEL_BUDGET = 1 << 25

/** Default `limits.callbackTimeoutMs`. */
export const DEFAULT_CALLBACK_TIMEOUT_MS = 1000

/** How the CPU limit is enforced for a module. */
export type CpuLimitMode = 'fuel' | 'watchdog' | 'off'

/**
 * The `refuel` import for `vm`: a new budget while the current top-level call is within `limitMs`
 * (measured from the first refill in that call), else 0 (the guest then traps) with
 * `vm.cpuExceeded` set so that the trap is reported as `PWH_ERR_PLUGIN_CPU_LIMIT`.
 * @internal
 */
export function refueler(target: WasmVm, limitMs: number): () => number {
  let window = -1
  let since = 0
  return () => {
    const now = performance.now()
    if (window !== target.topCalls) {
      window = target.topCalls
      since = now
      return FUEL_BUDGET
    }
    if (now - since < limitMs) return FUEL_BUDGET
    target.cpuExceeded = true
    return 0
  }
}

/**
 * Wraps `fn` so that each call runs under a `vm.Script` timeout of `limitMs`; a call over it throws
 * `ERR_SCRIPT_EXECUTION_TIMEOUT` (the loop is interrupted, the process lives).
 * @internal
 */
export function watchdog(limitMs: number): <T>(run: () => T) => T {
  const context = vm.createContext({ run: undefined as undefined | (() => unknown), out: undefined as unknown })
  const script = new vm.Script('out = run()')
  return <T>(run: () => T): T => {
    context.run = run
    try {
      script.runInContext(context, { timeout: limitMs })
      return context.out as T
    } finally {
      context.run = undefined
      context.out = undefined
    }
  }
}

/** The exports of a watchdog-guarded VM: every function goes through `guard`. @internal */
export function guardExports<T extends Record<string, unknown>>(exports: T, guard: <R>(run: () => R) => R): T {
  const out: Record<string, unknown> = {}
  for (const [name, fn] of Object.entries(exports)) {
    out[name] = typeof fn === 'function' ? (...args: unknown[]) => guard(() => (fn as (...a: unknown[]) => unknown)(...args)) : fn
  }
  return out as T
}

/** Whether `err` is the watchdog's timeout. @internal */
export function isWatchdogTimeout(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT'
}
