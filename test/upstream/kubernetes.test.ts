import { afterEach, describe, expect, it } from 'vitest'
import { WasmPluginHost } from '../../src/host/host.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { kubernetesResolver } from '../../src/upstream/kubernetes.js'
import { Upstreams } from '../../src/upstream/upstreams.js'
import { fixture, run, type LogLine } from '../helpers.js'
import { k8sServer, type K8sServer } from '../k8s-server.js'
import { closeAll, deadPort, httpServer } from '../servers.js'

const apis: K8sServer[] = []
const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
  await Promise.all(apis.splice(0).map((a) => a.close()))
  await closeAll()
})

async function api() {
  const a = await k8sServer()
  apis.push(a)
  return a
}

function newHost(opts: ConstructorParameters<typeof WasmPluginHost>[0]) {
  const logs: LogLine[] = []
  const host = new WasmPluginHost({ ...opts, logger: { level: 'info', log: (l, m, s) => logs.push({ level: l, message: m, plugin: s.plugin, origin: s.origin }) } })
  closers.push(() => host.close())
  return { host, logs }
}

const until = async (cond: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

const seed = (port = 80) => ({ serviceSource: 'k8s', serviceName: 'auth', namespace: 'prod', servicePort: port, requestPath: '/token', tokenHeader: 'x-token' })

describe('kubernetesResolver against a local API server speaking discovery.k8s.io/v1', () => {
  it('seed http-call with serviceSource k8s; a watch event moves new calls to the new pod', async () => {
    const podA = await httpServer((_req, res) => res.writeHead(200, { 'x-token': 'pod-a' }).end())
    const podB = await httpServer((_req, res) => res.writeHead(200, { 'x-token': 'pod-b' }).end())
    const k = await api()
    k.setSlice('prod', 'auth', { name: 'auth-x1', endpoints: [{ ip: '127.0.0.1' }], ports: [{ name: 'http', port: podA.port }] })
    const { host } = newHost({ resolvers: [kubernetesResolver({ apiServer: k.url, token: k.token })] })
    const plugin = await host.load({ wasm: fixture('go', 'http-call'), config: seed() })
    const pipe = new PluginPipeline(host, { plugins: [plugin] })
    const r0 = await run(pipe, { authority: 'a.com' })
    expect(r0.response.body.toString()).toBe('')
    expect(r0.upstream!.headers.get('x-token')).toBe('pod-a')
    expect(podA.seen[0]!.headers.host).toBe('auth.prod.svc.cluster.local')
    expect(k.requests[0]).toBe('GET /apis/discovery.k8s.io/v1/namespaces/prod/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dauth')
    await until(() => k.watchers() === 1)
    expect(k.requests[1]).toMatch(/^GET \/apis\/discovery\.k8s\.io\/v1\/namespaces\/prod\/endpointslices\?labelSelector=kubernetes\.io%2Fservice-name%3Dauth&watch=1&allowWatchBookmarks=true&resourceVersion=\d+$/)
    // The pod is replaced: the new endpoint arrives through the watch, not a new list.
    k.setSlice('prod', 'auth', { name: 'auth-x1', endpoints: [{ ip: '10.9.9.9', ready: false }, { ip: '127.0.0.1' }], ports: [{ name: 'http', port: podB.port }] })
    await until(() => host.upstreams.hosts('outbound|80||auth.prod.svc.cluster.local')?.join() === `127.0.0.1:${podB.port}`)
    const r = await run(pipe, { authority: 'a.com' })
    expect(r.upstream!.headers.get('x-token')).toBe('pod-b')
    expect(k.requests.filter((x) => !x.includes('watch=1'))).toHaveLength(1)
  })

  it('ready endpoints only (nil ready counts as ready); several slices; DELETED removes a slice', async () => {
    const k = await api()
    k.setSlice('ns1', 'web', { name: 'web-a', endpoints: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', ready: false }, { ip: '10.0.0.3', ready: null }], ports: [{ port: 8080 }] })
    k.setSlice('ns1', 'web', { name: 'web-b', endpoints: [{ ip: '10.0.0.4' }], ports: [{ port: 8080 }] })
    const up = new Upstreams({ resolvers: [kubernetesResolver({ apiServer: k.url, token: k.token })] })
    closers.push(() => up.close())
    const name = 'outbound|80|v1|web.ns1.svc.cluster.local'
    expect((await up.resolve(name))!.map((e) => e.host)).toEqual(['10.0.0.1', '10.0.0.3', '10.0.0.4'])
    await until(() => k.watchers() === 1)
    k.deleteSlice('ns1', 'web', 'web-a')
    await until(async () => (await up.resolve(name))!.length === 1)
    expect(await up.resolve(name)).toEqual([{ host: '10.0.0.4', port: 8080 }])
    expect(await up.resolve('outbound|80||web.ns1.svc')).toEqual([{ host: '10.0.0.4', port: 8080 }])
  })

  it('several ports per slice: the Service port picks the slice port by name', async () => {
    const k = await api()
    k.setService('ns', 'multi', [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'admin', port: 9000, targetPort: 9090 }])
    k.setSlice('ns', 'multi', { name: 'multi-1', endpoints: [{ ip: '10.1.0.1' }], ports: [{ name: 'admin', port: 9090 }, { name: 'http', port: 8080 }] })
    const up = new Upstreams({ resolvers: [kubernetesResolver({ apiServer: k.url, token: k.token })] })
    closers.push(() => up.close())
    expect(await up.resolve('outbound|80||multi.ns.svc.cluster.local')).toEqual([{ host: '10.1.0.1', port: 8080 }])
    expect(await up.resolve('outbound|9000||multi.ns.svc.cluster.local')).toEqual([{ host: '10.1.0.1', port: 9090 }])
  })

  it('410 Gone on the watch: lists again and keeps following', async () => {
    const k = await api()
    k.setSlice('ns', 'g', { name: 'g-1', endpoints: [{ ip: '10.2.0.1' }], ports: [{ port: 80 }] })
    const up = new Upstreams({ resolvers: [kubernetesResolver({ apiServer: k.url, token: k.token, reconnectMs: 20 })] })
    closers.push(() => up.close())
    expect(await up.resolve('outbound|80||g.ns.svc.cluster.local')).toEqual([{ host: '10.2.0.1', port: 80 }])
    await until(() => k.watchers() === 1)
    // The watch drops; meanwhile the pod changes and history is compacted: the watch opened again
    // from the old resourceVersion gets a 410 Expired ERROR event, and the resolver lists again.
    k.dropWatches()
    k.setSlice('ns', 'g', { name: 'g-1', endpoints: [{ ip: '10.2.0.2' }], ports: [{ port: 80 }] })
    k.compact()
    const lists = () => k.requests.filter((x) => !x.includes('watch=1')).length
    await until(() => lists() === 2)
    await until(async () => (await up.resolve('outbound|80||g.ns.svc.cluster.local'))![0]!.host === '10.2.0.2')
    await until(() => k.watchers() === 1)
    k.setSlice('ns', 'g', { name: 'g-1', endpoints: [{ ip: '10.2.0.3' }], ports: [{ port: 80 }] })
    await until(async () => (await up.resolve('outbound|80||g.ns.svc.cluster.local'))![0]!.host === '10.2.0.3')
    expect(lists()).toBe(2)
  })

  it('Kubernetes API down: the plugin gets 503 no healthy upstream at once and a warn line; never a hung request', async () => {
    const port = await deadPort()
    const { host, logs } = newHost({ resolvers: [kubernetesResolver({ apiServer: `http://127.0.0.1:${port}`, token: 't' })] })
    const plugin = await host.load({ wasm: fixture('go', 'callout'), config: { cluster: 'outbound|80||auth.prod.svc.cluster.local', timeout: 3000 } })
    const t0 = Date.now()
    const r = await run(new PluginPipeline(host, { plugins: [plugin] }), { authority: 'a' })
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(r.upstream!.headers.get('x-callout-status')).toBe('503')
    expect(r.upstream!.headers.get('x-callout-body')).toBe('no healthy upstream')
    expect(logs.some((l) => l.level === 'warn' && /cannot list EndpointSlices of prod\/auth from http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/.test(l.message))).toBe(true)
  })

  it('a wrong bearer token: 401 is reported, the call gets 503', async () => {
    const k = await api()
    const up = new Upstreams({ resolvers: [kubernetesResolver({ apiServer: k.url, token: 'wrong' })] })
    closers.push(() => up.close())
    await expect(up.resolve('outbound|80||auth.prod.svc.cluster.local')).rejects.toMatchObject({ code: 'PWH_ERR_UPSTREAM_RESOLVE', message: expect.stringContaining('HTTP 401: Unauthorized') })
  })

  it('kubeconfig: server and token of the current context; no API server at all is a config error', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const k = await api()
    k.setSlice('d', 's', { name: 's-1', endpoints: [{ ip: '10.3.0.1' }], ports: [{ port: 80 }] })
    const dir = mkdtempSync(join(tmpdir(), 'kcfg-'))
    const file = join(dir, 'config')
    writeFileSync(file, `apiVersion: v1\nkind: Config\ncurrent-context: dev\nclusters:\n- name: local\n  cluster:\n    server: ${k.url}\ncontexts:\n- name: dev\n  context:\n    cluster: local\n    user: me\nusers:\n- name: me\n  user:\n    token: ${k.token}\n`)
    const up = new Upstreams({ resolvers: [kubernetesResolver({ kubeconfig: file })] })
    closers.push(() => up.close())
    expect(await up.resolve('outbound|80||s.d.svc.cluster.local')).toEqual([{ host: '10.3.0.1', port: 80 }])
    expect(() => kubernetesResolver({ kubeconfig: join(dir, 'missing') })).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
    expect(() => kubernetesResolver({ kubeconfig: file, context: 'nope' })).toThrow(/has no context "nope"/)
  })
})

