/**
 * One instance of a plugin module (cpp-host `WasmVm` + `WasmBase`): memory, allocator, contexts, and
 * the guarded call into the guest.
 * @module
 */
import { WasmResult } from '../abi/enums.js'
import { GuestMemory } from '../abi/memory.js'
import { pairsSize, writePairs, type HeaderPair } from '../abi/pairs.js'
import { PluginFailureError } from '../errors.js'
import type { ContextBase, RootContext, StreamContext } from './context.js'
import { isWatchdogTimeout } from './cpu-limit.js'
import type { Plugin } from './plugin.js'
import { ProcExit } from './hostcalls/wasi.js'
import { callbackStart, publishCallback } from './diagnostics.js'

type GuestFn = (a?: number, b?: number, c?: number, d?: number, e?: number) => number | undefined

/** @internal */
export class WasmVm {
  readonly memory = new GuestMemory()
  exports: Record<string, GuestFn> = {}
  #alloc: (size: number) => number = () => 0
  instance: WebAssembly.Instance | undefined
  /** Context the running callback belongs to, and the one hostcalls act on (`proxy_set_effective_context`). */
  current: ContextBase | undefined
  effective: ContextBase | undefined
  readonly contexts = new Map<number, ContextBase>()
  #nextId = 1
  #depth = 0
  failure: PluginFailureError | undefined
  readonly #touched = new Set<StreamContext>()
  /** Roots whose `proxy_done` was called: deleted after the current guest call. */
  readonly pendingDelete = new Set<ContextBase>()
  /** Async completions that arrived while the guest ran: delivered once it returns (calls never nest). */
  readonly deferred: Array<() => void> = []
  #tokens = [0, 0, 0, 0]
  /** Top-level guest calls so far: the CPU limit's deadline is per top-level call (`cpu-limit.ts`). */
  topCalls = 0
  /** Set by the CPU limit when a call ran out of time: the trap that follows is reported as such. */
  cpuExceeded = false

  constructor(readonly plugin: Plugin) {}

  /** Binds the instantiated module (memory, exports, allocator); checked earlier by validation. */
  attach(instance: WebAssembly.Instance): void {
    const exp = instance.exports
    this.instance = instance
    this.memory.attach(exp.memory as WebAssembly.Memory)
    this.exports = exp as unknown as Record<string, GuestFn>
    // Spec order (ABI §5.1): TinyGo's malloc pins every block, so proxy_on_memory_allocate comes first.
    const alloc = (exp.proxy_on_memory_allocate ?? exp.malloc) as GuestFn
    this.#alloc = (size) => (alloc(size) as number) >>> 0
  }

  /** A fresh context id; ids are never reused (ABI §4.12). */
  nextContextId(): number {
    return this.#nextId++
  }

  /**
   * A fresh callout token (ABI §4.12): `n × 4 + kind`, kind 0 HTTP call (4, 8 …), 1 gRPC call
   * (5, 9 …), 2 gRPC stream (6, 10 …), 3 Redis call (7, 11 …). Never 0 or a reused value of a kind.
   */
  nextToken(kind: 0 | 1 | 2 | 3): number {
    const n = ++this.#tokens[kind]!
    return (n * 4 + kind) >>> 0
  }

  /** Whether the guest is running (a hostcall is on the stack). */
  get running(): boolean {
    return this.#depth > 0
  }

  /**
   * Calls export `name` for context `ctx`; returns `fallback` when the export is missing (every
   * callback is optional, ABI §3). A trap or `proc_exit` marks the VM failed and throws
   * `PWH_ERR_PLUGIN_TRAP` / `PWH_ERR_PLUGIN_EXIT`.
   */
  call(ctx: ContextBase | undefined, name: string, fallback: number, a?: number, b?: number, c?: number, d?: number, e?: number): number {
    const fn = this.exports[name]
    if (typeof fn !== 'function') return fallback
    if (this.failure) {
      throw new PluginFailureError('PWH_ERR_PLUGIN_FAILED', this.plugin.name, name,
        `plugin "${this.plugin.name}" failed earlier (${this.failure.message}); it serves no more calls`, { cause: this.failure })
    }
    const cur = this.current
    const eff = this.effective
    this.current = ctx
    this.effective = ctx
    if (this.#depth++ === 0) this.topCalls++
    // diagnostics_channel `proxy-wasm-host:callback`: 0 (nothing published) without a subscriber.
    const traced = callbackStart()
    let r: number | undefined
    try {
      r = d === undefined ? fn(a, b, c) : fn(a, b, c, d, e)
    } catch (err) {
      this.#depth--
      this.current = cur
      this.effective = eff
      if (traced) publishCallback(this, ctx, name, [a, b, c, d, e], undefined, traced, err)
      throw this.fail(err, name)
    }
    this.#depth--
    this.current = cur
    this.effective = eff
    if (traced) publishCallback(this, ctx, name, [a, b, c, d, e], r ?? 0, traced)
    if (this.#depth === 0) this.#flush()
    return (r ?? 0) >>> 0
  }

  /** Marks the VM failed for `err` raised in `callback`; returns the error to throw. */
  fail(err: unknown, callback: string): PluginFailureError {
    if (err instanceof PluginFailureError) {
      this.failure ??= err
      return err
    }
    const exit = err instanceof ProcExit
    if (!exit && (this.cpuExceeded || isWatchdogTimeout(err))) {
      const e = new PluginFailureError('PWH_ERR_PLUGIN_CPU_LIMIT', this.plugin.name, callback,
        `plugin "${this.plugin.name}" ran longer than its CPU limit in ${callback} (limits.callbackTimeoutMs: ${this.plugin.cpuLimitMs} ms); its VM is marked failed`,
        { cause: err })
      this.failure ??= e
      return e
    }
    const e = new PluginFailureError(exit ? 'PWH_ERR_PLUGIN_EXIT' : 'PWH_ERR_PLUGIN_TRAP', this.plugin.name, callback,
      exit
        ? `plugin "${this.plugin.name}" called proc_exit(${(err as ProcExit).exitCode}) in ${callback}; its VM is marked failed`
        : `plugin "${this.plugin.name}" trapped in ${callback}: ${(err as Error)?.message ?? String(err)}; its VM is marked failed`,
      { cause: err })
    if (exit) e.exitCode = (err as ProcExit).exitCode
    this.failure ??= e
    return e
  }

  /** Asks the guest for `size` bytes; 0 when the allocator fails. Never called for 0 bytes (Go panics). */
  alloc(size: number): number {
    return this.#alloc(size)
  }

  /**
   * Copies `data` into a fresh guest block and stores its address and size at `ptrPtr` / `sizePtr`
   * (cpp-host `copyToPointerSize`). Zero-length data allocates nothing and stores 0, 0.
   */
  copyOut(data: Uint8Array | string, ptrPtr: number, sizePtr: number): WasmResult {
    if (typeof data !== 'string') return this.#out(data.byteLength, ptrPtr, sizePtr, (b, at) => b.set(data, at))
    const len = Buffer.byteLength(data)
    return this.#out(len, ptrPtr, sizePtr, (b, at) => Buffer.from(b.buffer, b.byteOffset + at, len).write(data))
  }

  /** {@link WasmVm.copyOut} for a latin1 string (header values), written without an intermediate buffer. */
  copyOutLatin1(value: string, ptrPtr: number, sizePtr: number): WasmResult {
    return this.#out(value.length, ptrPtr, sizePtr, (b, at) => {
      for (let i = 0; i < value.length; i++) b[at + i] = value.charCodeAt(i)
    })
  }

  /**
   * Serializes header pairs (ABI §5.2) straight into one fresh guest block (no intermediate buffer)
   * and stores its address and size; an empty list allocates nothing and stores 0, 0.
   */
  copyPairsOut(pairs: readonly HeaderPair[], ptrPtr: number, sizePtr: number): WasmResult {
    return this.#out(pairs.length === 0 ? 0 : pairsSize(pairs), ptrPtr, sizePtr, (b, at) => writePairs(pairs, b, at))
  }

  #out(len: number, ptrPtr: number, sizePtr: number, fill: (bytes: Uint8Array, at: number) => void): WasmResult {
    const mem = this.memory
    if (!mem.inBounds(ptrPtr, 4) || !mem.inBounds(sizePtr, 4)) return WasmResult.InvalidMemoryAccess
    if (len === 0) {
      mem.setU32(ptrPtr, 0)
      mem.setU32(sizePtr, 0)
      return WasmResult.Ok
    }
    // One allocation per output, its address stored at once (Go's allocated block is unreachable until then).
    const ptr = this.alloc(len)
    if (ptr === 0 || !mem.inBounds(ptr, len)) return WasmResult.InvalidMemoryAccess
    fill(mem.bytes, ptr)
    mem.setU32(ptrPtr, ptr)
    mem.setU32(sizePtr, len)
    return WasmResult.Ok
  }

  /** Marks a stream context as having deferred work (continue, close, local response). */
  touch(ctx: StreamContext): void {
    this.#touched.add(ctx)
  }

  #flush(): void {
    for (const root of this.pendingDelete) {
      this.pendingDelete.delete(root)
      this.plugin.deleteRoot(root as RootContext)
    }
    if (this.#touched.size !== 0) {
      const list = [...this.#touched]
      this.#touched.clear()
      for (const ctx of list) ctx.listener?.(ctx)
    }
    while (this.deferred.length !== 0 && this.#depth === 0) this.deferred.shift()!()
  }

  /** Tells every live stream of this VM that it failed, so that paused requests end at once. */
  notifyStreams(): void {
    for (const ctx of this.contexts.values()) {
      if (!ctx.isRoot && !ctx.deleted) (ctx as StreamContext).listener?.(ctx as StreamContext)
    }
  }
}
