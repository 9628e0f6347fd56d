/**
 * One instance of a plugin module (cpp-host `WasmVm` + `WasmBase`): memory, allocator, contexts, and
 * the guarded call into the guest.
 * @module
 */
import { WasmResult } from '../abi/enums.js'
import { GuestMemory } from '../abi/memory.js'
import { pairsSizeFlat, writePairsFlat } from '../abi/pairs.js'
import { PluginFailureError } from '../errors.js'
import type { ContextBase, RootContext, StreamContext } from './context.js'
import { ContextTable } from './context-table.js'
import { isWatchdogTimeout } from './cpu-limit.js'
import type { Plugin } from './plugin.js'
import { ProcExit } from './hostcalls/wasi.js'
import { callbackStart, publishCallback } from './diagnostics.js'

type GuestFn = (a?: number, b?: number, c?: number, d?: number, e?: number) => number | undefined

/**
 * The callbacks every request calls, by index into {@link WasmVm.callbacks}: resolved once per
 * instance, because looking an export up by name on every call costs as much as the call itself.
 * @internal
 */
export const Callback = {
  ContextCreate: 0,
  RequestHeaders: 1,
  RequestTrailers: 2,
  ResponseHeaders: 3,
  ResponseTrailers: 4,
  Log: 5,
  Done: 6,
  Delete: 7,
  RequestBody: 8,
  ResponseBody: 9,
} as const

/** The export name of a callback given as a name or a {@link Callback} index. @internal */
export function callbackName(callback: string | number): string {
  return typeof callback === 'number' ? CALLBACK_NAMES[callback]! : callback
}

/** Export names of {@link Callback}, in index order. */
const CALLBACK_NAMES = [
  'proxy_on_context_create',
  'proxy_on_request_headers',
  'proxy_on_request_trailers',
  'proxy_on_response_headers',
  'proxy_on_response_trailers',
  'proxy_on_log',
  'proxy_on_done',
  'proxy_on_delete',
  'proxy_on_request_body',
  'proxy_on_response_body',
] as const

/** @internal */
export class WasmVm {
  readonly memory = new GuestMemory()
  exports: Record<string, GuestFn> = {}
  /** The functions of {@link Callback}, by index (`undefined` when not exported). */
  callbacks: Array<GuestFn | undefined> = []
  /** Called after each top-level call into the guest (the WASI provider's `afterCall`, e.g. to drain stdout). */
  afterCall: (() => void) | undefined
  #alloc: (size: number) => number = () => 0
  instance: WebAssembly.Instance | undefined
  /** Context the running callback belongs to, and the one hostcalls act on (`proxy_set_effective_context`). */
  current: ContextBase | undefined
  effective: ContextBase | undefined
  readonly contexts = new ContextTable()
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
    this.setExports(exp as unknown as Record<string, GuestFn>)
    // Spec order (ABI §5.1): TinyGo's malloc pins every block, so proxy_on_memory_allocate comes first.
    const alloc = (exp.proxy_on_memory_allocate ?? exp.malloc) as GuestFn
    this.#alloc = (size) => (alloc(size) as number) >>> 0
  }

  /** Replaces the functions the host calls (the watchdog wraps each export); {@link WasmVm.callbacks} follow. */
  setExports(exports: Record<string, GuestFn>): void {
    this.exports = exports
    this.callbacks = CALLBACK_NAMES.map((n) => (typeof exports[n] === 'function' ? exports[n] : undefined))
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
    return this.#invoke(ctx, fn, name, a, b, c, d, e)
  }

  /** {@link WasmVm.call} for callback `index` of {@link Callback} (no lookup by name). */
  callback(ctx: ContextBase, index: number, fallback: number, a?: number, b?: number, c?: number): number {
    const fn = this.callbacks[index]
    if (fn === undefined) return fallback
    return this.#invoke(ctx, fn, CALLBACK_NAMES[index]!, a, b, c, undefined, undefined)
  }

  /**
   * Stream callback `index` for `ctx` (`ctx.id`, `a`, `b`), with `proxy_on_context_create` first
   * when the guest has not seen the context yet (§6.3), and the WASI `afterCall` after it. The
   * path every request takes, kept to one frame.
   */
  stream(ctx: StreamContext, index: number, fallback: number, a?: number, b?: number): number {
    try {
      if (!ctx.created) {
        ctx.created = true
        const create = this.callbacks[Callback.ContextCreate]
        if (create !== undefined) this.#invoke(ctx, create, 'proxy_on_context_create', ctx.id, ctx.rootContext.id, undefined, undefined, undefined)
      }
      const fn = this.callbacks[index]
      if (fn === undefined) return fallback
      return this.#invoke(ctx, fn, CALLBACK_NAMES[index]!, ctx.id, a, b, undefined, undefined)
    } finally {
      this.afterCall?.()
    }
  }

  #invoke(ctx: ContextBase | undefined, fn: GuestFn, name: string, a?: number, b?: number, c?: number, d?: number, e?: number): number {
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
    const ptr = this.#place(value.length, ptrPtr, sizePtr)
    if (ptr <= 0) return ptr === 0 ? WasmResult.Ok : WasmResult.InvalidMemoryAccess
    const b = this.memory.bytes
    for (let i = 0; i < value.length; i++) b[ptr + i] = value.charCodeAt(i)
    return WasmResult.Ok
  }

  /**
   * Serializes a flat `[name, value, …]` list (ABI §5.2; a header map's entries) straight into one
   * fresh guest block and stores its address and size; an empty list allocates nothing (0, 0).
   */
  copyFlatPairsOut(kv: readonly string[], ptrPtr: number, sizePtr: number): WasmResult {
    const ptr = this.#place(kv.length === 0 ? 0 : pairsSizeFlat(kv), ptrPtr, sizePtr)
    if (ptr <= 0) return ptr === 0 ? WasmResult.Ok : WasmResult.InvalidMemoryAccess
    writePairsFlat(kv, this.memory.bytes, this.memory.dataView, ptr)
    return WasmResult.Ok
  }

  #out(len: number, ptrPtr: number, sizePtr: number, fill: (bytes: Uint8Array, at: number) => void): WasmResult {
    const ptr = this.#place(len, ptrPtr, sizePtr)
    if (ptr <= 0) return ptr === 0 ? WasmResult.Ok : WasmResult.InvalidMemoryAccess
    fill(this.memory.bytes, ptr)
    return WasmResult.Ok
  }

  /**
   * A fresh guest block of `len` bytes for an output, its address and size stored at `ptrPtr` /
   * `sizePtr` at once (Go's allocated block is unreachable until then): the address, 0 when there
   * is nothing to write (0, 0 stored, nothing allocated), -1 when a pointer or the allocation is bad.
   */
  #place(len: number, ptrPtr: number, sizePtr: number): number {
    const mem = this.memory
    if (!mem.inBounds(ptrPtr, 4) || !mem.inBounds(sizePtr, 4)) return -1
    if (len === 0) {
      mem.setU32(ptrPtr, 0)
      mem.setU32(sizePtr, 0)
      return 0
    }
    const ptr = this.alloc(len)
    if (ptr === 0 || !mem.inBounds(ptr, len)) return -1
    mem.setU32(ptrPtr, ptr)
    mem.setU32(sizePtr, len)
    return ptr
  }

  /** Marks a stream context as having deferred work (continue, close, local response). */
  touch(ctx: StreamContext): void {
    this.#touched.add(ctx)
  }

  #flush(): void {
    if (this.pendingDelete.size !== 0) {
      for (const root of this.pendingDelete) {
        this.pendingDelete.delete(root)
        this.plugin.deleteRoot(root as RootContext)
      }
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
