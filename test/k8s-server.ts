// A small Kubernetes API server on 127.0.0.1 that speaks the EndpointSlice (discovery.k8s.io/v1)
// and Service (v1) read paths the resolver uses, byte for byte as kube-apiserver does: bearer-token
// auth (401 Status otherwise), list with labelSelector and metadata.resourceVersion, watch as
// chunked newline-delimited JSON WatchEvents ({"type","object"}) replayed from resourceVersion,
// BOOKMARK events when asked (allowWatchBookmarks), and an ERROR event carrying a 410 Expired Status
// for a resourceVersion that is too old.
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { closer } from './servers.js'

export interface SliceSpec {
  name: string
  endpoints: Array<{ ip: string; ready?: boolean | null }>
  ports: Array<{ name?: string; port: number }>
}

interface Stored {
  ns: string
  service: string
  slice: Record<string, unknown>
}

interface Watcher {
  ns: string
  service: string
  res: ServerResponse
  bookmarks: boolean
}

export interface K8sServer {
  url: string
  token: string
  /** Requests as `METHOD path?query`. */
  requests: string[]
  /** Adds or replaces a slice (ADDED or MODIFIED to watchers). */
  setSlice(ns: string, service: string, spec: SliceSpec): void
  deleteSlice(ns: string, service: string, name: string): void
  setService(ns: string, name: string, ports: Array<{ name?: string; port: number; targetPort?: number }>): void
  /** Forgets history before the current resourceVersion: older watches get 410. */
  compact(): void
  /** Ends every open watch (as an API server restart or a load balancer timeout does). */
  dropWatches(): void
  /** Open watch connections. */
  watchers(): number
  close(): Promise<void>
}

const status = (code: number, reason: string, message: string) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code })

export async function k8sServer(token = 'test-token'): Promise<K8sServer> {
  let rv = 100
  let oldest = 0
  const slices = new Map<string, Stored>()
  const services = new Map<string, Record<string, unknown>>()
  const history: Array<{ rv: number; ns: string; service: string; type: string; object: Record<string, unknown> }> = []
  const watchers = new Set<Watcher>()
  const requests: string[] = []

  const emit = (ns: string, service: string, type: string, object: Record<string, unknown>) => {
    history.push({ rv, ns, service, type, object })
    for (const w of watchers) if (w.ns === ns && w.service === service) w.res.write(`${JSON.stringify({ type, object })}\n`)
  }
  const sliceObject = (ns: string, service: string, spec: SliceSpec, version: number) => ({
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    metadata: {
      name: spec.name, namespace: ns, uid: `uid-${spec.name}`, resourceVersion: String(version), generation: 1,
      creationTimestamp: '2024-01-01T00:00:00Z',
      labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: service, uid: `uid-svc-${service}`, controller: true, blockOwnerDeletion: true }],
    },
    addressType: 'IPv4',
    endpoints: spec.endpoints.map((e, i) => ({
      addresses: [e.ip],
      conditions: e.ready === null ? {} : { ready: e.ready ?? true, serving: e.ready ?? true, terminating: false },
      targetRef: { kind: 'Pod', namespace: ns, name: `${service}-pod-${i}`, uid: `uid-pod-${i}` },
      nodeName: 'node-1',
    })),
    ports: spec.ports.map((p) => ({ ...(p.name !== undefined ? { name: p.name } : {}), protocol: 'TCP', port: p.port })),
  })

  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    const u = new URL(req.url ?? '/', 'http://x')
    const send = (code: number, body: string) => res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, status(401, 'Unauthorized', 'Unauthorized'))
    let m = /^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/.exec(u.pathname)
    if (m && req.method === 'GET') {
      const ns = decodeURIComponent(m[1]!)
      const sel = /^kubernetes\.io\/service-name=(.+)$/.exec(u.searchParams.get('labelSelector') ?? '')
      const service = sel?.[1]
      const match = (s: { ns: string; service: string }) => s.ns === ns && (service === undefined || s.service === service)
      const watch = u.searchParams.get('watch')
      if (watch === '1' || watch === 'true') {
        const from = Number(u.searchParams.get('resourceVersion') ?? '0')
        res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' })
        if (from < oldest) {
          res.end(`${JSON.stringify({ type: 'ERROR', object: JSON.parse(status(410, 'Expired', `too old resource version: ${from} (${oldest})`)) })}\n`)
          return
        }
        const w: Watcher = { ns, service: service ?? '', res, bookmarks: u.searchParams.get('allowWatchBookmarks') === 'true' }
        for (const h of history) if (h.rv > from && match(h)) res.write(`${JSON.stringify({ type: h.type, object: h.object })}\n`)
        if (w.bookmarks) res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(rv) } } })}\n`)
        watchers.add(w)
        res.on('close', () => watchers.delete(w))
        return
      }
      const items = [...slices.values()].filter(match).map((s) => {
        const { kind: _k, apiVersion: _a, ...rest } = s.slice
        return rest
      })
      return send(200, JSON.stringify({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(rv) }, items }))
    }
    m = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)$/.exec(u.pathname)
    if (m && req.method === 'GET') {
      const svc = services.get(`${m[1]}/${m[2]}`)
      if (!svc) return send(404, status(404, 'NotFound', `services "${m[2]}" not found`))
      return send(200, JSON.stringify(svc))
    }
    send(404, status(404, 'NotFound', 'the server could not find the requested resource'))
  })
  const close = closer(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token,
    requests,
    setSlice(ns, service, spec) {
      rv++
      const key = `${ns}/${spec.name}`
      const existed = slices.has(key)
      const slice = sliceObject(ns, service, spec, rv)
      slices.set(key, { ns, service, slice })
      emit(ns, service, existed ? 'MODIFIED' : 'ADDED', slice)
    },
    deleteSlice(ns, service, name) {
      const s = slices.get(`${ns}/${name}`)
      if (!s) return
      rv++
      slices.delete(`${ns}/${name}`)
      emit(ns, service, 'DELETED', { ...s.slice, metadata: { ...(s.slice.metadata as object), resourceVersion: String(rv) } })
    },
    setService(ns, name, ports) {
      rv++
      services.set(`${ns}/${name}`, {
        kind: 'Service', apiVersion: 'v1',
        metadata: { name, namespace: ns, resourceVersion: String(rv) },
        spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', ports: ports.map((p) => ({ ...(p.name !== undefined ? { name: p.name } : {}), protocol: 'TCP', port: p.port, targetPort: p.targetPort ?? p.port })) },
      })
    },
    compact() {
      oldest = rv
      history.length = 0
    },
    dropWatches() {
      for (const w of watchers) w.res.end()
      watchers.clear()
    },
    watchers: () => watchers.size,
    close,
  }
}
