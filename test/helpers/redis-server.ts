// Real redis-server processes for tests: each on a free 127.0.0.1 port in its own temp dir, never
// the system service, stopped by pid. A missing redis-server fails loudly with the install hint.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { frameEnd } from '../../src/redis/resp.js'

const INSTALL_HINT = 'redis-server is required for the Redis tests: install it with `apt-get update && apt-get install -y redis-server` (Debian/Ubuntu; .ci/run does this on CI)'

/** Throws the install hint unless redis-server and redis-cli are on PATH. */
export function requireRedis(): void {
  for (const bin of ['redis-server', 'redis-cli']) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' })
    if (r.error || r.status !== 0) throw new Error(`${bin} not found. ${INSTALL_HINT}`)
  }
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export interface RedisServer {
  port: number
  pid: number
  url: string
  dir: string
  /** Stops the process (SIGKILL after 2 s) and removes its dir. */
  stop(): Promise<void>
  /** Stops the process but keeps the port number for a restart with {@link RedisServer.start}. */
  kill(): Promise<void>
  /** Starts it again on the same port. */
  start(): Promise<void>
}

export interface RedisServerOptions {
  /** `requirepass`. */
  password?: string
  /** Extra `redis-server` arguments (`['--cluster-enabled', 'yes']`). */
  args?: string[]
}

function waitExit(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 2000)
    p.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
  })
}

/** Sends raw bytes and returns exactly the bytes of `replies` complete RESP replies. */
export function rawRequest(port: number, query: Buffer | string, replies = 1, timeoutMs = 3000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock: Socket = createConnection({ host: '127.0.0.1', port })
    let buf = Buffer.alloc(0)
    const t = setTimeout(() => {
      sock.destroy()
      reject(new Error(`no reply from 127.0.0.1:${port} within ${timeoutMs} ms`))
    }, timeoutMs)
    sock.on('error', (err) => {
      clearTimeout(t)
      reject(err)
    })
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d])
      let at = 0
      for (let i = 0; i < replies; i++) {
        at = frameEnd(buf, at)
        if (at < 0) return
      }
      clearTimeout(t)
      sock.destroy()
      resolve(buf.subarray(0, at))
    })
    sock.write(query)
  })
}

async function waitReady(port: number, password: string | undefined, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000
  const ping = password ? `*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(password)}\r\n${password}\r\n*1\r\n$4\r\nPING\r\n` : '*1\r\n$4\r\nPING\r\n'
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${proc.exitCode}: ${log()}`)
    try {
      const r = await rawRequest(port, ping, password ? 2 : 1, 500)
      if (r.toString().endsWith('+PONG\r\n')) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 30))
  }
  throw new Error(`redis-server on port ${port} did not become ready: ${log()}`)
}

/** Starts a redis-server on a free port. */
export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer> {
  requireRedis()
  const dir = mkdtempSync(join(tmpdir(), 'pwh-redis-'))
  const port = await freePort()
  let proc!: ChildProcess
  let out = ''
  const start = async () => {
    out = ''
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning']
    if (opts.password) args.push('--requirepass', opts.password)
    args.push(...(opts.args ?? []))
    proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout!.on('data', (d) => (out += d))
    proc.stderr!.on('data', (d) => (out += d))
    await waitReady(port, opts.password, proc, () => out)
  }
  await start()
  const kill = async () => {
    proc.kill('SIGTERM')
    await waitExit(proc)
  }
  return {
    port,
    get pid() {
      return proc.pid!
    },
    url: `redis://127.0.0.1:${port}`,
    dir,
    kill,
    start,
    async stop() {
      await kill()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface RedisCluster {
  nodes: RedisServer[]
  /** `127.0.0.1:<port>` of every master. */
  addresses: string[]
  stop(): Promise<void>
}

/** Starts a Redis Cluster of `masters` nodes (no replicas) and waits until it reports `cluster_state:ok`. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = []
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'] }))
    }
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`)
    const r = spawnSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 })
    if (r.status !== 0) throw new Error(`redis-cli --cluster create failed: ${r.stdout}${r.stderr}`)
    const deadline = Date.now() + 20_000
    for (const n of nodes) {
      for (;;) {
        const info = (await rawRequest(n.port, '*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n')).toString()
        if (info.includes('cluster_state:ok')) break
        if (Date.now() > deadline) throw new Error(`cluster node ${n.port} not ok: ${info}`)
        await new Promise((res) => setTimeout(res, 100))
      }
    }
    return {
      nodes,
      addresses,
      async stop() {
        for (const n of nodes) await n.stop()
      },
    }
  } catch (err) {
    for (const n of nodes) await n.stop()
    throw err
  }
}

/** A TCP proxy in front of a Redis port that records what clients send (to prove bytes go through unchanged). */
export async function recordingProxy(targetPort: number): Promise<{ port: number; sent: () => Buffer; close: () => Promise<void> }> {
  const chunks: Buffer[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort })
    sockets.add(client)
    sockets.add(upstream)
    client.on('data', (d) => {
      chunks.push(Buffer.from(d))
      upstream.write(d)
    })
    upstream.on('data', (d) => client.write(d))
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end)
    upstream.on('close', end)
    client.on('error', end)
    upstream.on('error', end)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return {
    port: (server.address() as { port: number }).port,
    sent: () => Buffer.concat(chunks),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}
