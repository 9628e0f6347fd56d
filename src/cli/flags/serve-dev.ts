/**
 * `serve` flags of the development loop: `--watch`, `--log-level`, `--no-access-log`.
 * @module
 */
import { LOG_LEVEL_NAMES, type LogLevelName } from '../../abi/enums.js'
import { createConsoleLogger } from '../../host/logger.js'
import type { FlagGroup } from '../args.js'
import type { ServeOptions } from '../serve.js'

/** `--watch`, `--log-level`, `--no-access-log`. @internal */
export const devFlags: FlagGroup<ServeOptions> = {
  title: 'Development',
  flags: {
    watch: { type: 'boolean', short: 'w', help: 'reload when a .wasm or config file changes (running requests\nfinish on the old plugins)' },
    'log-level': { type: 'string', value: '<level>', choices: LOG_LEVEL_NAMES, default: 'info', help: 'lowest level printed; trace adds every callback, action and\nhostcall of the plugins' },
    'no-access-log': { type: 'boolean', help: 'no access log line per request' },
  },
  apply(args, opts) {
    opts.watch = args.flag('watch')
    const level = (args.string('log-level') ?? 'info') as LogLevelName
    opts.logLevel = level
    opts.logger = createConsoleLogger(level, { timestamps: true })
    opts.accessLog = !args.flag('no-access-log')
  },
}
