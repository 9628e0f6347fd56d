/**
 * `serve` flags: where requests go (`--upstream URL`) and what plugins' callout names mean
 * (`--upstream NAME=URL`, repeatable).
 * @module
 */
import { usageError, type FlagGroup } from '../args.js'
import type { ServeOptions } from '../serve.js'

/** `NAME=URL` (NAME holds no `://`), else `undefined`. */
function namedUpstream(arg: string): { name: string; url: string } | undefined {
  const m = /^([^=]+?)=((?:https?):\/\/.*)$/is.exec(arg)
  if (!m || m[1]!.includes('://')) return undefined
  return { name: m[1]!, url: m[2]! }
}

function checkUrl(url: string, flag: string): void {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw usageError(`${flag} must be a URL such as http://127.0.0.1:3000, got ${JSON.stringify(url)}`, 'serve')
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw usageError(`${flag} must use http: or https:, got ${u.protocol}`, 'serve')
}

/** `--upstream`. @internal */
export const upstreamFlags: FlagGroup<ServeOptions> = {
  title: 'Upstream',
  flags: {
    upstream: {
      type: 'string',
      value: '<url | name=url>',
      multiple: true,
      help: 'where requests go (default: a built-in echo upstream that\nanswers like httpbin /anything); NAME=URL names a callout\nupstream (outbound|80||auth.static=http://127.0.0.1:8081),\nrepeatable; see docs/upstreams.md',
    },
  },
  apply(args, opts) {
    let gateway: string | undefined
    for (const value of args.list('upstream')) {
      const named = namedUpstream(value)
      if (named) {
        checkUrl(named.url, `--upstream ${named.name}=`)
        const upstreams = (opts.upstreams ??= {})
        ;(upstreams[named.name] ??= []).push(named.url)
        continue
      }
      if (gateway !== undefined) throw usageError(`--upstream ${value}: the gateway upstream was already given (${gateway}); name callout upstreams as NAME=URL`, 'serve')
      checkUrl(value, '--upstream')
      gateway = value
    }
    if (gateway !== undefined) opts.upstream = gateway
  },
}
