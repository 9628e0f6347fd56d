/**
 * `serve` flags: where requests go (`--upstream`).
 * @module
 */
import { usageError, type FlagGroup } from '../args.js'
import type { ServeOptions } from '../serve.js'

/** `--upstream`. @internal */
export const upstreamFlags: FlagGroup<ServeOptions> = {
  title: 'Upstream',
  flags: {
    upstream: {
      type: 'string',
      value: '<url>',
      help: 'where requests go (default: a built-in echo upstream that\nanswers like httpbin /anything)',
    },
  },
  apply(args, opts) {
    const upstream = args.string('upstream')
    if (upstream === undefined) return
    let u: URL
    try {
      u = new URL(upstream)
    } catch {
      throw usageError(`--upstream must be a URL such as http://127.0.0.1:3000, got ${JSON.stringify(upstream)}`, 'serve')
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw usageError(`--upstream must use http: or https:, got ${u.protocol}`, 'serve')
    opts.upstream = upstream
  },
}
