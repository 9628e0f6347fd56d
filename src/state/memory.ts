/**
 * In-process shared data and shared queues (the default): what Envoy keeps per process, here per
 * store object. Hosts given the same store share it.
 * @module
 */
import type { SharedDataEntry, SharedDataStore, SharedQueueStore } from '../host/services.js'

/** Next value of a u32 counter that starts at 1 and skips 0 when it wraps. @internal */
export function nextU32(n: number): number {
  const v = (n + 1) >>> 0
  return v === 0 ? 1 : v
}

/**
 * Shared data kept in this process (ABI §2.10 semantics: one CAS counter for the store, from 1).
 * @returns a {@link SharedDataStore}; pass the same one to several hosts to share it
 * @example
 * ```ts
 * const sharedData = createMemorySharedData()
 * const a = new WasmPluginHost({ sharedData })
 * const b = new WasmPluginHost({ sharedData }) // sees a's writes
 * ```
 */
export function createMemorySharedData(): SharedDataStore {
  const byVm = new Map<string, Map<string, SharedDataEntry>>()
  let cas = 0
  return {
    get(vmId, key) {
      const e = byVm.get(vmId)?.get(key)
      return e && { value: e.value, cas: e.cas }
    },
    set(vmId, key, value, want) {
      let m = byVm.get(vmId)
      if (!m) byVm.set(vmId, (m = new Map()))
      const cur = m.get(key)
      if (want !== 0 && cur && cur.cas !== want) return false
      cas = nextU32(cas)
      m.set(key, { value: Buffer.from(value), cas })
      return true
    },
  }
}

interface Queue {
  items: Buffer[]
  onReady: ((queueId: number) => void) | undefined
}

/**
 * Shared queues kept in this process (ABI §2.11 semantics: ids from 1, the last registering root
 * receives `proxy_on_queue_ready`, once per enqueued item, after the enqueuing call returned).
 * @returns a {@link SharedQueueStore}; pass the same one to several hosts to share it
 * @example
 * ```ts
 * const host = new WasmPluginHost({ sharedQueues: createMemorySharedQueues() })
 * ```
 */
export function createMemorySharedQueues(): SharedQueueStore {
  const ids = new Map<string, number>()
  const queues = new Map<number, Queue>()
  let next = 0
  const key = (vmId: string, name: string) => `${vmId}\0${name}`
  return {
    register(vmId, name, onReady) {
      const k = key(vmId, name)
      let id = ids.get(k)
      if (id === undefined) {
        id = next = nextU32(next)
        ids.set(k, id)
        queues.set(id, { items: [], onReady })
      } else queues.get(id)!.onReady = onReady
      return id
    },
    resolve(vmId, name) {
      return ids.get(key(vmId, name))
    },
    enqueue(id, value) {
      const q = queues.get(id)
      if (!q) return false
      q.items.push(Buffer.from(value))
      const ready = q.onReady
      // Asynchronously, as Envoy posts it to the receiver's dispatcher.
      if (ready) setImmediate(() => ready(id))
      return true
    },
    dequeue(id) {
      const q = queues.get(id)
      if (!q) return undefined
      return q.items.shift() ?? null
    },
  }
}
