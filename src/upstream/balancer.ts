/**
 * Round-robin over an endpoint list: smooth weighted round-robin (nginx's), endpoints that refused
 * connections skipped for a while (a passive outlier check, as Envoy's outlier detection ejects
 * hosts), and Envoy's panic mode: when every endpoint is ejected, all of them take traffic again.
 * @module
 */
import type { Endpoint } from './types.js'

interface State {
  endpoint: Endpoint
  current: number
  ejectedUntil: number
}

/** `host:port` (IPv6 in brackets), as `proxy_get_upstream_hosts` prints endpoints. @internal */
export function endpointAddress(e: Endpoint): string {
  return `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`
}

/** Balancing state of one endpoint list. @internal */
export class Balancer {
  #list: readonly Endpoint[] = []
  #states: State[] = []
  readonly #byAddress = new Map<string, State>()

  constructor(
    readonly ejectMs: number,
    readonly now: () => number,
  ) {}

  /** Follows a new endpoint list; endpoints that stay keep their state (ejection, weight credit). */
  update(list: readonly Endpoint[]): void {
    if (list === this.#list) return
    this.#list = list
    const next: State[] = []
    const seen = new Set<string>()
    for (const endpoint of list) {
      const key = `${endpoint.protocol ?? 'http:'}//${endpointAddress(endpoint)}`
      if (seen.has(key)) continue
      seen.add(key)
      const old = this.#byAddress.get(key)
      next.push(old ? { ...old, endpoint } : { endpoint, current: 0, ejectedUntil: 0 })
    }
    this.#byAddress.clear()
    for (const s of next) this.#byAddress.set(`${s.endpoint.protocol ?? 'http:'}//${endpointAddress(s.endpoint)}`, s)
    this.#states = next
  }

  /** The next endpoint, or `undefined` when none takes traffic (empty list, all weights 0). */
  pick(): Endpoint | undefined {
    const states = this.#states
    // One endpoint (the common case): no clock read, no arrays. Ejected or not, it takes the
    // traffic (alone, it would be in panic mode).
    if (states.length === 1) {
      const only = states[0]!.endpoint
      return (only.weight ?? 1) > 0 ? only : undefined
    }
    const now = this.now()
    let candidates = states.filter((s) => (s.endpoint.weight ?? 1) > 0 && s.ejectedUntil <= now)
    // Panic mode: with every endpoint ejected, balance over all of them rather than fail.
    if (candidates.length === 0) candidates = states.filter((s) => (s.endpoint.weight ?? 1) > 0)
    if (candidates.length === 0) return undefined
    if (candidates.length === 1) return candidates[0]!.endpoint
    let total = 0
    let best: State | undefined
    for (const s of candidates) {
      const w = s.endpoint.weight ?? 1
      s.current += w
      total += w
      if (!best || s.current > best.current) best = s
    }
    best!.current -= total
    return best!.endpoint
  }

  /** Skips `endpoint` for `ejectMs` (it refused a connection). */
  eject(endpoint: Endpoint): void {
    const s = this.#byAddress.get(`${endpoint.protocol ?? 'http:'}//${endpointAddress(endpoint)}`)
    if (s) s.ejectedUntil = this.now() + this.ejectMs
  }
}
