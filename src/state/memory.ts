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

/** What one `vm_id` keeps: its entries and their size, for the caps. */
interface VmData {
  entries: Map<string, SharedDataEntry>
  /** Bytes of keys and values. */
  bytes: number
}

/**
 * Shared data kept in this process (ABI §2.10 semantics: one CAS counter for the store, from 1).
 * Each `vm_id` is held to the caps the host passes with every write (`limits.maxSharedDataBytes`,
 * `limits.maxSharedDataKeys`).
 * @returns a {@link SharedDataStore}; pass the same one to several hosts to share it
 * @example
 * ```ts
 * const sharedData = createMemorySharedData()
 * const a = new WasmPluginHost({ sharedData })
 * const b = new WasmPluginHost({ sharedData }) // sees a's writes
 * ```
 */
export function createMemorySharedData(): SharedDataStore {
  const byVm = new Map<string, VmData>()
  let cas = 0
  return {
    get(vmId, key) {
      const e = byVm.get(vmId)?.entries.get(key)
      return e && { value: e.value, cas: e.cas }
    },
    set(vmId, key, value, want, limits) {
      let d = byVm.get(vmId)
      if (!d) byVm.set(vmId, (d = { entries: new Map(), bytes: 0 }))
      const cur = d.entries.get(key)
      if (want !== 0 && cur && cur.cas !== want) return false
      // Keys are latin1 strings: one character per byte.
      const grow = cur ? value.byteLength - cur.value.byteLength : key.length + value.byteLength
      if (!cur && limits && limits.maxKeys > 0 && d.entries.size >= limits.maxKeys) return 'keys'
      if (grow > 0 && limits && limits.maxBytes > 0 && d.bytes + grow > limits.maxBytes) return 'bytes'
      cas = nextU32(cas)
      d.entries.set(key, { value: Buffer.from(value), cas })
      d.bytes += grow
      return true
    },
  }
}

interface Queue {
  items: Buffer[]
  onReady: ((queueId: number) => void) | undefined
  /** The counts of the queue's `vm_id`. */
  vm: VmQueues
}

/** What the queues of one `vm_id` hold, for the caps. */
interface VmQueues {
  queues: number
  items: number
  /** Bytes of waiting items and of queue names. */
  bytes: number
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
  const byVm = new Map<string, VmQueues>()
  let next = 0
  const key = (vmId: string, name: string) => `${vmId}\0${name}`
  return {
    register(vmId, name, onReady, limits) {
      const k = key(vmId, name)
      let id = ids.get(k)
      if (id === undefined) {
        let vm = byVm.get(vmId)
        if (!vm) byVm.set(vmId, (vm = { queues: 0, items: 0, bytes: 0 }))
        if (limits && limits.maxQueues > 0 && vm.queues >= limits.maxQueues) return 'queues'
        if (limits && limits.maxBytes > 0 && vm.bytes + name.length > limits.maxBytes) return 'bytes'
        vm.queues++
        vm.bytes += name.length
        id = next = nextU32(next)
        ids.set(k, id)
        queues.set(id, { items: [], onReady, vm })
      } else queues.get(id)!.onReady = onReady
      return id
    },
    resolve(vmId, name) {
      return ids.get(key(vmId, name))
    },
    enqueue(id, value, limits) {
      const q = queues.get(id)
      if (!q) return false
      const vm = q.vm
      if (limits && limits.maxItems > 0 && vm.items >= limits.maxItems) return 'items'
      if (limits && limits.maxBytes > 0 && vm.bytes + value.byteLength > limits.maxBytes) return 'bytes'
      vm.items++
      vm.bytes += value.byteLength
      q.items.push(Buffer.from(value))
      const ready = q.onReady
      // Asynchronously, as Envoy posts it to the receiver's dispatcher.
      if (ready) setImmediate(() => ready(id))
      return true
    },
    dequeue(id) {
      const q = queues.get(id)
      if (!q) return undefined
      const item = q.items.shift()
      if (item === undefined) return null
      q.vm.items--
      q.vm.bytes -= item.byteLength
      return item
    },
  }
}
