/**
 * Start-up snapshots (`docs/adr/0023-vm-start.md`): the linear memory and mutable globals of the
 * first VM of a compiled module, taken right after its start-up code (`_initialize` [+ `main`] or
 * `_start`) and before any root context callback, restored into later VMs of the same module, WASI
 * settings and clock instead of running start-up again. The root context then starts as usual.
 *
 * Taken only when start-up stayed inside the module: its calls out were limited to clocks,
 * randomness, environment and arguments, and a few fixed answers (`fd_prestat_get`,
 * `fd_fdstat_get`, `fd_fdstat_set_flags`, `sched_yield`, `poll_oneoff`); no proxy-wasm hostcall, no output (a VM that
 * prints at start-up prints again in every VM, as in Envoy), and the start function (run while
 * instantiating) called nothing. The fuel counter of the CPU limit is not part of it: a restored VM
 * starts with a full budget.
 * @module
 */
import type { Clock } from './clock.js'
import { FUEL_IMPORT, type SnapshotLayout } from './wasm-rewrite/index.js'

/** The snapshots of one compiled module. @internal */
export interface SnapshotPlan {
  layout: SnapshotLayout
  /** By clock and WASI settings; a string: why start-up cannot be snapshotted (it is not tried again). */
  readonly taken: Map<string, Snapshot | string>
}

/** One VM's state after start-up. @internal */
export interface Snapshot {
  /** Memory size in pages. */
  pages: number
  /** The 4 KiB chunks of memory start-up changed, merged into runs. */
  runs: Array<{ offset: number; bytes: Uint8Array }>
  /** Values of the mutable globals, in {@link SnapshotLayout.globals} order. */
  globals: Array<number | bigint>
  /**
   * The clock's monotonic time when it was taken: a restored VM's WASI monotonic clock goes on from
   * here, so that its runtime sees no more time since start-up than a freshly started VM does (Go
   * times its periodic work, e.g. returning memory, from start-up).
   */
  monotonicNs: bigint
}

/** @internal a plan for a module whose layout the rewriter produced. */
export function snapshotPlan(layout: SnapshotLayout): SnapshotPlan {
  return { layout, taken: new Map() }
}

/** WASI functions start-up may call for a snapshot to be taken: they read, and change nothing outside the VM. */
const ALLOWED = new Set([
  'clock_time_get', 'clock_res_get', 'random_get', 'environ_sizes_get', 'environ_get', 'args_sizes_get', 'args_get',
  'sched_yield', 'poll_oneoff', 'fd_prestat_get', 'fd_fdstat_get', 'fd_fdstat_set_flags',
])

const clockIds = new WeakMap<Clock, number>()
let nextClockId = 0

/** The key of a VM's snapshot in its plan: same clock, same WASI settings (environment, arguments). @internal */
export function snapshotKey(clock: Clock, wasiKey: string): string {
  let id = clockIds.get(clock)
  if (id === undefined) clockIds.set(clock, (id = nextClockId++))
  return `${id}|${wasiKey}`
}

/**
 * Watches the calls out of a VM while it starts: every function import except the fuel refill is
 * wrapped, for the first VM only (when the snapshot is taken, that VM is dropped and the one that
 * serves is restored from it with the plain imports, so no request pays for the wrappers); {@link StartWatch.allowed} tells whether start-up stayed inside the module.
 * @internal
 */
export class StartWatch {
  #on = true
  #outside: string | undefined
  #duringInstantiation = false
  instantiating = false

  /**
   * Wraps the function imports of `imports` (namespaces are replaced by wrapped copies); with
   * `fuel`, the host's refuel is left alone (it keeps no state a VM could see).
   */
  wrap(imports: WebAssembly.Imports, fuel: boolean): void {
    const copies = new Map<object, Record<string, unknown>>()
    for (const [ns, fns] of Object.entries(imports)) {
      if (fuel && ns === FUEL_IMPORT.module) continue
      const wasi = ns.startsWith('wasi')
      let copy = copies.get(fns)
      if (!copy) {
        copy = {}
        for (const [name, fn] of Object.entries(fns)) {
          if (typeof fn !== 'function') {
            copy[name] = fn
            continue
          }
          const f = fn as (...a: unknown[]) => unknown
          const outside = wasi && ALLOWED.has(name) ? undefined : `${ns}.${name}`
          copy[name] = (...a: unknown[]) => {
            if (this.#on) this.#saw(outside)
            return f(...a)
          }
        }
        copies.set(fns, copy)
      }
      imports[ns] = copy as WebAssembly.ModuleImports
    }
  }

  #saw(outside: string | undefined): void {
    if (this.instantiating) this.#duringInstantiation = true
    if (outside) this.#outside ??= outside
  }

  /** Stops watching; returns why no snapshot may be taken, or `undefined`. */
  end(): string | undefined {
    this.#on = false
    if (this.#duringInstantiation) return 'the start function called the host'
    return this.#outside ? `start-up called ${this.#outside}` : undefined
  }
}

const CHUNK = 4096
const ZERO = Buffer.alloc(CHUNK)

/** The memory of `instance` right after instantiation (data segments applied), before start-up. @internal */
export function initialImage(instance: WebAssembly.Instance): Uint8Array {
  return new Uint8Array((instance.exports.memory as WebAssembly.Memory).buffer).slice()
}

/**
 * The 4 KiB chunks of `u8` that differ from `base` (zero past its end), merged into runs: what
 * turns a memory holding `base` into `u8`.
 */
function changedRuns(u8: Uint8Array, base: Uint8Array): Snapshot['runs'] {
  const runs: Snapshot['runs'] = []
  const mem = Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)
  const was = Buffer.from(base.buffer, base.byteOffset, base.byteLength)
  let start = -1
  for (let at = 0; at < mem.byteLength; at += CHUNK) {
    const end = Math.min(at + CHUNK, mem.byteLength)
    // Images are whole pages: a chunk lies inside the image or past it.
    const same = at < was.byteLength ? mem.compare(was, at, end, at, end) === 0 : mem.compare(ZERO, 0, end - at, at, end) === 0
    if (!same && start < 0) start = at
    else if (same && start >= 0) {
      runs.push({ offset: start, bytes: u8.slice(start, at) })
      start = -1
    }
  }
  if (start >= 0) runs.push({ offset: start, bytes: u8.slice(start) })
  return runs
}

/**
 * Records memory and globals of `instance` under `key`: memory as the chunks that differ from
 * `image`, the memory a new instance of the module starts with.
 * @internal
 */
export function takeSnapshot(plan: SnapshotPlan, key: string, instance: WebAssembly.Instance, image: Uint8Array, clock: Clock): void {
  const u8 = new Uint8Array((instance.exports.memory as WebAssembly.Memory).buffer)
  const runs = changedRuns(u8, image)
  const globals = plan.layout.globals.map((n) => (instance.exports[n] as WebAssembly.Global).value as number | bigint)
  plan.taken.set(key, { pages: u8.byteLength / 65536, runs, globals, monotonicNs: clock.monotonicNs() })
}

/**
 * Puts `snap` into a new instance of the module: memory grown to its size, the chunks start-up
 * changed written, globals set.
 * @internal
 */
export function restoreSnapshot(plan: SnapshotPlan, snap: Snapshot, instance: WebAssembly.Instance): void {
  const memory = instance.exports.memory as WebAssembly.Memory
  const pages = memory.buffer.byteLength / 65536
  if (snap.pages > pages) memory.grow(snap.pages - pages)
  const u8 = new Uint8Array(memory.buffer)
  for (const run of snap.runs) u8.set(run.bytes, run.offset)
  plan.layout.globals.forEach((n, i) => ((instance.exports[n] as WebAssembly.Global).value = snap.globals[i]!))
}

const restored = new WeakSet<object>()

/** @internal marks `vm` as started from a snapshot. */
export function markRestored(vm: object): void {
  restored.add(vm)
}

/** @internal whether `vm` was started from a start-up snapshot (tests and the benchmark read it). */
export function startedFromSnapshot(vm: object | undefined): boolean {
  return vm !== undefined && restored.has(vm)
}
