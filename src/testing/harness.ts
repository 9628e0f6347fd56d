/**
 * What both testers share: a real {@link WasmPluginHost} whose outside world is filled with fakes
 * (clock, callout and Redis recorders, log capture), and the request runner.
 * @module
 */
import type { LogLevelName } from '../abi/enums.js'
import { ProxyWasmHostError } from '../errors.js'
import { systemClock, type Clock } from '../host/clock.js'
import { WasmPluginHost, type HostOptions } from '../host/host.js'
import type { ForeignFunction } from '../host/plugin.js'
import type { SharedDataStore } from '../host/services.js'
import type { RedisOptions } from '../redis/bridge.js'
import { createMemorySharedData } from '../state/memory.js'
import type { WasiOption } from '../host/wasi-provider.js'
import { createFakeClock, isFakeClock, type FakeClock } from './fake-clock.js'
import { flush, sleep } from './flush.js'
import { HttpCallRecorder } from './http-calls.js'
import { LogCapture, type TestLogLine } from './logs.js'
import { RedisCallRecorder } from './redis-calls.js'

/** Options every tester takes. */
export interface TesterOptions {
  /**
   * `'fake'`: time stands still until {@link PluginTester.tick} moves it (ticks, pause and callout
   * timeouts follow it); `'system'` (default): real time; or any {@link Clock}.
   */
  clock?: 'fake' | 'system' | Clock
  /** Start of the fake clock, ms since the epoch or a `Date` (default 2025-01-01T00:00:00Z). */
  startTime?: number | Date
  /** Lowest level captured in `logs`; plugins read it and skip lower lines (default `trace`). */
  logLevel?: LogLevelName
  /** Callout upstream names that exist; others get `BadArgument` at once (default: every name exists). */
  upstreams?: readonly string[]
  /** Redis cluster names that exist; others get `BadArgument` (default: every name exists). */
  redisClusters?: readonly string[]
  /**
   * A real Redis instead of the recorder: a `redis://` URL every cluster name leads to, or the
   * host's `redis` option (`{ clusters: { name: url } }`). `redisCalls` then stays empty.
   */
  redis?: string | RedisOptions
  /** How long a paused request may wait before the host answers 504 (default 60 s, on the tester's clock). */
  pauseTimeoutMs?: number
  /** WASI provider (default the host's sandbox). */
  wasi?: WasiOption
  /** Host functions for `proxy_call_foreign_function`. */
  foreignFunctions?: Record<string, ForeignFunction>
  /**
   * Host limits, as `new WasmPluginHost({ limits })`: CPU and memory of the VMs, body buffers,
   * callout responses, and the state caps (`maxSharedDataBytes`, `maxMetrics` …).
   */
  limits?: HostOptions['limits']
  /** Refuse plugins importing hostcalls the host answers `Unimplemented` (`PWH_ERR_PLUGIN_UNIMPLEMENTED`), as the host option. */
  strictHostcalls?: boolean
}

/** @internal */
export class Harness {
  readonly host: WasmPluginHost
  readonly clock: Clock
  readonly logCapture: LogCapture
  readonly http: HttpCallRecorder
  readonly redis: RedisCallRecorder
  readonly sharedData: SharedDataStore = createMemorySharedData()
  readonly pauseTimeoutMs: number
  readonly #closers: Array<() => void> = []
  #closed = false

  constructor(options: TesterOptions) {
    const c = options.clock ?? 'system'
    this.clock = c === 'fake' ? createFakeClock(options.startTime === undefined ? {} : { now: options.startTime }) : c === 'system' ? systemClock : c
    this.logCapture = new LogCapture(options.logLevel ?? 'trace', isTruthy(process.env.PWH_TEST_LOGS))
    this.http = new HttpCallRecorder(this.clock, options.upstreams ? { upstreams: options.upstreams } : {})
    this.redis = new RedisCallRecorder({ clock: this.clock, ...(options.redisClusters ? { clusters: options.redisClusters } : {}) })
    this.pauseTimeoutMs = options.pauseTimeoutMs ?? 60_000
    const hostOptions: HostOptions = {
      compileCache,
      logger: this.logCapture.logger,
      clock: this.clock,
      httpDispatcher: this.http,
      sharedData: this.sharedData,
    }
    if (options.redis === undefined) hostOptions.redisBridge = this.redis
    else hostOptions.redis = typeof options.redis === 'string' ? { fallback: options.redis } : options.redis
    if (options.wasi !== undefined) hostOptions.wasi = options.wasi
    if (options.foreignFunctions) hostOptions.foreignFunctions = options.foreignFunctions
    if (options.limits) hostOptions.limits = options.limits
    if (options.strictHostcalls !== undefined) hostOptions.strictHostcalls = options.strictHostcalls
    this.host = new WasmPluginHost(hostOptions)
    registry.add(this)
    for (const fn of watchers) fn(this)
  }

  get logs(): TestLogLine[] {
    return this.logCapture.lines
  }

  /** @throws `PWH_ERR_TESTING_CLOSED` after {@link Harness.close} */
  check(what: string): void {
    if (this.#closed) throw new ProxyWasmHostError('PWH_ERR_TESTING_CLOSED', `${what} on a tester that was closed; create a tester per test, or close it after its last use`)
  }

  /** Moves the clock (fake) or waits (real), then lets completions settle. */
  async tick(ms: number): Promise<void> {
    this.check('tick()')
    if (isFakeClock(this.clock)) await (this.clock as FakeClock).advance(ms)
    else {
      await sleep(ms)
      await flush()
    }
  }

  onClose(fn: () => void): void {
    this.#closers.push(fn)
  }

  get closed(): boolean {
    return this.#closed
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing
    this.#closed = true
    for (const fn of this.#closers.splice(0)) fn()
    registry.delete(this)
    return (this.#closing = this.host.close())
  }

  #closing: Promise<void> | undefined
}

// One compile per binary per process: a tester per test would otherwise compile the same plugin
// again each time (tens of ms for a Go plugin; bench/testing.mjs).
const compileCache: NonNullable<HostOptions['compileCache']> = new Map()

/**
 * Testers created and not closed yet (the vitest subpath prints their logs when a test fails).
 * @internal
 */
export const registry = new Set<Harness>()

const watchers = new Set<(h: Harness) => void>()

/**
 * Calls `fn` for every tester created from now on, until the returned function is called.
 * @internal
 */
export function watchHarnesses(fn: (h: Harness) => void): () => void {
  watchers.add(fn)
  return () => void watchers.delete(fn)
}

function isTruthy(v: string | undefined): boolean {
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false'
}
