/**
 * One Redis connection (single node or Redis Cluster) over ioredis that passes RESP through
 * unchanged: the query bytes are written as the plugin gave them, and the reply handed back is the
 * exact bytes Redis sent, taken off the socket before ioredis decodes them.
 * @module
 */
import type { LogLevelName } from '../abi/enums.js'
import type { RedisCallResult } from '../host/services.js'
import { FrameSplitter, type ParsedCommand } from './resp.js'

/** Where and how to connect. @internal */
export interface ConnectTarget {
  /** `host:port` of the node, or of the seed nodes of a cluster. */
  nodes: Array<{ host: string; port: number }>
  /** Whether `nodes` are Redis Cluster seed nodes. */
  cluster: boolean
  username?: string
  password?: string
  db?: number
  tls?: boolean
}

type IoRedisModule = typeof import('ioredis')
type IoRedis = import('ioredis').Redis
type IoCluster = import('ioredis').Cluster
type IoCommand = import('ioredis').Command

let ioredis: Promise<IoRedisModule> | undefined

/** Loads ioredis on first use, so hosts without Redis never load it. @internal */
export function loadIoredis(): Promise<IoRedisModule> {
  // ESM sees ioredis (CommonJS) as named exports, or only as `default` where they are not detected.
  const p = (ioredis ??= import('ioredis').then((m) => {
    const mod = m as unknown as { Redis?: unknown; default?: unknown }
    return (mod.Redis ? mod : mod.default) as IoRedisModule
  }))
  return p
}

/** The reply bytes captured for a command, set by the socket tap before ioredis decodes the reply. */
const RAW = Symbol('raw reply')
type RawCommand = IoCommand & { [RAW]?: Buffer }

/** A subclass of ioredis `Command` whose wire bytes are the plugin's query, unchanged. */
function rawCommandClass(m: IoRedisModule): new (cmd: ParsedCommand, query: Buffer) => RawCommand {
  return class extends m.Command {
    readonly #query: Buffer
    constructor(cmd: ParsedCommand, query: Buffer) {
      super(cmd.name, cmd.args, { replyEncoding: null })
      this.#query = query
      ;(this as RawCommand)[RAW] = undefined
    }
    override toWritable(): Buffer {
      return this.#query
    }
  }
}

/**
 * Copies each complete reply off a connection's socket, in order, onto the command it answers.
 * ioredis answers the commands of `commandQueue` strictly in order and shifts one per reply, so
 * the i-th reply completed in a chunk answers the i-th queued command. The listener is prepended
 * after ioredis's own decoder listener was, so it sees every chunk first.
 */
function tap(redis: IoRedis): void {
  redis.on('connect', () => {
    const stream = (redis as unknown as { stream: NodeJS.ReadableStream }).stream
    const queue = (redis as unknown as { commandQueue: { peekAt(i: number): { command: RawCommand } | undefined } }).commandQueue
    const splitter = new FrameSplitter()
    stream.prependListener('data', (chunk: Buffer) => {
      const frames = splitter.push(chunk)
      if (!frames) return
      for (let i = 0; i < frames.length; i++) {
        const cmd = queue.peekAt(i)?.command
        if (cmd && RAW in cmd) cmd[RAW] = frames[i]
      }
    })
  })
}

/** Options of a {@link RawRedisClient}. @internal */
export interface RawClientOptions {
  /** Per-operation timeout in milliseconds. */
  timeoutMs: number
  /** Cluster name, for log lines. */
  name: string
  log: (level: LogLevelName, message: string) => void
}

/** A lazily connected RESP-passthrough client. @internal */
export class RawRedisClient {
  readonly #target: ConnectTarget | (() => Promise<ConnectTarget>)
  readonly #options: RawClientOptions
  #conn: Promise<{ client: IoRedis | IoCluster; Raw: new (cmd: ParsedCommand, query: Buffer) => RawCommand }> | undefined
  #lastError = ''
  #closed = false

  /**
   * @param target - where to connect, or a function that finds out (an upstream resolver), called
   * once, at the first command
   */
  constructor(target: ConnectTarget | (() => Promise<ConnectTarget>), options: RawClientOptions) {
    this.#target = target
    this.#options = options
  }

  #connect() {
    this.#conn ??= Promise.all([loadIoredis(), typeof this.#target === 'function' ? this.#target() : this.#target]).then(([m, t]) => {
      const common = {
        lazyConnect: true,
        // No INFO ready check: a server that wants AUTH must answer the plugin's own commands with
        // -NOAUTH (the plugin re-inits), and -LOADING replies reach the plugin as Redis sent them.
        enableReadyCheck: false,
        // RESP2, what Higress's Envoy speaks and wasm-go's parser reads (no HELLO 3).
        protocol: 2 as const,
        username: t.username || undefined,
        password: t.password || undefined,
        ...(t.tls ? { tls: {} } : {}),
        // Failures reach the plugin as status 1; never an unhandled error event.
        maxRetriesPerRequest: null,
        retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      }
      let client: IoRedis | IoCluster
      if (t.cluster) {
        const cluster = new m.Cluster(t.nodes, { lazyConnect: true, redisOptions: common, clusterRetryStrategy: common.retryStrategy, maxRedirections: 16 })
        cluster.on('+node', (node: IoRedis) => tap(node))
        client = cluster
      } else {
        const redis = new m.Redis({ ...common, host: t.nodes[0]!.host, port: t.nodes[0]!.port, db: t.db ?? 0 })
        tap(redis)
        client = redis
      }
      client.on('error', (err: Error) => {
        if (err.message !== this.#lastError) this.#options.log('warn', `redis cluster ${this.#options.name}: ${err.message}`)
        this.#lastError = err.message
      })
      client.on('ready', () => {
        this.#lastError = ''
      })
      return { client, Raw: rawCommandClass(m) }
    })
    return this.#conn
  }

  /**
   * Sends `query` and waits for its reply.
   * @param query - the RESP bytes, written unchanged
   * @param cmd - the parsed command (ioredis routes cluster commands by its keys)
   * @param signal - aborted when the caller gives up
   * @returns the reply bytes, or a failure (timeout, connection down, closed)
   */
  async send(query: Buffer, cmd: ParsedCommand, signal?: AbortSignal): Promise<RedisCallResult> {
    if (this.#closed) return { ok: false, reason: 'client closed' }
    let conn
    try {
      conn = await this.#connect()
    } catch (err) {
      // Resolution failed or ioredis is missing: try again at the next command.
      this.#conn = undefined
      return { ok: false, reason: (err as Error).message }
    }
    const { client, Raw } = conn
    // A connection known to be down fails at once, as Envoy fails a call on a dead upstream.
    if (client.status === 'reconnecting') return { ok: false, reason: `not connected${this.#lastError ? ` (${this.#lastError})` : ''}` }
    const command = new Raw(cmd, query)
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    const sent = ((client as IoRedis).sendCommand(command) as Promise<unknown>).then(
      () => 'reply' as const,
      (err: Error) => (command[RAW] ? ('reply' as const) : err),
    )
    const stop = new Promise<'timeout' | 'aborted'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#options.timeoutMs)
      timer.unref?.()
      onAbort = () => resolve('aborted')
      signal?.addEventListener('abort', onAbort, { once: true })
    })
    const outcome = await Promise.race([sent, stop])
    clearTimeout(timer)
    if (onAbort) signal?.removeEventListener('abort', onAbort)
    if (outcome === 'reply' && command[RAW]) return { ok: true, reply: command[RAW] }
    if (outcome === 'timeout') return { ok: false, reason: `timeout after ${this.#options.timeoutMs} ms${this.#lastError ? ` (${this.#lastError})` : ''}` }
    if (outcome === 'aborted') return { ok: false, reason: 'cancelled' }
    return { ok: false, reason: outcome instanceof Error ? outcome.message : 'no reply' }
  }

  /** Closes the connection(s); later sends fail. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    void this.#conn?.then(({ client }) => client.disconnect(), () => undefined)
  }
}
