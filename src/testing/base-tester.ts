/** What {@link PluginTester} and {@link PipelineTester} have in common. @module */
import type { Clock } from '../host/clock.js'
import type { WasmPluginHost } from '../host/host.js'
import type { PluginPipeline } from '../pipeline/pipeline.js'
import type { CallList } from './call-list.js'
import type { Harness } from './harness.js'
import type { RecordedHttpCall } from './http-calls.js'
import { formatLogLine, type TestLogLine } from './logs.js'
import type { RecordedRedisCall, RecordedRedisInit } from './redis-calls.js'
import { runRequest, type RequestResult, type TestRequest } from './request.js'
import { TestMetrics, TestSharedData } from './state.js'

/**
 * Logs, recorded calls, the clock and whole requests: what every tester offers.
 *
 * @example
 * ```ts
 * const r = await t.request({ path: '/', headers: { host: 'a.com' } })
 * t.logs.filter((l) => l.level === 'warn')
 * ```
 */
export abstract class BaseTester {
  /** @internal */
  protected readonly harness: Harness
  /** The pipeline requests run through. */
  abstract readonly pipeline: PluginPipeline

  /** @internal */
  constructor(harness: Harness) {
    this.harness = harness
  }

  /** The host the plugins run in (its services are the tester's fakes). */
  get host(): WasmPluginHost {
    return this.harness.host
  }

  /** The clock plugins see: a {@link FakeClock} with `clock: 'fake'`. */
  get clock(): Clock {
    return this.harness.clock
  }

  /**
   * Every line the plugins logged, oldest first, at every level from the `logLevel` option up
   * (default `trace`). Nothing is printed unless `PWH_TEST_LOGS=1`, or a test fails with the vitest
   * subpath loaded.
   */
  get logs(): TestLogLine[] {
    return this.harness.logs
  }

  /** Every HTTP callout the plugins made, oldest first; answer the pending ones with `respond()` / `fail()`. */
  get httpCalls(): CallList<RecordedHttpCall> {
    return this.harness.http.calls
  }

  /** Every Redis command the plugins sent, oldest first, decoded; answer with `respond(value)` / `fail()`. */
  get redisCalls(): CallList<RecordedRedisCall> {
    return this.harness.redis.calls
  }

  /** Every `proxy_redis_init` the plugins made (cluster, user, password, timeout, options). */
  get redisInits(): readonly RecordedRedisInit[] {
    return this.harness.redis.inits
  }

  /** The plugins' metrics, by the name they defined (the host's stats, and what its prom-client registry exports). */
  get metrics(): TestMetrics {
    return (this.#metrics ??= new TestMetrics(this.harness.host))
  }

  /** Shared data of the host (`proxy_get/set_shared_data`), for the plugin's `vm_id` by default. */
  get sharedData(): TestSharedData {
    return (this.#sharedData ??= new TestSharedData(this.harness.sharedData, this.defaultVmId))
  }

  /** @internal the `vm_id` {@link BaseTester.sharedData} reads by default. */
  protected get defaultVmId(): string {
    return ''
  }

  #metrics: TestMetrics | undefined
  #sharedData: TestSharedData | undefined

  /**
   * Runs one whole request: request headers, body and trailers through the plugins, then the fake
   * upstream's response (`upstreamResponse`, default 200) through the response phases. The request
   * headers reach the plugins before the promise is returned, so a callout they make is in
   * {@link BaseTester.httpCalls} at once: answer it, then await the result.
   * @param request - method, path, headers, body, route, service, upstream response …
   * @returns the local reply, the request as the upstream got it, and the response the client gets
   * @throws `PWH_ERR_TESTING_CLOSED` (rejects) after {@link BaseTester.close}
   * @example
   * ```ts
   * const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
   * r.upstreamRequest?.headers.get('hello') // 'world'
   * ```
   */
  request(request: TestRequest = {}): Promise<RequestResult> {
    try {
      this.harness.check('request()')
    } catch (err) {
      return Promise.reject(err)
    }
    return runRequest(this.pipeline, request)
  }

  /**
   * Moves time by `ms`: with `clock: 'fake'` at once, running every timer that falls due (ticks in
   * order, each re-armed after it returns, as the host does; pause and callout timeouts); with a
   * real clock by waiting.
   * @param ms - milliseconds
   * @returns once due timers ran and what they started settled
   * @throws `PWH_ERR_TESTING_CLOSED` (rejects) after {@link BaseTester.close}
   * @example
   * ```ts
   * const pending = t.request({ path: '/' })
   * await t.tick(t.tickPeriodMs)
   * ```
   */
  tick(ms: number): Promise<void> {
    return this.harness.tick(ms)
  }

  /**
   * The captured log lines as text, one per line (`[level] [plugin#context] message`).
   * @returns the text
   */
  logText(): string {
    return this.logs.map(formatLogLine).join('\n')
  }

  /**
   * Shuts the plugins down at once (`proxy_on_done`, timers stopped, pending calls cancelled), then
   * closes the host's connections (a real Redis, callout connections). Idempotent.
   * @returns a promise that settles once the connections are closed (`afterEach(() => t.close())` waits for it)
   */
  close(): Promise<void> {
    return this.harness.close()
  }
}
