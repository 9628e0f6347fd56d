// A small Nacos server on 127.0.0.1 speaking the open-API paths the resolver uses, as Nacos 2.x
// answers them: POST /nacos/v1/auth/login (form username/password → accessToken, tokenTtl; 403
// "unknown user!"), GET /nacos/v1/ns/instance/list (the service object) and
// GET /nacos/v2/ns/instance/list ({ code, message, data }), with namespaceId (default public),
// groupName (default DEFAULT_GROUP), healthyOnly, and 403 "user not found!" without a valid
// accessToken when auth is on.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { closer } from './servers.js'

export interface NacosInstance {
  ip: string
  port: number
  weight?: number
  healthy?: boolean
  enabled?: boolean
}

export interface NacosServer {
  url: string
  requests: string[]
  /** Sets the instances of `service` in `group` / `namespace`. */
  setInstances(service: string, instances: NacosInstance[], opts?: { group?: string; namespace?: string }): void
  /** Invalidates every token issued so far (as a token expiry does). */
  revokeTokens(): void
  close(): Promise<void>
}

export async function nacosServer(auth?: { username: string; password: string }): Promise<NacosServer> {
  const store = new Map<string, NacosInstance[]>()
  let tokens = new Set<string>()
  let n = 0
  const requests: string[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`)
      const u = new URL(req.url ?? '/', 'http://x')
      const json = (code: number, body: unknown) => {
        const text = JSON.stringify(body)
        res.writeHead(code, { 'content-type': 'application/json;charset=UTF-8', 'content-length': Buffer.byteLength(text) }).end(text)
      }
      const text = (code: number, body: string) => res.writeHead(code, { 'content-type': 'text/html;charset=UTF-8', 'content-length': Buffer.byteLength(body) }).end(body)
      if (req.method === 'POST' && u.pathname === '/nacos/v1/auth/login') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString())
        const user = form.get('username') ?? u.searchParams.get('username')
        const pass = form.get('password') ?? u.searchParams.get('password')
        if (!auth || user !== auth.username || pass !== auth.password) return text(403, 'unknown user!')
        const token = `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(`${user}:${++n}`).toString('base64url')}.sig`
        tokens.add(token)
        return json(200, { accessToken: token, tokenTtl: 18000, globalAdmin: true, username: user })
      }
      const v = /^\/nacos\/(v1|v2)\/ns\/instance\/list$/.exec(u.pathname)
      if (req.method === 'GET' && v) {
        if (auth && !tokens.has(u.searchParams.get('accessToken') ?? '')) {
          return v[1] === 'v2' ? json(403, { code: 403, message: 'user not found!', data: null }) : text(403, 'user not found!')
        }
        const service = u.searchParams.get('serviceName')
        if (!service) return v[1] === 'v2' ? json(400, { code: 10000, message: 'parameter missing', data: "Required parameter 'serviceName' type String is not present" }) : text(400, "caused: Param 'serviceName' is required.;")
        const group = u.searchParams.get('groupName') || 'DEFAULT_GROUP'
        const namespace = u.searchParams.get('namespaceId') || 'public'
        const healthyOnly = u.searchParams.get('healthyOnly') === 'true'
        const grouped = `${group}@@${service}`
        const hosts = (store.get(`${namespace}/${grouped}`) ?? []).filter((h) => !healthyOnly || h.healthy !== false).map((h) => ({
          ip: h.ip, port: h.port, weight: h.weight ?? 1.0, healthy: h.healthy ?? true, enabled: h.enabled ?? true, ephemeral: true,
          clusterName: 'DEFAULT', serviceName: grouped, metadata: {},
          instanceHeartBeatInterval: 5000, instanceHeartBeatTimeOut: 15000, ipDeleteTimeout: 30000, instanceIdGenerator: 'simple',
          instanceId: `${h.ip}#${h.port}#DEFAULT#${grouped}`,
        }))
        const data = { name: grouped, groupName: group, clusters: '', cacheMillis: 10000, hosts, lastRefTime: Date.now(), checksum: '', allIPs: false, reachProtectionThreshold: false, valid: true }
        return v[1] === 'v2' ? json(200, { code: 0, message: 'success', data }) : json(200, data)
      }
      text(404, 'not found')
    })
  })
  const close = closer(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    setInstances(service, instances, opts = {}) {
      store.set(`${opts.namespace ?? 'public'}/${opts.group ?? 'DEFAULT_GROUP'}@@${service}`, instances)
    },
    revokeTokens() {
      tokens = new Set()
    },
    close,
  }
}
