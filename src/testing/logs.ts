/** Log capture for testers: every plugin line, by level, with its context id. @module */
import type { LogLevelName } from '../abi/enums.js'
import { levelValue, type LogSource, type PluginLogger } from '../host/logger.js'

/** One line a plugin (or the host, about the plugin) logged. */
export interface TestLogLine {
  /** Level name (`trace` … `critical`); WASI stdout is `info`, stderr `error`. */
  level: LogLevelName
  /** The text as the plugin wrote it. */
  message: string
  /** Context id that was running: the stream's for request callbacks, the root's for ticks and callouts, 0 at start-up. */
  contextId: number
  /** Plugin name. */
  plugin: string
  /** `proxy_log`, `stdout`, `stderr` or `host`. */
  origin: LogSource['origin']
}

/** Where testers keep what plugins logged. @internal */
export class LogCapture {
  readonly lines: TestLogLine[] = []
  readonly logger: PluginLogger

  /**
   * @param level - lowest level captured (plugins read it and skip lower lines)
   * @param live - also print each line as it comes (`PWH_TEST_LOGS=1`)
   */
  constructor(level: LogLevelName, live: boolean) {
    this.logger = {
      level,
      log: (lvl, message, source) => {
        const line: TestLogLine = { level: lvl, message, contextId: source.contextId, plugin: source.plugin, origin: source.origin }
        this.lines.push(line)
        if (live) process.stderr.write(`${formatLogLine(line)}\n`)
      },
    }
  }
}

/**
 * One line as `[level] [plugin#context] message`.
 * @param line - a captured line
 * @returns the text
 * @example
 * ```ts
 * t.logs.map(formatLogLine) // ['[warn] [my-plugin#2] config is empty']
 * ```
 */
export function formatLogLine(line: TestLogLine): string {
  return `[${line.level}] [${line.plugin}#${line.contextId}] ${line.message}`
}

/** Whether `line` is at `level` or above. @internal */
export function atLeast(line: TestLogLine, level: LogLevelName): boolean {
  return levelValue(line.level) >= levelValue(level)
}
