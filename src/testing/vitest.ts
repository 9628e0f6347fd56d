/**
 * `proxy-wasm-host/testing/vitest`: vitest matchers for plugin tests, and the captured plugin logs
 * printed when a test fails. Import it once, at the top of a test file or in `setupFiles`.
 *
 * @example
 * ```ts
 * import 'proxy-wasm-host/testing/vitest'
 * import { createPluginTester } from 'proxy-wasm-host/testing'
 *
 * const r = await t.request({ path: '/get', headers: { host: 'a.com' } })
 * expect(r).toAnswer(200, 'hello world')
 * expect(r.upstreamRequest).toHaveHeader('hello', 'world')
 * expect(t).toHaveLogged('warn', 'config is empty')
 * ```
 * @module
 */
import { beforeEach, expect } from 'vitest'
import type { LogLevelName } from '../abi/enums.js'
import { HeaderMap } from '../host/header-map.js'
import { registry, watchHarnesses, type Harness } from './harness.js'
import { formatLogLine, type TestLogLine } from './logs.js'
import type { RequestResult } from './request.js'

/** The matchers this subpath adds to vitest's `expect`. */
export interface PluginMatchers<R = unknown> {
  /**
   * Passes when the headers (a `HeaderMap`, pairs, a record, or anything with `headers`: a
   * request result's `upstreamRequest`, `response`, `localResponse`) have `name` (any case), with
   * `value` when given (one of its values equal to it, or matching the RegExp).
   */
  toHaveHeader(name: string, value?: string | RegExp): R
  /**
   * Passes when a plugin answered the request itself (`localResponse`) with `status`, and with
   * `body` when given (text equal, or matching the RegExp).
   */
  toAnswer(status: number, body?: string | RegExp): R
  /** Passes when a tester (or its `logs`) has a line at exactly `level` whose message contains `message` (or matches it). */
  toHaveLogged(level: LogLevelName, message: string | RegExp): R
}

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-empty-object-type
  interface Matchers<T = any> extends PluginMatchers<T> {}
}

type Pairs = ReadonlyArray<readonly [string, string]>

function pairsOf(v: unknown): Pairs | undefined {
  if (v instanceof HeaderMap) return v.pairs
  if (Array.isArray(v)) return v as Pairs
  if (v && typeof v === 'object') {
    const h = (v as { headers?: unknown }).headers
    if (h !== undefined) return pairsOf(h)
    return [...new HeaderMap(v as Record<string, string>)]
  }
  return undefined
}

const text = (v: string | RegExp) => (typeof v === 'string' ? JSON.stringify(v) : String(v))
const matches = (s: string, want: string | RegExp) => (typeof want === 'string' ? s === want : want.test(s))

expect.extend({
  toHaveHeader(received: unknown, name: string, value?: string | RegExp) {
    const pairs = pairsOf(received)
    if (!pairs) return { pass: false, message: () => `expected headers (a HeaderMap, pairs, a record or { headers }), got ${this.utils.printReceived(received)}` }
    const key = name.toLowerCase()
    const values = pairs.filter(([k]) => k.toLowerCase() === key).map(([, v]) => v)
    const pass = value === undefined ? values.length > 0 : values.some((v) => matches(v, value))
    const want = value === undefined ? `header ${JSON.stringify(name)}` : `header ${JSON.stringify(name)}: ${text(value)}`
    const seen = values.length ? `its values: ${values.map((v) => JSON.stringify(v)).join(', ')}` : `headers: ${pairs.map(([k, v]) => `${k}: ${v}`).join(', ') || '(none)'}`
    return { pass, message: () => `expected ${this.isNot ? 'no ' : ''}${want}; ${seen}` }
  },
  toAnswer(received: RequestResult, status: number, body?: string | RegExp) {
    const lr = received?.localResponse
    const pass = lr !== undefined && lr.status === status && (body === undefined || matches(lr.text, body))
    const got = lr
      ? `the plugin answered ${lr.status} with body ${JSON.stringify(lr.text.slice(0, 200))}`
      : received?.upstreamRequest
        ? `no plugin answered: the request reached the upstream (the client got ${received.response.status})`
        : 'no plugin answered'
    return { pass, message: () => `expected ${this.isNot ? 'no ' : 'a '}local answer ${status}${body === undefined ? '' : ` with body ${text(body)}`}; ${got}` }
  },
  toHaveLogged(received: { logs: TestLogLine[] } | TestLogLine[], level: LogLevelName, message: string | RegExp) {
    const logs = Array.isArray(received) ? received : received?.logs
    if (!Array.isArray(logs)) return { pass: false, message: () => `expected a tester or its logs, got ${this.utils.printReceived(received)}` }
    const pass = logs.some((l) => l.level === level && (typeof message === 'string' ? l.message.includes(message) : message.test(l.message)))
    return {
      pass,
      message: () => `expected ${this.isNot ? 'no ' : /^[aeiou]/.test(level) ? 'an ' : 'a '}${level} line with ${text(message)}; lines:\n${logs.map(formatLogLine).join('\n') || '(none)'}`,
    }
  },
})

// Print what the plugins logged during a test that failed (testers are silent otherwise).
beforeEach((ctx) => {
  const from = new Map<Harness, number>()
  for (const h of registry) from.set(h, h.logs.length)
  const stop = watchHarnesses((h) => from.set(h, 0))
  ctx.onTestFinished(stop)
  ctx.onTestFailed(() => {
    stop()
    const out: string[] = []
    for (const [h, start] of from) for (const l of h.logs.slice(start)) out.push(formatLogLine(l))
    if (out.length) console.error(`plugin logs of "${ctx.task.name}":\n${out.join('\n')}`)
  })
})
