/**
 * `proxy-wasm-host/express`: proxy-wasm plugins as Express middleware (Express 4 and 5). Express is
 * an optional peer dependency and is only used for types here.
 *
 * @example
 * ```ts
 * import express from 'express'
 * import { proxyWasm } from 'proxy-wasm-host/express'
 *
 * const app = express()
 * app.use(proxyWasm({ pipeline }))
 * app.get('/hello', (req, res) => res.json({ hello: req.get('hello') }))
 * ```
 * @module proxy-wasm-host/express
 */
import type { IncomingMessage } from 'node:http'
import type { Request, RequestHandler } from 'express'
import { proxyWasm as connectMiddleware } from '../node/handle.js'
import type { ProxyWasmOptions as Options } from '../node/options.js'

/**
 * Options of the Express {@link proxyWasm} middleware; `match` receives the Express request.
 * @example
 * ```ts
 * const options: ProxyWasmOptions = { pipeline, match: (req) => ({ route: req.baseUrl || 'root' }) }
 * ```
 */
export type ProxyWasmOptions = Options<Request>

/**
 * Express middleware that runs the plugins of a pipeline around the rest of the stack.
 *
 * Request phases run before `next()`: later middleware and routes see the method, URL (routing
 * follows a rewritten `:path`), headers and body as the plugins left them — the body streams through
 * `req` with backpressure, so put body parsers (`express.json()`, `express.text()`) after this
 * middleware. A plugin's local reply is sent and `next()` is not called. Response phases run on
 * whatever the app writes (`res.send`, `res.json`, streams, `res.sendFile`, error pages), with
 * `content-length` kept right. Mounted on a path (`app.use('/api', …)`), plugins still see the full
 * path. The exchange ends with the response, or is aborted when the client goes away.
 *
 * @param options - the pipeline, and route / service names (fixed, or `match(req)`)
 * @returns an Express middleware
 * @throws `PWH_ERR_CONFIG_INVALID` when `pipeline` is not a pipeline
 * @example
 * ```ts
 * app.use('/api', proxyWasm({ pipeline, route: 'api' }), express.json(), apiRouter)
 * ```
 */
export function proxyWasm(options: ProxyWasmOptions): RequestHandler {
  return connectMiddleware(options as unknown as Options<IncomingMessage>) as unknown as RequestHandler
}
