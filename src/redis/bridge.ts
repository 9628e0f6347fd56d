/**
 * The production {@link RedisBridge}: Higress `proxy_redis_*` over ioredis, one lazily connected
 * client per plugin root context and cluster, RESP passed through byte for byte.
 * @module
 */
import { WasmResult, type LogLevelName } from '../abi/enums.js'
import { ProxyWasmHostError } from '../errors.js'
import type { PluginLogger } from '../host/logger.js'
import type { RedisBridge, RedisCallResult, RedisInitOptions } from '../host/services.js'
import { RawRedisClient, type ConnectTarget } from './client.js'
import { parseCommand, respError } from './resp.js'

/**
 * Where a Redis cluster name leads: a URL (`redis://[user:password@]host:port[/db]`,
 * `rediss://` for TLS), or an object for a Redis Cluster or explicit settings.
 */
export type RedisTarget =
  | string
  | {
      /** A single node URL, as the string form. */
      url?: string
      /** Redis Cluster seed nodes (`host:port` or URLs); implies `cluster: true`. */
      nodes?: string[]
      /** Whether the nodes are Redis Cluster nodes (default: true when `nodes` is given). */
      cluster?: boolean
      /** ACL user, used when the plugin passes none. */
      username?: string
      /** Password, used when the plugin passes none. */
      password?: string
      /** Database, used when the plugin's cluster name has no `?db=` (single node only). */
      db?: number
      /** Connect with TLS. */
      tls?: boolean
    }

/** The `redis` option of {@link HostOptions}: what the cluster names plugins use lead to. */
export interface RedisOptions {
  /** Cluster names (as the plugin gives them, without `?query`) → targets, e.g. `{ 'outbound|6379||redis.dns': 'redis://127.0.0.1:6379' }`. */
  clusters?: Record<string, RedisTarget>
  /** Target of every cluster name not in `clusters` (the dev gateway's `--redis`). */
  fallback?: RedisTarget
  /** Per-operation timeout when the plugin passes 0 (default 1000 ms). */
  defaultTimeoutMs?: number
}

/** Connection-level commands that would break the connection other calls share. */
const REFUSED = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'monitor', 'quit', 'reset', 'hello', 'sync', 'psync', 'replconf'])

/**
 * Reads a {@link RedisTarget}.
 * @internal
 * @throws `PWH_ERR_REDIS_TARGET` when the URL or nodes cannot be read
 */
export function parseRedisTarget(name: string, target: RedisTarget): ConnectTarget {
  const bad = (why: string) => new ProxyWasmHostError('PWH_ERR_REDIS_TARGET', `redis.clusters[${JSON.stringify(name)}]: ${why}`)
  const t = typeof target === 'string' ? { url: target } : target
  if (!t || typeof t !== 'object') throw bad('expected a redis:// URL or { url | nodes, username, password, db, tls }')
  const node = (s: string) => {
    const u = /^[a-z]+:\/\//i.test(s) ? new URL(s) : new URL(`redis://${s}`)
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw bad(`${s}: use redis:// or rediss://`)
    const port = u.port ? Number(u.port) : 6379
    if (!u.hostname) throw bad(`${s}: no host`)
    return { u, host: u.hostname.replace(/^\[|\]$/g, ''), port }
  }
  let parsed
  try {
    const list = t.nodes?.length ? t.nodes.map(node) : t.url ? [node(t.url)] : undefined
    if (!list) throw bad('give a url or nodes')
    parsed = list
  } catch (err) {
    if (err instanceof ProxyWasmHostError) throw err
    throw bad(`not a URL (${(err as Error).message})`)
  }
  const first = parsed[0]!.u
  const dbPath = first.pathname.replace(/^\//, '')
  const db = t.db ?? (dbPath ? Number(dbPath) : 0)
  if (!Number.isInteger(db) || db < 0) throw bad(`db must be a non-negative integer, got ${JSON.stringify(t.db ?? dbPath)}`)
  const cluster = t.cluster ?? Boolean(t.nodes?.length)
  return {
    nodes: parsed.map((p) => ({ host: p.host, port: p.port })),
    cluster,
    username: t.username ?? decodeURIComponent(first.username),
    password: t.password ?? decodeURIComponent(first.password),
    db,
    tls: t.tls ?? first.protocol === 'rediss:',
  }
}

interface Entry {
  key: string
  client: RawRedisClient
  authFailed: boolean
}

/** A cluster name an upstream resolver claimed: its endpoints come later. */
export interface ResolvedRedisCluster {
  /** The next endpoint (round-robin), `undefined` when none is healthy. */
  pick(signal?: AbortSignal): Promise<{ host: string; port: number } | undefined>
}

/** Dependencies of {@link createRedisBridge}. */
export interface RedisBridgeDeps {
  /** Where the bridge logs. */
  logger: PluginLogger
  /**
   * Claims cluster names not in `clusters`, synchronously (the host passes its upstream resolvers:
   * `host.upstreams.lookup`); `undefined` = unknown. A claimed name connects to one endpoint the
   * resolver picks, when the first command is sent.
   */
  resolve?: (cluster: string) => ResolvedRedisCluster | undefined
}

/**
 * Builds the production Redis bridge from the `redis` host option. Nothing connects until a
 * plugin sends its first command; ioredis is loaded then.
 * @param options - cluster names → targets, fallback, default timeout
 * @param deps - where the bridge logs
 * @returns a {@link RedisBridge} for `HostOptions.redisBridge`
 * @throws `PWH_ERR_REDIS_TARGET` for a target that cannot be read
 * @example
 * ```ts
 * const bridge = createRedisBridge({ clusters: { 'outbound|6379||redis.dns': 'redis://127.0.0.1:6379' } }, { logger })
 * const host = new WasmPluginHost({ redisBridge: bridge })
 * ```
 */
export function createRedisBridge(options: RedisOptions, deps: RedisBridgeDeps): RedisBridge {
  const targets = new Map<string, ConnectTarget>()
  for (const [name, t] of Object.entries(options.clusters ?? {})) targets.set(name, parseRedisTarget(name, t))
  const fallback = options.fallback !== undefined ? parseRedisTarget('(fallback)', options.fallback) : undefined
  const defaultTimeout = options.defaultTimeoutMs ?? 1000
  const owners = new WeakMap<object, Map<string, Entry>>()
  const settings = new WeakMap<object, Map<string, RedisInitOptions>>()
  const log = (level: LogLevelName, message: string) => deps.logger.log(level, message, { plugin: 'redis', contextId: 0, origin: 'host' })
  const lookup = (cluster: string): ConnectTarget | ResolvedRedisCluster | undefined => targets.get(cluster) ?? deps.resolve?.(cluster) ?? fallback

  const makeEntry = (cluster: string, found: ConnectTarget | ResolvedRedisCluster, init: RedisInitOptions | undefined): Entry | string => {
    // A resolver's name: one node, whatever endpoint the resolver picks at the first command.
    const base: ConnectTarget = 'pick' in found ? { nodes: [], cluster: false } : found
    const db = init?.params.db !== undefined ? Number(init.params.db) : base.db ?? 0
    if (!Number.isInteger(db) || db < 0) return `db must be a non-negative integer, got ${JSON.stringify(init?.params.db)}`
    if (base.cluster && db !== 0) return `db ${db} cannot be selected on a Redis Cluster (only db 0 exists there)`
    // Credentials the plugin gives win (Higress: they come from the plugin configuration); else the target's.
    const own = init !== undefined && (init.username !== '' || init.password !== '')
    const target: ConnectTarget = {
      ...base,
      username: own ? init.username : base.username,
      password: own ? init.password : base.password,
      db,
    }
    const timeoutMs = init && init.timeoutMs > 0 ? init.timeoutMs : defaultTimeout
    const key = JSON.stringify([target, timeoutMs])
    const connect = 'pick' in found
      ? async () => {
        const ep = await found.pick()
        if (!ep) throw new Error(`no healthy upstream for ${cluster}`)
        return { ...target, nodes: [{ host: ep.host, port: ep.port }] }
      }
      : target
    return { key, authFailed: false, client: new RawRedisClient(connect, { timeoutMs, name: cluster, log }) }
  }

  return {
    init(owner, cluster, init) {
      const base = lookup(cluster)
      if (!base) return WasmResult.BadArgument
      for (const k of ['buffer_flush_timeout', 'max_buffer_size_before_flush'] as const) {
        const v = init.params[k]
        if (v !== undefined && !/^\d+$/.test(v)) {
          log('warn', `proxy_redis_init ${cluster}: ${k} must be a non-negative integer, got ${JSON.stringify(v)}`)
          return WasmResult.BadArgument
        }
      }
      const entry = makeEntry(cluster, base, init)
      if (typeof entry === 'string') {
        log('warn', `proxy_redis_init ${cluster}: ${entry}`)
        return WasmResult.BadArgument
      }
      let byCluster = owners.get(owner)
      if (!byCluster) owners.set(owner, (byCluster = new Map()))
      let s = settings.get(owner)
      if (!s) settings.set(owner, (s = new Map()))
      s.set(cluster, init)
      const old = byCluster.get(cluster)
      // Same settings and no authentication failure since: keep the connection. Otherwise (new
      // credentials, or a NOAUTH/WRONGPASS reply — the wasm-go re-init path) start afresh.
      if (old && old.key === entry.key && !old.authFailed) {
        entry.client.close()
        return WasmResult.Ok
      }
      old?.client.close()
      byCluster.set(cluster, entry)
      return WasmResult.Ok
    },

    call(owner, cluster, query, info): Promise<RedisCallResult> | undefined {
      const base = lookup(cluster)
      if (!base) return undefined
      let byCluster = owners.get(owner)
      if (!byCluster) owners.set(owner, (byCluster = new Map()))
      let entry = byCluster.get(cluster)
      if (!entry) {
        // A call without proxy_redis_init: the cluster's own settings, no credentials from the plugin.
        const made = makeEntry(cluster, base, settings.get(owner)?.get(cluster))
        if (typeof made === 'string') return Promise.resolve({ ok: true, reply: respError(`ERR ${made}`) })
        entry = made
        byCluster.set(cluster, entry)
      }
      const cmd = parseCommand(query)
      if (!cmd) return Promise.resolve({ ok: true, reply: respError('ERR Protocol error: the query is not exactly one RESP command') })
      if (REFUSED.has(cmd.name)) {
        return Promise.resolve({ ok: true, reply: respError(`ERR command '${cmd.name}' changes the connection state and is not supported through proxy_redis_call`) })
      }
      const e = entry
      return e.client.send(query, cmd, info.signal).then((r) => {
        if (r.ok && r.reply[0] === 0x2d && /^-(NOAUTH|WRONGPASS)\b/.test(r.reply.subarray(0, 16).toString('latin1'))) e.authFailed = true
        if (!r.ok) log('debug', `redis call of plugin ${info.plugin} to ${cluster} failed: ${r.reason}`)
        return r
      })
    },

    release(owner) {
      const byCluster = owners.get(owner)
      owners.delete(owner)
      settings.delete(owner)
      for (const e of byCluster?.values() ?? []) e.client.close()
    },
  }
}
