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
    const callbackTimeoutMs = args.integer('cpu-limit-ms', 0, 2 ** 31 - 1, 1000)!
    const mib = args.integer('max-memory-mb', 0, 65536, 1024)!
    const host = (opts.hostOptions ??= {})
    host.limits = { ...host.limits, callbackTimeoutMs, maxMemoryBytes: mib * 1024 * 1024 }
    if (args.flag('strict-hostcalls')) host.strictHostcalls = true
  },
}
