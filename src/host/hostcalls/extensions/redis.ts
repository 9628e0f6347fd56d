/**
 * Higress Redis hostcalls (ABI §2.15, §8.4): `proxy_redis_init`, `proxy_redis_call`, and the reply
 * delivered to `proxy_on_redis_call_response` with buffer 9 (§2.5) readable during that call.
 * @module
 */
import { WasmResult } from '../../../abi/enums.js'
import type { ContextBase, RootContext } from '../../context.js'
import type { WasmVm } from '../../vm.js'
import type { Hostcall } from '../util.js'

const replies = new WeakMap<RootContext, Buffer>()
/** The per-operation timeout of each cluster's last successful `proxy_redis_init`, per root. */
const timeouts = new WeakMap<RootContext, Map<string, number>>()
/** Clusters whose timeout a root remembers; past it (a plugin naming endless clusters) the bridge's own timeout applies. */
const MAX_TIMEOUT_CLUSTERS = 256

/** Buffer 9 for `ctx`: the reply being delivered to its root, else `null` (NotFound). @internal */
export function redisReplyBuffer(ctx: ContextBase | undefined): Buffer | null {
  const root = ctx?.root
  return (root && replies.get(root)) ?? null
}

/** Splits `name?query` (§8.4): the cluster name, and the query parameters. */
function splitCluster(raw: string): { cluster: string; params: Record<string, string> } {
  const q = raw.indexOf('?')
  if (q < 0) return { cluster: raw, params: {} }
  return { cluster: raw.slice(0, q), params: Object.fromEntries(new URLSearchParams(raw.slice(q + 1))) }
}

/** @internal */
export function redisHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  const warned = new Set<string>()
  // Said once per name: a plugin retries its init before every command.
  const unknown = (cluster: string) => {
    if (!warned.has(cluster) && warned.size < 64) {
      warned.add(cluster)
      vm.plugin.emitLog('warn', `Redis cluster ${JSON.stringify(cluster)} is unknown or unusable: map it in HostOptions.redis.clusters, or give a resolver that claims it (docs/redis.md)`, vm.effective?.id ?? 0, 'host')
    }
    return WasmResult.BadArgument
  }
  return {
    proxy_redis_init: (cp: number, cl: number, up: number, ul: number, pp: number, pl: number, timeout: number) => {
      const name = mem.utf8(cp, cl)
      const username = mem.utf8(up, ul)
      const password = mem.utf8(pp, pl)
      if (name === undefined || username === undefined || password === undefined) return WasmResult.InvalidMemoryAccess
      const root = vm.effective?.root as RootContext | undefined
      if (!root) return WasmResult.BadArgument
      const { cluster, params } = splitCluster(name)
      const bridge = vm.plugin.services.redis
      if (!bridge) return unknown(cluster)
      const r = bridge.init(root, cluster, { username, password, timeoutMs: timeout >>> 0, params })
      if (r === WasmResult.Ok) {
        let m = timeouts.get(root)
        if (!m) timeouts.set(root, (m = new Map()))
        if (m.has(cluster) || m.size < MAX_TIMEOUT_CLUSTERS) m.set(cluster, timeout >>> 0)
      }
      return r === WasmResult.BadArgument ? unknown(cluster) : r
    },
    proxy_redis_call: (cp: number, cl: number, qp: number, ql: number, tokenPtr: number) => {
      const name = mem.utf8(cp, cl)
      const query = mem.copy(qp, ql)
      if (name === undefined || query === undefined || !mem.inBounds(tokenPtr, 4)) return WasmResult.InvalidMemoryAccess
      const root = vm.effective?.root as RootContext | undefined
      if (!root) return WasmResult.BadArgument
      // Text after "?" is ignored here (§2.15): the settings came with proxy_redis_init.
      const { cluster } = splitCluster(name)
      const bridge = vm.plugin.services.redis
      if (!bridge) return unknown(cluster)
      const token = vm.nextToken(3)
      const abort = new AbortController()
      const plugin = vm.plugin
      // Enforced here, on the host's clock, as HTTP callout timeouts are: whatever the bridge does.
      const timeoutMs = timeouts.get(root)?.get(cluster) ?? 0
      let sent
      try {
        sent = bridge.call(root, cluster, query, { plugin: plugin.name, token, signal: abort.signal, timeoutMs })
      } catch (err) {
        plugin.emitLog('error', `proxy_redis_call to ${cluster} could not be sent: ${(err as Error).message}`, vm.effective?.id ?? 0, 'host')
        return WasmResult.InternalFailure
      }
      if (!sent) return unknown(cluster)
      mem.setU32(tokenPtr, token)
      const timer = timeoutMs > 0
        ? plugin.clock.setTimer(() => {
            plugin.emitLog('debug', `redis call ${token} to ${cluster} timed out after ${timeoutMs} ms`, root.id, 'host')
            done(false, Buffer.alloc(0))
            abort.abort()
          }, timeoutMs)
        : undefined
      root.pending.set(token, {
        cancel: () => {
          timer?.cancel()
          abort.abort()
        },
      })
      const done = (ok: boolean, reply: Buffer) => {
        // Cancelled (root shut down, VM failed) or timed out already: no (second) callback (§6.5).
        if (!root.pending.delete(token)) return
        timer?.cancel()
        const status = ok ? 0 : 1
        plugin.deliver(root, 'proxy_on_redis_call_response', [token, status, ok ? reply.byteLength : 0], () => {
          // proxy_get_status after a failed call: 11 `reset` (§8.4), as Envoy reports failed callouts.
          root.lastStatus = ok ? { code: 0, message: '' } : { code: WasmResult.BrokenConnection, message: 'reset' }
          if (ok) replies.set(root, reply)
          return () => replies.delete(root)
        })
      }
      sent.then(
        (r) => (r.ok ? done(true, r.reply) : done(false, Buffer.alloc(0))),
        () => done(false, Buffer.alloc(0)),
      )
      return WasmResult.Ok
    },
  }
}
