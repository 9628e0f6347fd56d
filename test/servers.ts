// Small real servers on 127.0.0.1 for callout and resolver tests; every one is closed by closeAll().
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface TestServer {
  url: string
  port: number
  server: Server
  /** Requests seen, in order. */
  seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>
  close(): Promise<void>
}

const open = new Set<TestServer>()

/** Starts an HTTP server on 127.0.0.1, port 0; `handler` answers after the body was read. */
export async function httpServer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<TestServer> {
  const sockets = new Set<Socket>()
  const seen: TestServer['seen'] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      handler(req, res, body)
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const t: TestServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    seen,
    close: () =>
      new Promise<void>((r) => {
        open.delete(t)
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
  open.add(t)
  return t
}

/** Tracks a server's sockets; the returned function destroys them and closes the server. */
export function closer(server: Server): () => Promise<void> {
  const sockets = new Set<Socket>()
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  return () => new Promise<void>((r) => {
    for (const s of sockets) s.destroy()
    server.close(() => r())
  })
}

/** A port nothing listens on (bound, then closed). */
export async function deadPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** Closes every server still open. */
export async function closeAll(): Promise<void> {
  await Promise.all([...open].map((s) => s.close()))
}
