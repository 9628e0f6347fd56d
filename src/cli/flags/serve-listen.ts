/**
 * `serve` flags: where the gateway listens (`--port`, `--host`).
 * @module
 */
import type { FlagGroup } from '../args.js'
import type { ServeOptions } from '../serve.js'

/** `--port`, `--host`. @internal */
export const listenFlags: FlagGroup<ServeOptions> = {
  title: 'Listening',
  flags: {
    port: { type: 'string', value: '<n>', short: 'p', default: '8080', help: 'port to listen on (0: any free port)' },
    host: { type: 'string', value: '<addr>', default: '127.0.0.1', help: 'address to listen on (0.0.0.0: every interface)' },
  },
  apply(args, opts) {
    opts.port = args.integer('port', 0, 65535)!
    opts.host = args.string('host') ?? '127.0.0.1'
  },
}
