import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { WasmPluginHost } from '../../src/host/host.js'
import { readPipelineConfig } from '../../src/pipeline/config.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { dnsServer, type DnsServer } from '../dns-server.js'
import { fixture, run } from '../helpers.js'
import { closeAll, httpServer } from '../servers.js'

const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
  await closeAll()
})

function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pwh-up-'))
  const f = join(dir, 'gateway.yaml')
  writeFileSync(f, text)
  return f
}

describe('pipeline file: upstreams: and resolvers: sections', () => {
  it('explicit names and a list of resolvers (static, dns) reach the plugins', async () => {
    const a = await httpServer((_req, res) => res.writeHead(200, { 'x-token': 'A' }).end('a'))
    const b = await httpServer((_req, res) => res.writeHead(200, { 'x-token': 'B' }).end('b'))
    const d: DnsServer = await dnsServer({ A: { 'b.test': ['127.0.0.1'] } })
    closers.push(() => d.close())
    const f = file(`
upstreams:
  outbound|80||a.static: ${a.url}
resolvers:
  - type: static
    services: { other: 10.0.0.1:80 }
  - type: dns
    servers: ['${d.address}']
plugins:
  - name: first
    wasm: ${fixture('go', 'callout')}
    config: { cluster: 'outbound|80||a.static' }
  - name: second
    wasm: ${fixture('go', 'callout-raw')}
    config: { cluster: 'outbound|${b.port}||b.test', headers: [[':method', 'GET'], [':path', '/'], [':authority', 'b.test']], timeout: 2000 }
`)
    const host = new WasmPluginHost({ logger: { level: 'error', log: () => undefined } })
    closers.push(() => host.close())
    const pipe = await PluginPipeline.fromConfig(host, f)
    const r = await run(pipe, { authority: 'x' })
    expect(r.upstream!.headers.get('x-callout-token')).toBe('A')
    expect(r.upstream!.headers.get('x-response-body')).toBe('b')
    expect(host.upstreams.lookup('outbound|80||other.static')?.kind).toBe('static')
  })

  it.each([
    ['upstreams: [a]', /upstreams must be a map of names to URLs/],
    ['upstreams: { a: 42 }', /upstreams\["a"\] must be a URL or a list of URLs/],
    ['upstreams: { a: ftp://x }', /must use http: or https:/],
    ['resolvers: { type: dns }', /resolvers must be a list/],
    ['resolvers: [{ type: consul }]', /resolvers\[0\]: type must be one of static, dns, kubernetes, nacos/],
    ['resolvers: [{ type: dns, server: [x] }]', /"server" is not an option of the dns resolver/],
    ['resolvers: [{ type: nacos }]', /resolvers\[0\]: nacosResolver: serverAddr is missing/],
  ])('%s is a config error naming the file', async (section, message) => {
    const f = file(`${section}\nplugins:\n  - wasm: ${fixture('go', 'minimal')}\n`)
    const host = new WasmPluginHost({ logger: { level: 'error', log: () => undefined } })
    closers.push(() => host.close())
    await expect(PluginPipeline.fromConfig(host, f)).rejects.toMatchObject({ code: 'PWH_ERR_CONFIG_INVALID', message: expect.stringMatching(message) })
    expect(host.plugins).toHaveLength(0)
  })

  it('readPipelineConfig returns the sections as written', async () => {
    const decl = await readPipelineConfig(file(`upstreams: { a: 'http://127.0.0.1:1' }\nresolvers: [{ type: static }]\nplugins: []\n`))
    expect(decl.upstreams).toEqual({ a: 'http://127.0.0.1:1' })
    expect(decl.resolvers).toEqual([{ type: 'static' }])
  })
})
