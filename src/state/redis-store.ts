/**
 * Shared data and shared queues kept in Redis, so that several Node processes (`node:cluster`
 * workers, pods, machines) share plugin state with exactly the ABI's CAS semantics. Hostcalls are
 * synchronous and Redis is not: a worker thread owns the connection and the calling thread waits
 * for its answer with `Atomics.wait` (measured against the alternatives in
 * `docs/adr/0001-synchronous-redis-state.md`).
 * @module
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads'
import { ProxyWasmHostError } from '../errors.js'
import type { SharedDataEntry, SharedDataStore, SharedQueueStore } from '../host/services.js'
import { parseRedisTarget, type RedisTarget } from '../redis/bridge.js'
import { nextU32 } from './memory.js'
import { resolveModule } from './require.js'
import { CAS_SET_LUA, DEQUEUE_LUA, ENQUEUE_LUA, REGISTER_LUA, WORKER_SOURCE } from './redis-worker.js'

/** Options of {@link createRedisSharedState}. */
export interface RedisSharedStateOptions {
  /** Where the state lives: `redis://[user:password@]host:port[/db]`, or `{ nodes: [...] }` for a Redis Cluster. */
  redis: RedisTarget
  /** Prefix of every key and channel (default `pwh`); all keys share the hash tag `{<prefix>}`. */
  keyPrefix?: string
  /** How long a hostcall waits for Redis before the plugin gets `InternalFailure` (default 1000 ms). */
  timeoutMs?: number
  /** How long the first call waits for the worker to start and connect (default 5000 ms). */
  connectTimeoutMs?: number
}

/** Shared data and queues in Redis, from {@link createRedisSharedState}. */
export interface RedisSharedState {
  /** For `HostOptions.sharedData`. */
  sharedData: SharedDataStore
  /** For `HostOptions.sharedQueues`. */
  sharedQueues: SharedQueueStore
  /** Stops the worker thread and its connections. */
  close(): void
}

interface Reply {
  seq: number
  ok: boolean
  value?: unknown
  error?: string
}

/** The worker and the synchronous call into it. */
class SyncRedis {
  readonly #options: Required<Omit<RedisSharedStateOptions, 'redis'>> & { redis: RedisTarget }
  #worker: Worker | undefined
  #port: MessagePort | undefined
  #flag: Int32Array | undefined
  #seq = 0
  #started = false
  #closed = false
  onReady: ((vm: string, name: string) => void) | undefined

  constructor(options: RedisSharedStateOptions) {
    this.#options = { keyPrefix: 'pwh', timeoutMs: 1000, connectTimeoutMs: 5000, ...options }
    // Fail at construction for a target that cannot be read, not at the first hostcall.
    parseRedisTarget('(shared state)', options.redis)
  }

  #start(): void {
    const channel = new MessageChannel()
    const flag = new Int32Array(new SharedArrayBuffer(4))
    const ioredis = resolveIoredis()
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        ioredis,
        target: parseRedisTarget('(shared state)', this.#options.redis),
        prefix: this.#options.keyPrefix,
        casLua: CAS_SET_LUA,
        registerLua: REGISTER_LUA,
        enqueueLua: ENQUEUE_LUA,
        dequeueLua: DEQUEUE_LUA,
        port: channel.port2,
        flag,
      },
      transferList: [channel.port2],
    })
    // Neither the thread nor its port keeps the process alive.
    worker.unref()
    channel.port1.unref()
    worker.on('message', (msg: { ready?: [string, string] }) => {
      if (msg.ready) this.onReady?.(msg.ready[0], msg.ready[1])
    })
    worker.on('error', () => undefined)
    this.#worker = worker
    this.#port = channel.port1
    this.#flag = flag
  }

  /** Runs `op` in the worker and waits for its answer. @throws when Redis does not answer in time or fails */
  call(op: string, ...args: unknown[]): unknown {
    if (this.#closed) throw new Error('the Redis shared state was closed')
    let timeout = this.#options.timeoutMs
    if (!this.#started) {
      this.#started = true
      this.#start()
      timeout = Math.max(timeout, this.#options.connectTimeoutMs)
    }
    const seq = ++this.#seq
    const flag = this.#flag!
    const port = this.#port!
    Atomics.store(flag, 0, 0)
    port.postMessage({ seq, op, args })
    const deadline = Date.now() + timeout
    for (;;) {
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
        const r = m.message as Reply
        // Answers to calls that timed out earlier are dropped here.
        if (r.seq !== seq) continue
        if (!r.ok) throw new Error(`Redis: ${r.error}`)
        return r.value
      }
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`Redis did not answer within ${timeout} ms`)
      Atomics.wait(flag, 0, 0, left)
      Atomics.store(flag, 0, 0)
    }
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#worker?.postMessage('close')
    const w = this.#worker
    if (w) setTimeout(() => void w.terminate(), 1000).unref()
  }
}

function resolveIoredis(): string {
  try {
    // ioredis is a dependency of this package: resolved from here, loaded by path in the worker.
    return resolveModule('ioredis')
  } catch (err) {
    throw new ProxyWasmHostError('PWH_ERR_STATE_REDIS', `the Redis shared state needs ioredis, which cannot be found (${(err as Error).message}); install it with npm install ioredis`, { cause: err })
  }
}

/**
 * Shared data and queues in Redis, for several processes acting as one gateway. CAS is exact
 * across processes (a Lua script on one global CAS counter); queues are Redis lists, and every
 * process that registered a queue is told of each item through Redis pub/sub (whoever dequeues
 * first gets it). Nothing starts until the first hostcall.
 * @param options - Redis target, key prefix, timeouts
 * @returns the two stores for `new WasmPluginHost({ sharedData, sharedQueues })`, and `close()`
 * @throws `PWH_ERR_REDIS_TARGET` for a target that cannot be read
 * @example
 * ```ts
 * const state = createRedisSharedState({ redis: 'redis://127.0.0.1:6379' })
 * const host = new WasmPluginHost({ sharedData: state.sharedData, sharedQueues: state.sharedQueues })
 * // … on shutdown
 * host.close(); state.close()
 * ```
 */
export function createRedisSharedState(options: RedisSharedStateOptions): RedisSharedState {
  const redis = new SyncRedis(options)
  const queues = new Map<number, { vm: string; name: string; onReady?: (id: number) => void }>()
  const ids = new Map<string, number>()
  let nextId = 0
  const local = (vm: string, name: string) => {
    const k = `${vm}\0${name}`
    let id = ids.get(k)
    if (id === undefined) {
      id = nextId = nextU32(nextId)
      ids.set(k, id)
      queues.set(id, { vm, name })
    }
    return id
  }
  redis.onReady = (vm, name) => {
    const id = ids.get(`${vm}\0${name}`)
    const q = id === undefined ? undefined : queues.get(id)
    if (q?.onReady) q.onReady(id!)
  }
  const sharedData: SharedDataStore = {
    get(vmId, key) {
      const r = redis.call('get', vmId, key) as { value: Uint8Array; cas: number } | null
      return r ? ({ value: Buffer.from(r.value), cas: r.cas } satisfies SharedDataEntry) : undefined
    },
    set(vmId, key, value, cas, limits) {
      return redis.call('set', vmId, key, value, cas, limits) as boolean | 'bytes' | 'keys'
    },
    close: () => redis.close(),
  }
  const sharedQueues: SharedQueueStore = {
    register(vmId, name, onReady, limits) {
      const r = redis.call('register', vmId, name, limits) as true | 'queues' | 'bytes'
      if (r !== true) return r
      const id = local(vmId, name)
      queues.get(id)!.onReady = onReady
      return id
    },
    resolve(vmId, name) {
      const known = ids.get(`${vmId}\0${name}`)
      if (known !== undefined && queues.get(known)!.onReady) return known
      return redis.call('resolve', vmId, name) ? local(vmId, name) : undefined
    },
    enqueue(id, value, limits) {
      const q = queues.get(id)
      if (!q) return false
      return redis.call('enqueue', q.vm, q.name, value, limits) as true | 'items' | 'bytes'
    },
    dequeue(id) {
      const q = queues.get(id)
      if (!q) return undefined
      const v = redis.call('dequeue', q.vm, q.name) as Uint8Array | null
      return v ? Buffer.from(v) : null
    },
    close: () => redis.close(),
  }
  return { sharedData, sharedQueues, close: () => redis.close() }
}
