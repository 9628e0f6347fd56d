/**
 * `nacosResolver`: Nacos services by their Higress cluster names
 * (`outbound|<port>|<version>|<service>.<group>.<namespace>.nacos`), instances from the Nacos open
 * API (`/nacos/v1/ns/instance/list` or `/nacos/v2/ns/instance/list`), with `accessToken` login,
 * healthy and enabled instances only, and their weights.
 * @module
 */
import { Agent } from 'undici'
import { ProxyWasmHostError } from '../errors.js'
import { cachedSource } from './cached-source.js'
import type { Endpoint, EndpointSource, UpstreamResolver } from './types.js'

/** Options of {@link nacosResolver}. */
export interface NacosResolverOptions {
  /** Nacos server(s): `http://10.0.0.8:8848` or `10.0.0.8:8848`; tried in order when one fails. */
  serverAddr: string | readonly string[]
  /** Open API version to call (default `v1`, served by Nacos 1.x and 2.x). */
  apiVersion?: 'v1' | 'v2'
  /** Login user (with `password`): `POST /nacos/v1/auth/login`, then `accessToken` on every call. */
  username?: string
  /** Login password. */
  password?: string
  /** A fixed access token instead of a login. */
  accessToken?: string
  /** Context path of the server (default `/nacos`). */
  contextPath?: string
  /** How long an instance list is used before it is asked again, in ms (default 5 000). */
  refreshMs?: number
  /** Timeout of each request, in ms (default 3 000). */
  requestTimeoutMs?: number
}

interface Instance {
  ip?: string
  port?: number
  weight?: number
  healthy?: boolean
  enabled?: boolean
}

/**
 * Resolves Nacos service names. The group in a Higress cluster name has `_` written as `-`
 * (`DEFAULT-GROUP`); it is read back as `_`. The namespace id `public` (or an empty one) is Nacos's
 * default namespace. Instances must be `healthy` and `enabled` and have a weight above 0; weights
 * drive the round-robin. When Nacos cannot be reached the last list keeps serving; with none the
 * plugin sees `no healthy upstream`; a refused login (403) is reported in the log line.
 *
 * @param options - server addresses, API version, credentials, refresh interval
 * @returns a resolver for `new WasmPluginHost({ resolvers: [...] })`
 * @throws `PWH_ERR_CONFIG_INVALID` when `serverAddr` is missing or not an address
 * @example
 * ```ts
 * const host = new WasmPluginHost({
 *   resolvers: [nacosResolver({ serverAddr: 'http://10.0.0.8:8848', username: 'nacos', password: 'nacos' })],
 * })
 * // wasm-go NacosCluster{ServiceName: "auth", NamespaceID: "dev", Port: 80} → outbound|80||auth.DEFAULT-GROUP.dev.nacos
 * ```
 */
export function nacosResolver(options: NacosResolverOptions): UpstreamResolver {
  const servers = (typeof options?.serverAddr === 'string' ? [options.serverAddr] : [...(options?.serverAddr ?? [])]).map((s) => {
    const url = /^https?:\/\//i.test(s) ? s : `http://${s}`
    try {
      return new URL(url).origin
    } catch {
      throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `nacosResolver: serverAddr ${JSON.stringify(s)} is not an address such as http://127.0.0.1:8848`)
    }
  })
  if (servers.length === 0) throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', 'nacosResolver: serverAddr is missing; give the Nacos server, e.g. { serverAddr: "http://127.0.0.1:8848" }')
  const context = (options.contextPath ?? '/nacos').replace(/\/+$/, '')
  const timeout = options.requestTimeoutMs ?? 3000
  const refresh = options.refreshMs ?? 5000
  const agent = new Agent({ connect: { timeout } })
  const cache = new Map<string, EndpointSource>()
  let token: { value: string; expires: number } | undefined = options.accessToken ? { value: options.accessToken, expires: Infinity } : undefined
  let login: Promise<string> | undefined
  let closed = false

  async function request(server: string, method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; text: string }> {
    const res = await agent.request({
      origin: server, path, method, signal: AbortSignal.timeout(timeout), headersTimeout: timeout, bodyTimeout: timeout,
      ...(body !== undefined ? { body, headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}),
    })
    return { status: res.statusCode, text: await res.body.text() }
  }

  async function accessToken(server: string, fresh: boolean): Promise<string | undefined> {
    if (options.username === undefined) return token?.value
    if (!fresh && token && Date.now() < token.expires) return token.value
    login ??= (async () => {
      const form = new URLSearchParams({ username: options.username!, password: options.password ?? '' }).toString()
      const r = await request(server, 'POST', `${context}/v1/auth/login`, form)
      if (r.status !== 200) throw new Error(`login as ${JSON.stringify(options.username)} refused: HTTP ${r.status} ${r.text.trim().slice(0, 200)}`)
      const j = JSON.parse(r.text) as { accessToken?: string; tokenTtl?: number }
      if (!j.accessToken) throw new Error('login answered no accessToken')
      // Log in again before the token expires (tokenTtl is in seconds, 18 000 by default).
      token = { value: j.accessToken, expires: Date.now() + (j.tokenTtl ?? 18_000) * 900 }
      return j.accessToken
    })().finally(() => (login = undefined))
    return login
  }

  async function list(service: string, group: string, namespace: string): Promise<readonly Endpoint[]> {
    let last: unknown
    for (const server of servers) {
      try {
        for (let attempt = 0; attempt < 2; attempt++) {
          const q = new URLSearchParams({ serviceName: service, groupName: group, healthyOnly: 'true' })
          if (namespace !== '' && namespace !== 'public') q.set('namespaceId', namespace)
          const t = await accessToken(server, attempt > 0)
          if (t) q.set('accessToken', t)
          const r = await request(server, 'GET', `${context}/${options.apiVersion ?? 'v1'}/ns/instance/list?${q}`)
          // An expired token: log in once more, then give up.
          if (r.status === 403 && options.username !== undefined && attempt === 0) continue
          if (r.status !== 200) throw new Error(`HTTP ${r.status} ${r.text.trim().slice(0, 200)}`)
          const j = JSON.parse(r.text) as { hosts?: Instance[]; code?: number; message?: string; data?: { hosts?: Instance[] } }
          if (options.apiVersion === 'v2' && j.code !== 0) throw new Error(`code ${j.code} ${j.message ?? ''}`.trim())
          const hosts = (options.apiVersion === 'v2' ? j.data?.hosts : j.hosts) ?? []
          return hosts
            .filter((h) => h.healthy !== false && h.enabled !== false && typeof h.ip === 'string' && typeof h.port === 'number' && (h.weight ?? 1) > 0)
            .map((h) => ({ host: h.ip!, port: h.port!, weight: h.weight ?? 1 }))
        }
      } catch (err) {
        last = new Error(`${server}: ${(err as { code?: string }).code ? `${(err as { code?: string }).code}: ` : ''}${(err as Error).message}`)
      }
    }
    throw new ProxyWasmHostError('PWH_ERR_UPSTREAM_RESOLVE', `cannot list Nacos instances of ${group}@@${service} (namespace ${namespace || 'public'}): ${(last as Error).message}`, { cause: last })
  }

  return {
    kind: 'nacos',
    claim(t) {
      const c = t.cluster
      if (c.kind !== 'nacos') return undefined
      const key = `${c.namespace}/${c.group}/${c.service}`
      let source = cache.get(key)
      if (!source) {
        source = cachedSource(key, () => list(c.service, c.group, c.namespace).then((l) => ({ list: l, freshMs: refresh })), refresh, () => closed)
        cache.set(key, source)
      }
      return source
    },
    async close() {
      closed = true
      await agent.close()
    },
  }
}
