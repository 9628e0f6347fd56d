/**
 * A built-in echo upstream, like httpbin's `/anything`: every request is answered with a JSON
 * description of what arrived, so the effect of plugins on the request is visible.
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { NodeHandler } from './handle.js'

/**
 * The JSON body the echo upstream answers with.
 * @example
 * ```ts
 * const echo = (await (await fetch('http://127.0.0.1:8080/anything?a=1')).json()) as EchoResponse
 * echo.headers['x-my-header'] // what the plugins added
 * ```
 */
export interface EchoResponse {
  /** Request method. */
  method: string
  /** Full URL as seen by the upstream (`http://<host><path>`). */
  url: string
  /** Path without the query. */
  path: string
  /** Query arguments; a repeated name becomes an array (as httpbin). */
  args: Record<string, string | string[]>
  /** Request headers as Node parsed them (lower-case names). */
  headers: Record<string, string | string[] | undefined>
  /** Client address. */
  origin: string
  /** The body as UTF-8 text (`''` when there was none). */
  body: string
  /** The body parsed as JSON when it is JSON, else `null`. */
  json: unknown
}

/**
 * The echo upstream's request handler: answers `200` with an {@link EchoResponse} JSON body.
 * @returns a `node:http` request handler
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { createEchoHandler } from 'proxy-wasm-host/node'
 * createServer(createEchoHandler()).listen(8081)
 * ```
 */
export function createEchoHandler(): NodeHandler {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', () => res.destroy())
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const u = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`)
      const args: Record<string, string | string[]> = {}
      for (const [k, v] of u.searchParams) {
        const cur = args[k]
        args[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v]
      }
      let json: unknown = null
      if (body) {
        try {
          json = JSON.parse(body)
        } catch {
          json = null
        }
      }
      const echo: EchoResponse = {
        method: req.method ?? 'GET',
        url: u.href,
        path: u.pathname,
        args,
        headers: req.headers,
        origin: req.socket.remoteAddress ?? '',
        body,
        json,
      }
      const text = `${JSON.stringify(echo, null, 2)}\n`
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(req.method === 'HEAD' ? undefined : text)
    })
  }
}

/**
 * An echo upstream server (not yet listening), the stand-in for httpbin in the local debugging
 * loop: `proxy-wasm-host serve` starts one when no `--upstream` is given.
 * @returns an `http.Server`; call `listen()`
 * @example
 * ```ts
 * import { createEchoUpstream, createGateway } from 'proxy-wasm-host/node'
 * const echo = createEchoUpstream().listen(0, '127.0.0.1')
 * await new Promise((r) => echo.once('listening', r))
 * const { port } = echo.address() as import('node:net').AddressInfo
 * createGateway({ pipeline, upstream: `http://127.0.0.1:${port}` }).listen(8080)
 * ```
 */
export function createEchoUpstream(): Server {
  return createServer(createEchoHandler())
}
