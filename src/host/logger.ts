/**
 * Logging: the {@link PluginLogger} every plugin line goes through, and the adapters that let a
 * pino logger (Fastify's `app.log` included), `console`, or a `{ level, log }` object stand in for it.
 * @module
 */
import { randomUUID } from 'node:crypto'
import { LOG_LEVEL_NAMES, type LogLevel, type LogLevelName } from '../abi/enums.js'
import { ProxyWasmHostError } from '../errors.js'
import type { HttpState } from './context.js'

/** Where a log line came from. */
export interface LogSource {
  /** Plugin name (`proxy-wasm-host` for the host's own lines). */
  plugin: string
  /** Context id that was running (0 while the VM starts up). */
  contextId: number
  /** `proxy_log`, or `stdout`/`stderr` for WASI `fd_write`, or `host` for the host's own lines. */
  origin: 'proxy_log' | 'stdout' | 'stderr' | 'host'
  /**
   * The request the line belongs to: its `x-request-id` header (the gateway and `serve` add one when
   * the client sent none), else an id drawn for the request. Absent for lines outside a request.
   */
  requestId?: string
}

/**
 * A pluggable logger. `level` is the lowest level passed on; plugins read it through
 * `proxy_get_log_level` and Higress's `get_log_level` foreign function and skip lower messages.
 *
 * @example
 * ```ts
 * const lines: string[] = []
 * const logger: PluginLogger = { level: 'debug', log: (lvl, msg, src) => lines.push(`${src.plugin} ${src.requestId} ${lvl} ${msg}`) }
 * ```
 */
export interface PluginLogger {
  /** Lowest level forwarded (default `info`). */
  level?: LogLevelName
  /**
   * Receives one line.
   * @param level - level name
   * @param message - the text as the plugin wrote it (one trailing newline of WASI output removed)
   * @param source - plugin, context id, origin and request id
   */
  log(level: LogLevelName, message: string, source: LogSource): void
}

/** A pino-style log method: `(bindings, message)`. */
export type PinoLogFn = (obj: Record<string, unknown>, msg: string) => void

/**
 * A pino-shaped logger (pino, Fastify's `app.log`, anything with `child()` and level methods that
 * take `(object, message)`). Each plugin gets a child with `{ plugin }`; each line carries
 * `{ contextId, requestId, origin }`.
 * @example
 * ```ts
 * import pino from 'pino'
 * const host = new WasmPluginHost({ logger: pino({ level: 'debug' }) })
 * ```
 */
export interface PinoLikeLogger {
  /** `trace` … `fatal`, or `silent`. */
  level: string
  /** A logger whose lines carry `bindings`. */
  child(bindings: Record<string, unknown>): PinoLikeLogger
  trace: PinoLogFn
  debug: PinoLogFn
  info: PinoLogFn
  warn: PinoLogFn
  error: PinoLogFn
  fatal: PinoLogFn
}

/** A console-shaped logger (`console`, or anything with `debug`/`info`/`warn`/`error` taking strings). */
export interface ConsoleLikeLogger {
  debug(...args: unknown[]): void
  info(...args: unknown[]): void
  warn(...args: unknown[]): void
  error(...args: unknown[]): void
}

/**
 * What `new WasmPluginHost({ logger })` accepts: a {@link PluginLogger}, a pino-shaped logger or a
 * console-shaped one.
 * @example
 * ```ts
 * new WasmPluginHost({ logger: console })
 * new WasmPluginHost({ logger: fastify.log })
 * new WasmPluginHost({ logger: { level: 'warn', log: (level, message, source) => mine(level, message, source) } })
 * ```
 */
export type LoggerLike = PluginLogger | PinoLikeLogger | ConsoleLikeLogger

/** Numeric value of a level name. */
export function levelValue(name: LogLevelName | undefined): LogLevel {
  const i = LOG_LEVEL_NAMES.indexOf(name ?? 'info')
  return (i < 0 ? 2 : i) as LogLevel
}

const PINO_LEVELS: Record<string, LogLevelName> = { trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', error: 'error', fatal: 'critical', silent: 'critical' }
const PINO_METHOD: Record<LogLevelName, keyof Pick<PinoLikeLogger, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'>> = {
  trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', error: 'error', critical: 'fatal',
}

const isFn = (v: unknown): v is (...a: unknown[]) => unknown => typeof v === 'function'

/**
 * Turns any {@link LoggerLike} into a {@link PluginLogger}: pino-shaped loggers get a child per
 * plugin, console-shaped ones get `[plugin] [request-id] message` lines.
 * @param logger - the logger (default: {@link createConsoleLogger})
 * @returns a {@link PluginLogger}
 * @throws `PWH_ERR_CONFIG_INVALID` when `logger` has none of the three shapes
 * @example
 * ```ts
 * const logger = toPluginLogger(console)
 * logger.log('info', 'hello', { plugin: 'demo', contextId: 2, origin: 'proxy_log' })
 * ```
 */
export function toPluginLogger(logger: LoggerLike | undefined): PluginLogger {
  if (logger === undefined || logger === null) return createConsoleLogger()
  const l = logger as unknown as Record<string, unknown>
  if (isFn(l.child) && isFn(l.info) && isFn(l.fatal)) return pinoLogger(logger as PinoLikeLogger)
  if (isFn(l.info) && isFn(l.warn) && isFn(l.error) && !(isFn(l.log) && l.log.length >= 3)) return consoleLogger(logger as ConsoleLikeLogger)
  if (isFn(l.log)) return logger as PluginLogger
  throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', 'logger must be a pino logger, console, or { level?, log(level, message, source) }')
}

function pinoLogger(root: PinoLikeLogger): PluginLogger {
  const children = new Map<string, PinoLikeLogger>()
  return {
    level: PINO_LEVELS[root.level] ?? 'info',
    log(level, message, source) {
      let child = children.get(source.plugin)
      if (!child) {
        child = root.child({ plugin: source.plugin })
        children.set(source.plugin, child)
      }
      const fields: Record<string, unknown> = { contextId: source.contextId, origin: source.origin }
      if (source.requestId !== undefined) fields.requestId = source.requestId
      child[PINO_METHOD[level]](fields, message)
    },
  }
}

function consoleLogger(c: ConsoleLikeLogger): PluginLogger {
  return {
    level: 'info',
    log(level, message, source) {
      const line = formatLine(level, message, source)
      // console.trace would print a stack: trace and debug lines go to debug.
      if (level === 'trace' || level === 'debug') c.debug(line)
      else if (level === 'info') c.info(line)
      else if (level === 'warn') c.warn(line)
      else c.error(line)
    },
  }
}

/** `[plugin] [request-id] message` (no request id outside a request). */
function formatLine(_level: LogLevelName, message: string, source: LogSource): string {
  return source.requestId !== undefined ? `[${source.plugin}] [${source.requestId}] ${message}` : `[${source.plugin}] ${message}`
}

/** Options of {@link createConsoleLogger}. */
export interface ConsoleLoggerOptions {
  /** Start each line with an ISO 8601 time (what `proxy-wasm-host serve` prints). Default false. */
  timestamps?: boolean
  /** Where lines go (default: stdout below `warn`, stderr from `warn` up). */
  write?: (line: string, level: LogLevelName) => void
}

/**
 * A logger writing `[level] [plugin] [request-id] message` lines to the console (stderr for warn and
 * above); with `timestamps`, `2025-01-02T03:04:05.678Z INFO  [plugin] [request-id] message`.
 * @param level - lowest level printed (default `info`)
 * @param options - timestamps, where lines go
 * @returns a {@link PluginLogger}
 * @example
 * ```ts
 * const host = new WasmPluginHost({ logger: createConsoleLogger('debug', { timestamps: true }) })
 * ```
 */
export function createConsoleLogger(level: LogLevelName = 'info', options: ConsoleLoggerOptions = {}): PluginLogger {
  const write = options.write ?? ((line: string, lvl: LogLevelName) => (levelValue(lvl) >= 3 ? console.error(line) : console.log(line)))
  return {
    level,
    log(lvl, message, source) {
      const text = formatLine(lvl, message, source)
      write(options.timestamps ? `${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${text}` : `[${lvl}] ${text}`, lvl)
    },
  }
}

const drawnIds = new WeakMap<HttpState, string>()

/**
 * The id of a request for log lines: its `x-request-id` header, else one drawn once per request.
 * @internal
 */
export function requestIdOf(http: HttpState): string {
  const header = http.requestHeaders.get('x-request-id')
  if (header !== undefined) return header
  let id = drawnIds.get(http)
  if (!id) {
    id = randomUUID()
    drawnIds.set(http, id)
  }
  return id
}
