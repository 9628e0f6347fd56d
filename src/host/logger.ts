import { LOG_LEVEL_NAMES, type LogLevel, type LogLevelName } from '../abi/enums.js'

/** Where a log line came from. */
export interface LogSource {
  /** Plugin name. */
  plugin: string
  /** Context id that was running (0 while the VM starts up). */
  contextId: number
  /** `proxy_log`, or `stdout`/`stderr` for WASI `fd_write`, or `host` for the host's own lines. */
  origin: 'proxy_log' | 'stdout' | 'stderr' | 'host'
}

/**
 * A pluggable logger. `level` is the lowest level passed on; plugins read it through
 * `proxy_get_log_level` and Higress's `get_log_level` foreign function and skip lower messages.
 *
 * @example
 * ```ts
 * const lines: string[] = []
 * const logger: PluginLogger = { level: 'debug', log: (lvl, msg, src) => lines.push(`${src.plugin} ${lvl} ${msg}`) }
 * ```
 */
export interface PluginLogger {
  /** Lowest level forwarded (default `info`). */
  level?: LogLevelName
  /**
   * Receives one line.
   * @param level - level name
   * @param message - the text as the plugin wrote it (one trailing newline of WASI output removed)
   * @param source - plugin, context id and origin
   */
  log(level: LogLevelName, message: string, source: LogSource): void
}

/** Numeric value of a level name. */
export function levelValue(name: LogLevelName | undefined): LogLevel {
  const i = LOG_LEVEL_NAMES.indexOf(name ?? 'info')
  return (i < 0 ? 2 : i) as LogLevel
}

/**
 * A logger writing `[level] [plugin] message` lines to the console (stderr for warn and above).
 * @param level - lowest level printed (default `info`)
 * @returns a {@link PluginLogger}
 * @example
 * ```ts
 * const host = new WasmPluginHost({ logger: createConsoleLogger('debug') })
 * ```
 */
export function createConsoleLogger(level: LogLevelName = 'info'): PluginLogger {
  return {
    level,
    log(lvl, message, source) {
      const line = `[${lvl}] [${source.plugin}] ${message}`
      if (levelValue(lvl) >= 3) console.error(line)
      else console.log(line)
    },
  }
}
