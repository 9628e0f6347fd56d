/**
 * `serve` flags of the isolation limits: `--cpu-limit-ms`, `--max-memory-mb`, `--strict-hostcalls`.
 * @module
 */
import type { FlagGroup } from '../args.js'
import type { ServeOptions } from '../serve.js'

/** `--cpu-limit-ms`, `--max-memory-mb`, `--strict-hostcalls`. @internal */
export const limitFlags: FlagGroup<ServeOptions> = {
  title: 'Limits',
  flags: {
    'cpu-limit-ms': { type: 'string', value: '<ms>', default: '1000', help: 'longest a plugin callback, tick or start-up step may run; then its VM\nfails and its fail strategy applies (0: no limit)' },
    'max-memory-mb': { type: 'string', value: '<n>', default: '1024', help: "largest memory of one plugin VM in MiB; past it memory.grow fails\n(0: no cap)" },
    'strict-hostcalls': { type: 'boolean', help: 'refuse plugins that import hostcalls this host answers Unimplemented\n(instead of a warning)' },
  },
  apply(args, opts) {
    // Only the flags given: a pipeline file's limits: (serve --config) apply where no flag says otherwise.
    const host = (opts.hostOptions ??= {})
    if (args.has('cpu-limit-ms')) host.limits = { ...host.limits, callbackTimeoutMs: args.integer('cpu-limit-ms', 0, 2 ** 31 - 1)! }
    if (args.has('max-memory-mb')) host.limits = { ...host.limits, maxMemoryBytes: args.integer('max-memory-mb', 0, 65536)! * 1024 * 1024 }
    if (args.flag('strict-hostcalls')) host.strictHostcalls = true
  },
}
