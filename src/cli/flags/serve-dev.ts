/**
 * `serve` flags of the development loop: `--watch`, `--log-level`.
 * @module
 */
import { LOG_LEVEL_NAMES, type LogLevelName } from '../../abi/enums.js'
import { createConsoleLogger } from '../../host/logger.js'
import type { FlagGroup } from '../args.js'
import type { ServeOptions } from '../serve.js'

/** `--watch`, `--log-level`. @internal */
export const devFlags: FlagGroup<ServeOptions> = {
  title: 'Development',
  flags: {
    watch: { type: 'boolean', short: 'w', help: 'reload when a .wasm or config file changes (running requests\nfinish on the old plugins)' },
    'log-level': { type: 'string', value: '<level>', choices: LOG_LEVEL_NAMES, default: 'info', help: 'lowest level printed' },
  },
  apply(args, opts) {
    opts.watch = args.flag('watch')
    opts.logger = createConsoleLogger((args.string('log-level') ?? 'info') as LogLevelName)
  },
}
