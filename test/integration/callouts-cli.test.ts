import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { parseCommandLine } from '../../src/cli/args.js'
import { serveCommand } from '../../src/cli/command-serve.js'
import { serve, type ServeOptions, type Serving } from '../../src/cli/serve.js'
import { fixture } from '../helpers.js'
import { closeAll, httpServer } from '../servers.js'

const running: Serving[] = []
afterEach(async () => {
  for (const s of running.splice(0)) await s.close(100)
  await closeAll()
})

function options(argv: string[]): ServeOptions {
  const env = { cwd: process.cwd(), print: () => undefined }
  const args = parseCommandLine(serveCommand, argv)
  const opts = serveCommand.init(env as never)
  for (const g of serveCommand.groups) void g.apply?.(args, opts, env as never)
  opts.logger = { level: 'error', log: () => undefined }
  return opts
}

describe('serve --upstream NAME=URL', () => {
  it('names callout upstreams (repeatable) next to the gateway upstream', async () => {
    const auth = await httpServer((_req, res) => res.writeHead(200, { 'x-token': 'cli' }).end('ok'))
    const app = await httpServer((req, res) => res.end(`app saw ${req.headers['x-callout-token']}`))
    const opts = options([
      '--upstream', `outbound|80||auth.static=${auth.url}`,
      '--upstream', app.url,
      '--upstream', `other=${auth.url}`,
      '--plugin', `${fixture('go', 'callout')}={"cluster":"outbound|80||auth.static"}`,
      '--port', '0',
    ])
    expect(opts.upstream).toBe(app.url)
    expect(opts.upstreams).toEqual({ 'outbound|80||auth.static': [auth.url], other: [auth.url] })
    const s = await serve(opts)
    running.push(s)
    const r = await request(`${s.url}/x`)
    expect(await r.body.text()).toBe('app saw cli')
  })

  it('a second gateway URL or a bad URL is a usage error', () => {
    expect(() => options(['--upstream', 'http://127.0.0.1:1', '--upstream', 'http://127.0.0.1:2'])).toThrow(/the gateway upstream was already given/)
    expect(() => options(['--upstream', 'auth=ftp://x'])).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
    expect(() => options(['--upstream', 'not a url'])).toThrow(/--upstream must be a URL/)
  })
})
