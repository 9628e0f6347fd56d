/**
 * `proxy-wasm-host/node`: proxy-wasm plugins in front of a plain `node:http` handler
 * ({@link handle}), a reverse-proxy gateway over undici ({@link createGateway}), and an echo
 * upstream like httpbin's `/anything` ({@link createEchoUpstream}).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { WasmPluginHost, PluginPipeline } from 'proxy-wasm-host'
 * import { handle } from 'proxy-wasm-host/node'
 *
 * const host = new WasmPluginHost()
 * const pipeline = new PluginPipeline(host, { plugins: [await host.load({ wasm: './main.wasm' })] })
 * createServer(handle(pipeline, (req, res) => res.end('ok'))).listen(8080)
 * ```
 * @module proxy-wasm-host/node
 */
export { handle, proxyWasm } from './handle.js'
export type { NodeHandler, HandleOptions, ConnectMiddleware } from './handle.js'
export { createGateway, createGatewayHandler } from './gateway.js'
export type { GatewayOptions, GatewayHandler } from './gateway.js'
export { createEchoUpstream, createEchoHandler } from './echo.js'
export type { EchoResponse } from './echo.js'
export type { PipelineSource, RouteOptions, ProxyWasmOptions, RouteInfo, PluginErrorMode } from './options.js'
