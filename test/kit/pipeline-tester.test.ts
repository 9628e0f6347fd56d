// createPipelineTester: a whole WasmPlugin set (or Kong chains) in gateway order, with the match
// rules the plugins apply themselves (route, domain), as a gateway operator would test it.
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import 'proxy-wasm-host/testing/vitest'
import { createPipelineTester, type PipelineTester } from 'proxy-wasm-host/testing'

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
let t: PipelineTester | undefined
afterEach(() => t?.close())

describe('createPipelineTester', () => {
  it('runs the set in gateway order: phase, then priority; responses in reverse', async () => {
    t = await createPipelineTester(here('./gateway.yaml'))
    expect(t.plan()).toEqual(['mock', 'stamp', 'late'])
    const r = await t.request({ path: '/', headers: { host: 'other.org' } })
    expect(r.upstreamRequest?.headers.getAll('x-stamp')).toEqual(['global', 'late'])
    expect(r.upstreamRequest).toHaveHeader('hello', 'world')
    expect(r.response.headers.getAll('x-stamp')).toEqual(['late', 'global'])
  })

  it('route and domain rules pick each plugin\'s configuration per request', async () => {
    t = await createPipelineTester(here('./gateway.yaml'))
    const stamps = async (req: Parameters<PipelineTester['request']>[0]) => (await t!.request(req)).upstreamRequest?.headers.getAll('x-stamp')
    expect(await stamps({ route: 'api', headers: { host: 'other.org' } })).toEqual(['api-rule', 'late'])
    expect(await stamps({ headers: { host: 'a.example.com' } })).toEqual(['domain-rule', 'late'])
    // The route rule comes first in _rules_, so it wins over the domain rule.
    expect(await stamps({ route: 'api', headers: { host: 'a.example.com' } })).toEqual(['api-rule', 'late'])
    const mocked = await t.request({ headers: { host: 'mock.example.com' } })
    expect(mocked).toAnswer(200, 'hello world')
    // The stamp plugins never saw that request (mock answered in AUTHN), so their wasm-go wrapper
    // skips their response handlers on the local reply too.
    expect(mocked.upstreamRequest).toBeUndefined()
    expect(mocked.response.headers.getAll('x-stamp')).toEqual([])
  })

  it('Kong filter chains: service chain, then route chain', async () => {
    t = await createPipelineTester({
      _format_version: '3.0',
      filter_chains: [
        { service: 'orders', filters: [{ name: 'stamp', config: { name: 'svc' } }] },
        { route: 'orders-api', filters: [{ name: 'stamp', config: { name: 'route' } }] },
      ],
    }, { filtersDir: here('../../fixtures/build/go') })
    expect(t.plan({ service: 'orders', route: 'orders-api' })).toEqual(['stamp', 'stamp'])
    const r = await t.request({ headers: { host: 'a' }, service: 'orders', route: 'orders-api' })
    expect(r.upstreamRequest?.headers.getAll('x-stamp')).toEqual(['svc', 'route'])
    // Kong runs response callbacks in request order.
    expect(r.response.headers.getAll('x-stamp')).toEqual(['svc', 'route'])
  })

  it('a bad set fails with the code, naming the file and the plugin', async () => {
    const err = await createPipelineTester({ plugins: [{ name: 'x', wasm: here('./missing.wasm') }] }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'PWH_ERR_PLUGIN_READ' })
    expect((err as Error).message).toContain('missing.wasm')
  })
})
