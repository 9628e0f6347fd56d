/**
 * An endpoint source that asks its registry at most once per freshness period, shares one request
 * among concurrent callers, and keeps serving the last good list when the registry stops answering
 * (Envoy keeps a cluster's hosts when a refresh fails).
 * @module
 */
import type { Endpoint, EndpointSource } from './types.js'

/** What one registry lookup gives: the endpoints and how long they stay fresh. @internal */
export interface Lookup {
  list: readonly Endpoint[]
  freshMs: number
}

/**
 * @param key - the source's identity
 * @param lookup - asks the registry
 * @param retryMs - how long the last good list is used after a failed lookup before asking again
 * @param closed - when true, calls fail at once
 * @internal
 */
export function cachedSource(key: string, lookup: () => Promise<Lookup>, retryMs: number, closed: () => boolean = () => false): EndpointSource {
  let list: readonly Endpoint[] | undefined
  let expires = 0
  let inflight: Promise<readonly Endpoint[]> | undefined
  return {
    key,
    endpoints(signal) {
      if (closed()) return Promise.reject(new Error('resolver closed'))
      if (list !== undefined && Date.now() < expires) return Promise.resolve(list)
      inflight ??= lookup().then(
        (r) => {
          list = r.list
          expires = Date.now() + r.freshMs
          inflight = undefined
          return r.list
        },
        (err: unknown) => {
          inflight = undefined
          if (list === undefined) throw err
          expires = Date.now() + retryMs
          return list
        },
      )
      return withSignal(inflight, signal)
    },
    current: () => list,
    fresh: () => (list !== undefined && !closed() && Date.now() < expires ? list : undefined),
  }
}

/** `p`, or a rejection as soon as `signal` aborts (the lookup goes on and fills the cache). @internal */
export function withSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p
  if (signal.aborted) return Promise.reject(new Error('aborted'))
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'))
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}
