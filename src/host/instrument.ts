/**
 * Which load-time passes a plugin module gets (fuel for the CPU limit, the memory cap), the
 * fallback when the rewriter cannot handle a module, and a process-wide cache of rewritten
 * binaries by SHA-256 (`serve --watch` and several hosts load the same bytes).
 * @module
 */
import { fuelPass, memoryCapPass, rewriteModule, RewriteError, snapshotExportsPass, WasmModule, type ImportEntry, type RewritePass, type SnapshotLayout } from './wasm-rewrite/index.js'
import { FUEL_BUDGET, type CpuLimitMode } from './cpu-limit.js'

/** What {@link instrument} made of a binary. @internal */
export interface Instrumented {
  /** The bytes to compile (the input itself when nothing was rewritten). */
  bytes: Uint8Array
  cpu: CpuLimitMode
  /** Whether the memory cap is in the binary. */
  memoryCapped: boolean
  /** The module's imports with their signatures, when the decoder read them. */
  imports: ImportEntry[] | undefined
  /** Why a fallback was taken, for a warn line. */
  note?: string
  /**
   * Start-up snapshots (`vm-snapshot.ts`): the export names of the mutable globals in `bytes`, or
   * why the module cannot be snapshotted.
   */
  snapshot: SnapshotLayout | string
}

const CACHE_ENTRIES = 16
const cache = new Map<string, Instrumented>()

/**
 * Rewrites `bytes` for the limits: fuel when `cpuLimitMs > 0`, the memory cap when
 * `maxMemoryBytes > 0`. A module whose code the rewriter does not understand keeps its code (the
 * CPU limit falls back to the watchdog) but still gets the memory cap when its sections decode.
 * @throws {@link RewriteError} with `refusal` when the module must not run (memory over the cap)
 * @internal
 */
export function instrument(bytes: Uint8Array, sha256: string, cpuLimitMs: number, maxMemoryBytes: number): Instrumented {
  const key = `${sha256}|${cpuLimitMs > 0}|${maxMemoryBytes}`
  const hit = cache.get(key)
  if (hit) {
    cache.delete(key)
    cache.set(key, hit)
    return hit
  }
  const result = build(bytes, cpuLimitMs, maxMemoryBytes)
  cache.set(key, result)
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!)
  return result
}

function build(bytes: Uint8Array, cpuLimitMs: number, maxMemoryBytes: number): Instrumented {
  let imports: ImportEntry[] | undefined
  try {
    imports = new WasmModule(bytes).imports
  } catch {
    imports = undefined
  }
  const memory = maxMemoryBytes > 0 ? [memoryCapPass(maxMemoryBytes)] : []
  // Every rewrite also exports the mutable globals, for start-up snapshots.
  let snapshot: SnapshotLayout | string = 'the module was not rewritten'
  const attempt = (passes: RewritePass[]) => {
    const snap = snapshotExportsPass()
    const out = rewriteModule(bytes, [snap, ...passes])
    snapshot = snap.result()
    return out
  }
  const result = (r: Omit<Instrumented, 'snapshot'>): Instrumented => ({ ...r, snapshot })
  if (cpuLimitMs <= 0 && memory.length === 0) {
    try {
      const out = attempt([])
      return result({ bytes: typeof snapshot === 'string' ? bytes : out, cpu: 'off', memoryCapped: false, imports })
    } catch (err) {
      if (!(err instanceof RewriteError)) throw err
      snapshot = `the module could not be rewritten (${err.message})`
      return result({ bytes, cpu: 'off', memoryCapped: false, imports })
    }
  }
  if (cpuLimitMs > 0) {
    try {
      return result({ bytes: attempt([...memory, fuelPass(FUEL_BUDGET)]), cpu: 'fuel', memoryCapped: memory.length > 0, imports })
    } catch (err) {
      if (!(err instanceof RewriteError) || err.refusal) throw err
      const note = `the CPU limit runs under the watchdog (about 60–190 µs per callback): ${err.message}`
      try {
        if (memory.length) return result({ bytes: attempt(memory), cpu: 'watchdog', memoryCapped: true, imports, note })
      } catch (err2) {
        if (!(err2 instanceof RewriteError) || err2.refusal) throw err2
        return result({ bytes, cpu: 'watchdog', memoryCapped: false, imports, note: `${note}; no memory cap: ${err2.message}` })
      }
      return result({ bytes, cpu: 'watchdog', memoryCapped: false, imports, note })
    }
  }
  try {
    return result({ bytes: attempt(memory), cpu: 'off', memoryCapped: true, imports })
  } catch (err) {
    if (!(err instanceof RewriteError) || err.refusal) throw err
    return result({ bytes, cpu: 'off', memoryCapped: false, imports, note: `no memory cap: ${err.message}` })
  }
}
