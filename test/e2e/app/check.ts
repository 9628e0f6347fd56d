// Type-checked under node16, bundler and node10 resolution: every subpath has types, and they are
// real types (the @ts-expect-error lines fail if anything resolved to `any`).
import { WasmPluginHost, PluginPipeline, createConsoleLogger, DIAGNOSTICS_CHANNELS, type PluginOptions, type LogSource, type PropertiesInit } from 'proxy-wasm-host'
import { handle, createGateway, type GatewayOptions } from 'proxy-wasm-host/node'
import { proxyWasm as expressPlugins, type ProxyWasmOptions as ExpressOptions } from 'proxy-wasm-host/express'
import { proxyWasm as koaPlugins } from 'proxy-wasm-host/koa'
import { proxyWasmFastify, type ProxyWasmOptions as FastifyOptions } from 'proxy-wasm-host/fastify'

export async function build(): Promise<void> {
  const host = new WasmPluginHost({ logger: createConsoleLogger('info', { timestamps: true }) })
  const properties: PropertiesInit = new Map([[['xds', 'route_metadata', 'filter_metadata', 'envoy.filters.http.wasm', 'tenant'], 'acme']])
  const options: PluginOptions = { wasm: './auth.wasm', phase: 'authentication', priority: 10, failStrategy: 'FAIL_OPEN', properties }
  const pipeline = new PluginPipeline(host, { plugins: [await host.load(options)] })
  const names: string[] = pipeline.plan({ route: 'api' }).map((p) => p.name)
  const gateway: GatewayOptions = { pipeline, upstream: 'http://127.0.0.1:3000' }
  const express: ExpressOptions = { pipeline, onPluginError: 'forward' }
  const fastify: FastifyOptions = { pipeline, prefix: '/api' }
  void [names, gateway, express, fastify, handle, createGateway, expressPlugins, koaPlugins, proxyWasmFastify, DIAGNOSTICS_CHANNELS.callback]
  const source: LogSource = { plugin: 'p', contextId: 1, origin: 'proxy_log', requestId: 'r' }
  void source
  // @ts-expect-error phase names are checked
  const typo: PluginOptions = { wasm: './a.wasm', phase: 'authentcation' }
  // @ts-expect-error failStrategy values are checked
  const typo2: PluginOptions = { wasm: './a.wasm', failStrategy: 'FAIL_CLOSED' }
  void [typo, typo2]
}
