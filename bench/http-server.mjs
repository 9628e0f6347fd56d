// One server for bench/http.mjs: node bench/http-server.mjs <node|express|koa|fastify> <plugins: 0|1|3> [as|go|adapter]
// ('adapter': the adapter in front of the app with an empty pipeline)
process.on('SIGINT', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
import http from 'node:http'
import v8 from 'node:v8'
// V8's allocation-site pretenuring makes per-request figures bimodal (docs/performance.md).
if (process.env.BENCH_NO_PRETENURING) v8.setFlagsFromString('--no-allocation-site-pretenuring')
import { fileURLToPath } from 'node:url'
import { PluginPipeline, WasmPluginHost } from '../dist/index.js'

const [framework = 'node', count = '0', kind = 'as'] = process.argv.slice(2)
const fx = (k, name) => fileURLToPath(new URL(`../fixtures/build/${k}/${name}.wasm`, import.meta.url))
const host = new WasmPluginHost({ logger: { level: 'warn', log() {} } })
const plugins = []
for (let i = 0; i < Number(count); i++) {
  plugins.push(await host.load(kind === 'go' ? { wasm: fx('go', 'minimal'), config: { enabled: true } } : { wasm: fx('as', 'add-header') }))
}
const pipeline = new PluginPipeline(host, { plugins })
const body = 'hello'
const usePlugins = plugins.length > 0 || kind === 'adapter'
let server
let counted // the server whose requests are counted (Fastify listens on its own)
if (framework === 'node') {
  const app = (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
    res.end(body)
  }
  const { handle } = await import('../dist/adapters/node/index.js')
  server = http.createServer(usePlugins ? handle(pipeline, app) : app)
} else if (framework === 'express') {
  const express = (await import('express')).default
  const app = express()
  if (usePlugins) app.use((await import('../dist/adapters/express/index.js')).proxyWasm({ pipeline }))
  app.get('/', (req, res) => res.type('text/plain').send(body))
  server = http.createServer(app)
} else if (framework === 'koa') {
  const Koa = (await import('koa')).default
  const app = new Koa()
  if (usePlugins) app.use((await import('../dist/adapters/koa/index.js')).proxyWasm({ pipeline }))
  app.use((ctx) => {
    ctx.type = 'text/plain'
    ctx.body = body
  })
  server = http.createServer(app.callback())
} else if (framework === 'fastify') {
  const Fastify = (await import('fastify')).default
  const app = Fastify()
  // Applied to the root context directly (register() would encapsulate it away from root routes).
  if (usePlugins) await (await import('../dist/adapters/fastify/index.js')).proxyWasmFastify(app, { pipeline })
  app.get('/', async (req, reply) => reply.type('text/plain').send(body))
  await app.listen({ port: 0, host: '127.0.0.1' })
  counted = app.server
  process.stdout.write(`${app.server.address().port}\n`)
}
if (server) server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))

// CPU time this server spent per request between a 'mark' and a 'report' from bench/http.mjs
// (steadier than req/s on a shared machine, where the load generator competes for the cores).
let requests = 0
;(server ?? counted).on('request', () => requests++)
let mark
process.on('message', (m) => {
  if (m === 'mark') mark = { cpu: process.cpuUsage(), requests }
  else if (m === 'report') {
    const u = process.cpuUsage(mark.cpu)
    process.send({ cpuPerRequest: (u.user + u.system) / Math.max(1, requests - mark.requests) })
  }
})
