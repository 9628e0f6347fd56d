/**
 * A recording {@link RedisBridge}: every Redis command a plugin sends (Higress `proxy_redis_call`)
 * waits, recorded and decoded, until the test answers it with a JS value (encoded as the RESP
 * reply bytes Redis would send) or fails it.
 * @module
 */
import { WasmResult } from '../abi/enums.js'
import { ProxyWasmHostError } from '../errors.js'
import { systemClock, type Clock } from '../host/clock.js'
import type { RedisBridge, RedisCallInfo, RedisCallResult, RedisInitOptions } from '../host/services.js'
import { CallList, Settle, timeOut, type CallState, type RecordedCall } from './call-list.js'
import { flush } from './flush.js'

/**
 * A Redis reply as a JS value: a number or bigint is an integer reply (`:1`), a string or bytes a
 * bulk string (`$5 hello`), `null` the nil bulk string (`$-1`), an array an array reply, an `Error`
 * an error reply (its message, e.g. `ERR wrong number of arguments`), `{ simple: 'OK' }` a simple
 * string (`+OK`).
 */
export type RespValue = number | bigint | string | Uint8Array | null | Error | { simple: string } | readonly RespValue[]

/**
 * One Redis command a plugin sent.
 *
 * @example
 * ```ts
 * const pending = t.request({ path: '/' })
 * t.redisCalls[0].command // ['incr', '1735689600']
 * await t.redisCalls[0].respond(1)
 * ```
 */
export interface RecordedRedisCall extends RecordedCall {
  /** The cluster name as the plugin gave it (without the `?…` options of `proxy_redis_init`). */
  readonly cluster: string
  /** The command decoded from its RESP array, e.g. `['incr', '1735689600']` (wasm-go lower-cases command names). */
  readonly command: string[]
  /** The raw RESP query bytes. */
  readonly query: Buffer
  /** Name of the calling plugin. */
  readonly plugin: string
  /** The token the plugin got. */
  readonly token: number
  /** The per-operation timeout the plugin gave `proxy_redis_init` for this cluster, in ms (0: none). */
  readonly timeoutMs: number
  /**
   * Answers the command with `value` encoded as one RESP reply; the plugin's
   * `proxy_on_redis_call_response` runs with it.
   * @param value - the reply (see {@link RespValue})
   * @returns a promise that resolves once the plugin handled the reply
   * @throws `PWH_ERR_TESTING_CALL_SETTLED` when the call was answered or cancelled already
   */
  respond(value: RespValue): Promise<void>
  /**
   * Fails the command as a lost connection does, or lets its timeout pass: either way the plugin
   * gets status 1 and `proxy_get_status` 11 `reset` (wasm-go: "cannot connect to redis cluster").
   * @param reason - `'timeout'`: the host times the call out on its clock, as it does in production
   * with the timeout of `proxy_redis_init` (with `clock: 'fake'` the clock moves to the deadline;
   * with a real clock the test waits for it); anything else (default `'connection lost (test)'`):
   * the connection is lost now, the text is for the host's log line
   * @returns a promise that resolves once the plugin handled the failure
   * @throws `PWH_ERR_TESTING_CALL_SETTLED`; `PWH_ERR_TESTING_CALL_NO_TIMEOUT` for a `'timeout'` of
   * a call without one (`proxy_redis_init` gave 0, or was never called)
   */
  fail(reason?: 'timeout' | (string & {})): Promise<void>
}

/** One `proxy_redis_init` a plugin made. */
export interface RecordedRedisInit extends RedisInitOptions {
  /** The cluster name, without the `?…` options. */
  cluster: string
}

/** Options of {@link RedisCallRecorder}. */
export interface RedisCallRecorderOptions {
  /** Cluster names that exist; others get `BadArgument` (default: every name exists). */
  clusters?: readonly string[]
  /** The host's clock, which `fail('timeout')` moves when it is fake (default the system clock). */
  clock?: Clock
}

/** @internal the recorder the testers give the host as `redisBridge`. */
export class RedisCallRecorder implements RedisBridge {
  readonly calls = new CallList<RecordedRedisCall>()
  readonly inits: RecordedRedisInit[] = []
  readonly #known: Set<string> | undefined
  readonly #clock: Clock

  constructor(options: RedisCallRecorderOptions = {}) {
    this.#known = options.clusters ? new Set(options.clusters) : undefined
    this.#clock = options.clock ?? systemClock
  }

  init(_owner: object, cluster: string, options: RedisInitOptions): WasmResult {
    if (this.#known && !this.#known.has(cluster)) return WasmResult.BadArgument
    this.inits.push({ cluster, ...options })
    return WasmResult.Ok
  }

  call(_owner: object, cluster: string, query: Buffer, info: RedisCallInfo): Promise<RedisCallResult> | undefined {
    if (this.#known && !this.#known.has(cluster)) return undefined
    const command = decodeCommand(query)
    const what = `Redis call ${info.token} (${command.join(' ').slice(0, 60)}) to ${cluster}`
    const settle = new Settle<RedisCallResult>(what, info.signal)
    const clock = this.#clock
    const startedAt = clock.now()
    const timeoutMs = info.timeoutMs ?? 0
    this.calls.record({
      get state(): CallState {
        return settle.state
      },
      cluster,
      command,
      query,
      plugin: info.plugin,
      token: info.token,
      timeoutMs,
      async respond(value) {
        settle.check()
        settle.settle({ ok: true, reply: encodeResp(value) })
        await flush()
      },
      async fail(reason = 'connection lost (test)') {
        if (reason === 'timeout') {
          await timeOut(settle as Settle<unknown>, { timeoutMs, signal: info.signal }, clock, startedAt,
            `${what} has no timeout (proxy_redis_init gave 0, or was not called), so the host never times it out; answer it with respond() or fail()`)
        } else settle.settle({ ok: false, reason })
        await flush()
      },
    })
    return settle.promise
  }

  release(): void {}
}

/**
 * Encodes a JS value as one RESP2 reply.
 * @param value - see {@link RespValue}
 * @returns the reply bytes
 * @throws `PWH_ERR_CONFIG_INVALID` for a value RESP cannot carry (a non-integer is sent as a bulk string, as Redis sends floats)
 * @example
 * ```ts
 * encodeResp(1).toString()            // ':1\r\n'
 * encodeResp(['a', null]).toString()  // '*2\r\n$1\r\na\r\n$-1\r\n'
 * ```
 */
export function encodeResp(value: RespValue): Buffer {
  const parts: Buffer[] = []
  const put = (v: RespValue): void => {
    if (v === null) parts.push(Buffer.from('$-1\r\n'))
    else if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) parts.push(Buffer.from(`:${v}\r\n`))
    else if (typeof v === 'number') put(String(v))
    else if (typeof v === 'string' || v instanceof Uint8Array) {
      const b = typeof v === 'string' ? Buffer.from(v) : Buffer.from(v)
      parts.push(Buffer.from(`$${b.byteLength}\r\n`), b, Buffer.from('\r\n'))
    } else if (Array.isArray(v)) {
      parts.push(Buffer.from(`*${v.length}\r\n`))
      for (const x of v) put(x)
    } else if (v instanceof Error) parts.push(Buffer.from(`-${oneLine(v.message)}\r\n`))
    else if (typeof v === 'object' && typeof (v as { simple?: unknown }).simple === 'string') parts.push(Buffer.from(`+${oneLine((v as { simple: string }).simple)}\r\n`))
    else throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `cannot encode ${typeof v} as a RESP reply; use a number, string, bytes, null, an array, an Error or { simple }`)
  }
  put(value)
  return Buffer.concat(parts)
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ')
}

/** Decodes a RESP array of bulk strings (what wasm-go sends); `[]` when the query is not one. @internal */
export function decodeCommand(query: Buffer): string[] {
  const text = query.toString('latin1')
  let at = 0
  const line = (): string | undefined => {
    const end = text.indexOf('\r\n', at)
    if (end < 0) return undefined
    const s = text.slice(at, end)
    at = end + 2
    return s
  }
  const head = line()
  if (!head?.startsWith('*')) return []
  const n = Number(head.slice(1))
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    const h = line()
    if (!h?.startsWith('$')) return []
    const len = Number(h.slice(1))
    if (!(len >= 0) || at + len > text.length) return []
    out.push(Buffer.from(text.slice(at, at + len), 'latin1').toString('utf8'))
    at += len + 2
  }
  return out
}
