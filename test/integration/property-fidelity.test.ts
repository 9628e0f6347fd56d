// Properties a real Envoy plugin reads that dotted strings cannot name (metadata namespaces with
// dots), and the TLS facts of an https connection, read by a compiled Go plugin.
import { createServer as createHttpsServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { handle } from '../../src/adapters/node/index.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import type { PropertyPath, PropertyValue } from '../../src/host/properties.js'
import type { WasmPluginHost } from '../../src/host/host.js'
import { fixture, hostsClosedAfterEach, pipelineOf, run, testHost } from '../helpers.js'
import { makeTestCerts, type TestCerts } from '../tls-certs.js'

const newHost = hostsClosedAfterEach()
const reader = fixture('go', 'property-reader')
const WASM_NS = 'envoy.filters.http.wasm'

describe('property paths', () => {
  it('a plugin reads route metadata whose namespace contains dots (segment arrays, Map keyed by arrays)', async () => {
    const { host } = newHost('info')
    const headers = {
      'x-tenant': ['xds', 'route_metadata', 'filter_metadata', WASM_NS, 'tenant'],
      'x-canary': ['metadata', 'filter_metadata', 'envoy.lb', 'canary'],
      'x-node': ['node', 'id'],
      'x-dotted-one-segment': ['node.id'],
    }
    const properties = new Map<PropertyPath, PropertyValue>([
      [['xds', 'route_metadata', 'filter_metadata', WASM_NS, 'tenant'], 'acme'],
      ['node.id', 'gw-1'],
    ])
    const p = await pipelineOf(host, [{ wasm: reader, config: { headers }, properties }])
    // Per request: an entry list, also keyed by segments.
    const r = await run(p, { path: '/', authority: 'a.test', properties: [[['metadata', 'filter_metadata', 'envoy.lb', 'canary'], true]] })
    const h = r.upstream!.headers
    expect(h.get('x-tenant')).toBe('acme')
    expect(h.get('x-canary')).toBe('true')
    expect(h.get('x-node')).toBe('gw-1')
    // One segment that happens to contain a dot is another path, as in Envoy.
    expect(h.get('x-dotted-one-segment')).toMatch(/^ERR:.*not found/)
  })

  it('a request property overrides a plugin property of the same path', async () => {
    const { host } = newHost('info')
    const path = ['xds', 'route_metadata', 'filter_metadata', WASM_NS, 'tenant']
    const p = await pipelineOf(host, [{ wasm: reader, config: { headers: { 'x-tenant': path } }, properties: [[path, 'plugin-level']] }])
    expect((await run(p, { properties: new Map([[path, 'request-level']]) })).upstream!.headers.get('x-tenant')).toBe('request-level')
    expect((await run(p, {})).upstream!.headers.get('x-tenant')).toBe('plugin-level')
  })

  it('refuses malformed paths with a coded error before anything runs', async () => {
    const { host } = newHost('info')
    await expect(host.load({ wasm: reader, config: { headers: {} }, properties: new Map([[[], 'x']]) })).rejects.toMatchObject({ code: 'PWH_ERR_CONFIG_INVALID' })
    await expect(host.load({ wasm: reader, config: { headers: {} }, properties: [[['a\0b'], 'x']] })).rejects.toThrow(/without NUL characters/)
    const p = await pipelineOf(host, [{ wasm: reader, config: { headers: {} } }])
    expect(() => p.exchange({ properties: [[[], 'x']] })).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
  })

  it('a pipeline file gives properties as { path: [segments], value } entries', async () => {
    const { host } = newHost('info')
    const pipeline = await PluginPipeline.fromConfig(host, {
      plugins: [{
        wasm: reader,
        config: { headers: { 'x-tenant': ['xds', 'route_metadata', 'filter_metadata', WASM_NS, 'tenant'] } },
        properties: [{ path: ['xds', 'route_metadata', 'filter_metadata', WASM_NS, 'tenant'], value: 'from-yaml' }],
      }],
    })
    expect((await run(pipeline, {})).upstream!.headers.get('x-tenant')).toBe('from-yaml')
  })
})

describe('TLS properties over https', () => {
  let certs: TestCerts
  let server: Server
  let url: string
  let host: WasmPluginHost
  const tlsHeaders = {
    'x-sni': ['connection', 'requested_server_name'],
    'x-tls-version': ['connection', 'tls_version'],
    'x-mtls': ['connection', 'mtls'],
    'x-local-subject': ['connection', 'subject_local_certificate'],
    'x-local-dns-san': ['connection', 'dns_san_local_certificate'],
    'x-peer-subject': ['connection', 'subject_peer_certificate'],
    'x-peer-uri-san': ['connection', 'uri_san_peer_certificate'],
    'x-peer-dns-san': ['connection', 'dns_san_peer_certificate'],
    'x-peer-digest': ['connection', 'sha256_peer_certificate_digest'],
    'x-scheme': ['request', 'scheme'],
  }

  beforeAll(async () => {
    certs = makeTestCerts()
    // Not newHost: its hosts close after each test, this one serves the whole block.
    host = testHost('info').host
    const pipeline = await pipelineOf(host, [{ wasm: reader, config: { headers: tlsHeaders } }])
    // The plugin's headers reach the handler, which sends them back.
    const app = handle(pipeline, (req, res) => res.end(JSON.stringify(req.headers)))
    server = createHttpsServer({ cert: certs.pem.serverCert, key: certs.pem.serverKey, ca: certs.pem.ca, requestCert: true, rejectUnauthorized: false }, app)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    server?.closeAllConnections()
    await new Promise((r) => server?.close(r))
    certs?.remove()
    host?.close()
  })

  const get = async (connect: ConstructorParameters<typeof Agent>[0] extends infer O ? O extends { connect?: infer C } ? C : never : never) => {
    const agent = new Agent({ connect })
    try {
      const r = await request(`${url}/`, { dispatcher: agent })
      const text = await r.body.text()
      try {
        return JSON.parse(text) as Record<string, string>
      } catch {
        throw new Error(`status ${r.statusCode}: ${text}`)
      }
    } finally {
      await agent.close()
    }
  }

  it('the plugin reads the SNI, TLS version and the server certificate', async () => {
    const h = await get({ ca: certs.pem.ca, servername: 'api.example.test' })
    expect(h['x-sni']).toBe('api.example.test')
    expect(h['x-tls-version']).toMatch(/^TLSv1\.[23]$/)
    expect(h['x-mtls']).toBe('false')
    expect(h['x-local-subject']).toBe('CN=api.example.test,O=Example')
    expect(h['x-local-dns-san']).toBe('api.example.test')
    expect(h['x-peer-subject']).toMatch(/^ERR:.*not found/)
    expect(h['x-scheme']).toBe('https')
  })

  it('with a client certificate: connection.mtls and the peer certificate fields', async () => {
    const h = await get({ ca: certs.pem.ca, servername: 'www.example.test', cert: certs.pem.clientCert, key: certs.pem.clientKey })
    expect(h['x-sni']).toBe('www.example.test')
    expect(h['x-mtls']).toBe('true')
    // RFC 2253: reverse order, the comma in the organisation escaped.
    expect(h['x-peer-subject']).toBe('CN=client one,O=Example\\, Inc.')
    expect(h['x-peer-uri-san']).toBe('spiffe://example.test/ns/default/sa/client')
    expect(h['x-peer-dns-san']).toBe('client.example.test')
    const { X509Certificate } = await import('node:crypto')
    expect(h['x-peer-digest']).toBe(new X509Certificate(certs.pem.clientCert).fingerprint256.replaceAll(':', '').toLowerCase())
  })
})
