/**
 * `kubernetesResolver`: Kubernetes Services by their cluster names
 * (`outbound|<port>|<subset>|<svc>.<ns>.svc.cluster.local`), endpoints from EndpointSlices
 * (`discovery.k8s.io/v1`): listed once, then kept current with a **watch**; ready endpoints only.
 * Credentials: a bearer token, the pod's service account (in-cluster), or a kubeconfig.
 * @module
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { Agent, type Dispatcher } from 'undici'
import { parse as parseYaml } from 'yaml'
import { ProxyWasmHostError } from '../errors.js'
import { withSignal } from './cached-source.js'
import type { Endpoint, EndpointSource, UpstreamResolver } from './types.js'

/** Options of {@link kubernetesResolver}. */
export interface KubernetesResolverOptions {
  /** API server URL (`https://10.0.0.1:6443`). Default: the kubeconfig's, else the in-cluster one. */
  apiServer?: string
  /** Bearer token. */
  token?: string
  /** File holding the bearer token, read again on every (re)connect (service-account tokens rotate). */
  tokenFile?: string
  /** CA certificate(s) (PEM) of the API server. */
  ca?: string | Buffer
  /** Accept any API server certificate (test clusters only). */
  insecureSkipTlsVerify?: boolean
  /** A kubeconfig file to read server and credentials from (default `$KUBECONFIG`, then `~/.kube/config`, when not in a cluster). */
  kubeconfig?: string
  /** The kubeconfig context (default: its `current-context`). */
  context?: string
  /** Use the pod's service account (`/var/run/secrets/kubernetes.io/serviceaccount`, `KUBERNETES_SERVICE_HOST`). Default: when those exist and nothing else is given. */
  inCluster?: boolean
  /** Timeout of each list request, in ms (default 5 000). */
  requestTimeoutMs?: number
  /** Delay before a dropped watch is opened again, in ms (default 1 000). */
  reconnectMs?: number
}

interface Slice {
  metadata?: { name?: string; resourceVersion?: string }
  addressType?: string
  endpoints?: Array<{ addresses?: string[]; conditions?: { ready?: boolean | null } }>
  ports?: Array<{ name?: string; port?: number; appProtocol?: string }> | null
}

interface Access {
  server: string
  token: () => string | undefined
  dispatcher: Dispatcher
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/**
 * Resolves Kubernetes Service names through the API server's EndpointSlices.
 *
 * Each Service named by a plugin is listed on first use
 * (`GET /apis/discovery.k8s.io/v1/namespaces/<ns>/endpointslices?labelSelector=kubernetes.io/service-name=<svc>`)
 * and watched from then on (`watch=1&resourceVersion=…&allowWatchBookmarks=true`, re-listed on
 * `410 Gone`), so a pod that comes or goes moves the next call. Endpoints whose `ready` condition is
 * false are left out. With one port per slice that port is used (the Service port in the cluster
 * name maps to it); with several, the slice port named like the Service's port. When the API cannot
 * be reached the last known endpoints keep serving; with none, the plugin sees `no healthy upstream`.
 *
 * @param options - API server, credentials, timeouts
 * @returns a resolver for `new WasmPluginHost({ resolvers: [...] })`
 * @throws `PWH_ERR_CONFIG_INVALID` when no API server can be found (none given, no kubeconfig, not
 * in a cluster) or the kubeconfig cannot be read
 * @example
 * ```ts
 * const host = new WasmPluginHost({ resolvers: [kubernetesResolver()] }) // in a pod: its service account
 * const dev = kubernetesResolver({ kubeconfig: '/home/me/.kube/config', context: 'staging' })
 * ```
 */
export function kubernetesResolver(options: KubernetesResolverOptions = {}): UpstreamResolver {
  const access = resolveAccess(options)
  const watchers = new Map<string, ServiceWatch>()
  let closed = false
  return {
    kind: 'k8s',
    claim(t) {
      const c = t.cluster
      if (c.kind !== 'k8s') return undefined
      const key = `${c.namespace}/${c.service}`
      let w = watchers.get(key)
      if (!w) {
        w = new ServiceWatch(access, c.namespace, c.service, options)
        watchers.set(key, w)
      }
      const watch = w
      const source: EndpointSource = {
        key: `${key}:${c.port}`,
        endpoints: (signal) => (closed ? Promise.reject(new Error('resolver closed')) : watch.endpoints(c.port, signal)),
        current: () => watch.current(c.port),
        // Listed and watched: the list is current without asking (endpoints() answers the same).
        fresh: () => (closed ? undefined : watch.current(c.port)),
      }
      return source
    },
    async close() {
      closed = true
      for (const w of watchers.values()) w.stop()
      watchers.clear()
      await access.dispatcher.close()
    },
  }
}

/** Server and credentials from the options, a kubeconfig, or the pod's service account. */
function resolveAccess(o: KubernetesResolverOptions): Access {
  const fail = (msg: string, cause?: unknown): never => {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `kubernetesResolver: ${msg}`, cause === undefined ? undefined : { cause })
  }
  const readFile = (path: string, what: string) => {
    try {
      return readFileSync(path)
    } catch (err) {
      return fail(`cannot read ${what} ${path} (${(err as Error).message})`, err)
    }
  }
  let server = o.apiServer
  let token: () => string | undefined = () => o.token
  let ca: string | Buffer | undefined = o.ca
  let cert: Buffer | undefined
  let key: Buffer | undefined
  let insecure = o.insecureSkipTlsVerify ?? false
  if (o.tokenFile) {
    const file = o.tokenFile
    token = () => readFile(file, 'tokenFile').toString('utf8').trim()
  }
  const env = process.env
  const inCluster = o.inCluster ?? (!server && !o.kubeconfig && env.KUBERNETES_SERVICE_HOST !== undefined)
  if (!server && inCluster) {
    const h = env.KUBERNETES_SERVICE_HOST
    if (!h) fail('inCluster is set but KUBERNETES_SERVICE_HOST is not (is this a pod?)')
    server = `https://${h!.includes(':') ? `[${h}]` : h}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`
    if (!o.token && !o.tokenFile) token = () => readFile(join(SA_DIR, 'token'), 'the service account token').toString('utf8').trim()
    ca ??= readFile(join(SA_DIR, 'ca.crt'), 'the service account CA')
  }
  if (!server) {
    const path = o.kubeconfig ?? env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config')
    let doc: Record<string, unknown>
    try {
      doc = parseYaml(readFileSync(path, 'utf8')) as Record<string, unknown>
    } catch (err) {
      return fail(`no API server: give apiServer, a kubeconfig, or run in a pod (reading ${path}: ${(err as Error).message})`, err)
    }
    const named = <T>(list: unknown, name: string | undefined, field: string): T | undefined =>
      (Array.isArray(list) ? list : []).find((x: { name?: string }) => x?.name === name)?.[field] as T | undefined
    const ctxName = o.context ?? (doc['current-context'] as string | undefined)
    const ctx = named<{ cluster?: string; user?: string }>(doc.contexts, ctxName, 'context')
    if (!ctx) fail(`${path} has no context ${JSON.stringify(ctxName)}`)
    const cluster = named<Record<string, string | boolean>>(doc.clusters, ctx!.cluster, 'cluster') ?? {}
    const user = named<Record<string, string>>(doc.users, ctx!.user, 'user') ?? {}
    server = cluster.server as string | undefined
    if (!server) fail(`${path}: cluster ${JSON.stringify(ctx!.cluster)} has no server`)
    if (cluster['certificate-authority-data']) ca ??= Buffer.from(String(cluster['certificate-authority-data']), 'base64')
    else if (cluster['certificate-authority']) ca ??= readFile(String(cluster['certificate-authority']), 'certificate-authority')
    if (cluster['insecure-skip-tls-verify'] === true) insecure = true
    if (!o.token && !o.tokenFile) {
      if (user.token) token = () => user.token
      else if (user.tokenFile) token = () => readFile(user.tokenFile!, 'tokenFile').toString('utf8').trim()
    }
    if (user['client-certificate-data']) cert = Buffer.from(user['client-certificate-data'], 'base64')
    else if (user['client-certificate']) cert = readFile(user['client-certificate'], 'client-certificate')
    if (user['client-key-data']) key = Buffer.from(user['client-key-data'], 'base64')
    else if (user['client-key']) key = readFile(user['client-key'], 'client-key')
  }
  try {
    new URL(server!)
  } catch (err) {
    fail(`apiServer ${JSON.stringify(server)} is not a URL`, err)
  }
  const connect: Record<string, unknown> = { timeout: o.requestTimeoutMs ?? 5000 }
  if (ca) connect.ca = ca
  if (cert) connect.cert = cert
  if (key) connect.key = key
  if (insecure) connect.rejectUnauthorized = false
  return { server: server!.replace(/\/+$/, ''), token, dispatcher: new Agent({ connect }) }
}

/** List + watch of the EndpointSlices of one Service. */
class ServiceWatch {
  readonly #slices = new Map<string, Slice>()
  #servicePorts: Array<{ name?: string; port?: number }> | undefined
  #synced = false
  #syncing: Promise<void> | undefined
  #lastTry = 0
  #lastError: Error | undefined
  #rv = ''
  #ac = new AbortController()
  #stopped = false
  readonly #base: string

  constructor(
    readonly access: Access,
    readonly namespace: string,
    readonly service: string,
    readonly options: KubernetesResolverOptions,
  ) {
    this.#base = `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`
  }

  async endpoints(port: number, signal?: AbortSignal): Promise<readonly Endpoint[]> {
    if (!this.#synced) {
      // Not listed yet (or the API was down): list again, at most once a second.
      if (!this.#syncing && Date.now() - this.#lastTry < 1000 && this.#lastError) throw this.#lastError
      this.#syncing ??= this.#list().finally(() => (this.#syncing = undefined))
      await withSignal(this.#syncing, signal)
    }
    return this.current(port)!
  }

  current(port: number): readonly Endpoint[] | undefined {
    if (!this.#synced) return undefined
    const out: Endpoint[] = []
    const seen = new Set<string>()
    for (const s of this.#slices.values()) {
      if (s.addressType === 'FQDN') continue
      const p = this.#port(s, port)
      if (p === undefined) continue
      for (const e of s.endpoints ?? []) {
        // A missing ready condition means unknown, which consumers treat as ready (API reference).
        if (e.conditions?.ready === false) continue
        for (const host of e.addresses ?? []) {
          const k = `${host}:${p.port}`
          if (seen.has(k)) continue
          seen.add(k)
          out.push(p.https ? { host, port: p.port, protocol: 'https:' } : { host, port: p.port })
        }
      }
    }
    return out
  }

  #port(s: Slice, servicePort: number): { port: number; https: boolean } | undefined {
    const ports = (s.ports ?? []).filter((p) => typeof p.port === 'number')
    const pick = (p: { name?: string; port?: number; appProtocol?: string }) => ({ port: p.port!, https: p.appProtocol === 'https' || p.name === 'https' })
    if (ports.length === 1) return pick(ports[0]!)
    const name = this.#servicePorts?.find((p) => p.port === servicePort)?.name
    const byName = ports.find((p) => (p.name ?? '') === (name ?? ''))
    if (byName) return pick(byName)
    const byNumber = ports.find((p) => p.port === servicePort)
    return byNumber ? pick(byNumber) : undefined
  }

  async #get(path: string, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { accept: 'application/json' }
    const token = this.access.token()
    if (token) headers.authorization = `Bearer ${token}`
    return this.access.dispatcher.request({ origin: this.access.server, path, method: 'GET', headers, signal, headersTimeout: this.options.requestTimeoutMs ?? 5000, bodyTimeout: 0 })
  }

  async #list(): Promise<void> {
    this.#lastTry = Date.now()
    const what = `EndpointSlices of ${this.namespace}/${this.service} from ${this.access.server}`
    try {
      const timeout = AbortSignal.timeout(this.options.requestTimeoutMs ?? 5000)
      const res = await this.#get(this.#base, AbortSignal.any([timeout, this.#ac.signal]))
      const text = await res.body.text()
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${statusMessage(text)}`)
      const list = JSON.parse(text) as { metadata?: { resourceVersion?: string }; items?: Slice[] }
      this.#slices.clear()
      for (const s of list.items ?? []) this.#slices.set(s.metadata?.name ?? '', s)
      this.#rv = list.metadata?.resourceVersion ?? ''
      if ([...this.#slices.values()].some((s) => (s.ports?.length ?? 0) > 1)) await this.#readService()
      this.#synced = true
      this.#lastError = undefined
      void this.#watch()
    } catch (err) {
      const e = new ProxyWasmHostError('PWH_ERR_UPSTREAM_RESOLVE', `cannot list ${what}: ${errorText(err)}`, { cause: err })
      this.#lastError = e
      throw e
    }
  }

  async #readService(): Promise<void> {
    const res = await this.#get(`/api/v1/namespaces/${encodeURIComponent(this.namespace)}/services/${encodeURIComponent(this.service)}`, AbortSignal.any([AbortSignal.timeout(this.options.requestTimeoutMs ?? 5000), this.#ac.signal]))
    const text = await res.body.text()
    if (res.statusCode === 200) this.#servicePorts = (JSON.parse(text) as { spec?: { ports?: Array<{ name?: string; port?: number }> } }).spec?.ports ?? []
  }

  async #watch(): Promise<void> {
    while (!this.#stopped) {
      let relist = false
      try {
        const res = await this.#get(`${this.#base}&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(this.#rv)}`, this.#ac.signal)
        if (res.statusCode === 410) {
          await res.body.dump()
          relist = true
        } else if (res.statusCode !== 200) {
          await res.body.dump()
        } else {
          let buf = ''
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            buf += chunk.toString('utf8')
            let nl: number
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl).trim()
              buf = buf.slice(nl + 1)
              if (line && this.#event(line)) relist = true
            }
            if (relist) break
          }
          if (relist) res.body.destroy()
        }
      } catch {
        // dropped connection or API down: try again below (the last endpoints keep serving)
      }
      if (this.#stopped) return
      if (relist) {
        try {
          await this.#list()
          return // #list started a new watch
        } catch {
          // keep the last known endpoints; try again later
        }
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, this.options.reconnectMs ?? 1000)
        t.unref()
      })
    }
  }

  /** Applies one watch event; true when the list must be read again (410 Gone). */
  #event(line: string): boolean {
    let ev: { type?: string; object?: Slice & { code?: number } }
    try {
      ev = JSON.parse(line)
    } catch {
      return false
    }
    const obj = ev.object
    if (ev.type === 'ERROR') return obj?.code === 410
    const rv = obj?.metadata?.resourceVersion
    if (rv) this.#rv = rv
    if (ev.type === 'BOOKMARK' || !obj) return false
    const name = obj.metadata?.name ?? ''
    if (ev.type === 'DELETED') this.#slices.delete(name)
    else if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.#slices.set(name, obj)
    return false
  }

  stop(): void {
    this.#stopped = true
    this.#ac.abort()
  }
}

function statusMessage(text: string): string {
  try {
    const s = JSON.parse(text) as { message?: string; reason?: string }
    return s.message ?? s.reason ?? text.slice(0, 200)
  } catch {
    return text.slice(0, 200)
  }
}

function errorText(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string } }
  const code = e?.code && e.code !== 'UND_ERR_SOCKET' ? e.code : e?.cause?.code
  return `${code ? `${code}: ` : ''}${e?.message ?? String(err)}`
}
