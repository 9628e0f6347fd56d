/**
 * `proxy-wasm-host/testing`: unit-test proxy-wasm plugins in Node with their real `.wasm`, no
 * Docker, no Envoy. The host is the production host; only its outside world is fake: callouts and
 * Redis calls are recorded and answered by the test, logs are captured, and the clock can be a
 * fake one the test moves. Works under any test runner (no test-framework dependency); vitest
 * matchers are in `proxy-wasm-host/testing/vitest`.
 *
 * @example
 * ```ts
 * import { createPluginTester } from 'proxy-wasm-host/testing'
 *
 * const t = await createPluginTester('./main.wasm', { config: { mockEnable: true } })
 * const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
 * r.localResponse?.status // 200
 * t.close()
 * ```
 * @module
 */
export { createPluginTester, PluginTester } from './plugin-tester.js'
export type { PluginTesterOptions } from './plugin-tester.js'
export { createPipelineTester, PipelineTester } from './pipeline-tester.js'
export type { PipelineTesterOptions } from './pipeline-tester.js'
export { BaseTester } from './base-tester.js'
export type { TesterOptions } from './harness.js'
export type { TestRequest, UpstreamResponse, RequestResult, TestMessage, TestResponse, TestLocalResponse } from './request.js'
export { StreamTester } from './stream.js'
export type { StreamOptions, StreamSide, ExactHeaders, CallbackOptions, ActionName, HeaderActionName, DataActionName, TrailersActionName } from './stream.js'
export { createFakeClock, isFakeClock, FAKE_CLOCK_START } from './fake-clock.js'
export type { FakeClock, FakeClockOptions } from './fake-clock.js'
export { CallList } from './call-list.js'
export type { CallState, RecordedCall } from './call-list.js'
export type { RecordedHttpCall, HttpCallReply, HttpCallFailure } from './http-calls.js'
export { encodeResp } from './redis-calls.js'
export type { RecordedRedisCall, RecordedRedisInit, RespValue } from './redis-calls.js'
export { TestMetrics, TestSharedData } from './state.js'
export type { TestHistogram, TestSharedDataEntry } from './state.js'
export { formatLogLine } from './logs.js'
export type { TestLogLine } from './logs.js'
