/**
 * `serve` flags: scaling out and observing (`--workers`, `--redis`, `--admin-port`).
 * @module
 */
import { usageError, type FlagGroup } from '../args.js'
import type { ServeOptions } from '../serve.js'
import { redactUrl } from '../workers.js'

/** `--workers`, `--redis`, `--admin-port`. @internal */
export const scaleFlags: FlagGroup<ServeOptions> = {
  title: 'Scale-out and metrics',
  flags: {
    workers: { type: 'string', value: '<n>', default: '1', help: 'worker processes behind the one port (node:cluster)' },
    redis: {
      type: 'string',
      value: '<url>',
      help: 'keep shared data and queues in this Redis, so that workers and other gateways\nshare them, and send every Redis cluster name plugins use there\n(redis://[user:password@]host:port[/db])',
    },
    'admin-port': { type: 'string', value: '<n>', help: 'serve plugin metrics (Prometheus text) at /metrics and /stats/prometheus\n(summed over the workers)' },
  },
  apply(args, opts) {
    const workers = args.integer('workers', 1, 256, 1)!
    const redis = args.string('redis')
    if (redis !== undefined) {
      let u: URL | undefined
      try {
        u = new URL(redis)
      } catch {
        u = undefined
      }
      if (!u || (u.protocol !== 'redis:' && u.protocol !== 'rediss:')) throw usageError(`--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(redactUrl(redis))}`, args.command)
    }
    const adminPort = args.integer('admin-port', 0, 65535)
    if (workers === 1 && redis === undefined && adminPort === undefined) return
    opts.scale = { workers, ...(redis !== undefined ? { redis } : {}), ...(adminPort !== undefined ? { adminPort } : {}) }
  },
}
