/**
 * The dev gateway's admin port (`serve --admin-port`): plugin metrics in Prometheus text at
 * `/metrics` and at Envoy's admin path `/stats/prometheus`, and `/ready`.
 * @module
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What the admin server serves. @internal */
export interface AdminOptions {
  port: number
  host: string
  /** The Prometheus text and its content type (the workers' metrics, aggregated, with `--workers`). */
  metrics: () => Promise<{ contentType: string; body: string }>
}

/** A running admin server. @internal */
export interface Admin {
  url: string
  close(): Promise<void>
}

/** Starts the admin server. @internal */
export async function startAdmin(opts: AdminOptions): Promise<Admin> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    if (path === '/metrics' || path === '/stats/prometheus') {
      opts.metrics().then(
        (m) => res.writeHead(200, { 'content-type': m.contentType }).end(req.method === 'HEAD' ? undefined : m.body),
        (err: Error) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${err.message}\n`),
      )
      return
    }
    if (path === '/ready') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('LIVE\n')
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('admin paths: /metrics, /stats/prometheus, /ready\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}
