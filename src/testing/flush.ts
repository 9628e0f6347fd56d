/** Lets pending promise callbacks and I/O callbacks run. @module */

// Captured at import, as the host's system clock captures its timers: fake timers installed later
// (vitest/jest `useFakeTimers` replace `setImmediate`) must not stop the kit from settling.
const realSetImmediate = globalThis.setImmediate.bind(globalThis)
const realSetTimeout = globalThis.setTimeout.bind(globalThis)

/**
 * Resolves after the promise callbacks queued so far ran (one turn of the event loop).
 * @internal
 */
export function flush(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve))
}

/**
 * Resolves after `ms` milliseconds of real time (timers captured at import).
 * @internal
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, ms))
}
