// One server for bench/http.mjs (run as a child process):
//   node bench/http-server.mjs <node|express|koa|fastify> <variant>
// variant: bare (no adapter), empty (the adapter with an empty pipeline), wat-noop (one WAT plugin
// that exports every HTTP callback and does nothing: the adapter's machinery), go-noop (one Go SDK
// plugin doing nothing), go-rewrite (one Higress wasm-go plugin adding a request header),
// go-http-headers (the Go SDK http_headers example: rewrites, reads and logs headers).
// Prints its port on stdout; answers 'mark' / 'report' IPC messages with its CPU time per request.
import http from 'node:http'
import { fixture, quietLogger } from './lib.mjs'

export const VARIANTS = {
  bare: undefined,
  empty: [],
  'wat-noop': [{ wasm: fixture('wat', 'noop') }],
  'go-noop': [{ wasm: fixture('go', 'noop') }],
  'go-rewrite': [{ wasm: fixture('go', 'minimal'), config: { enabled: true } }],
  'go-http-headers': [{ wasm: fixture('go', 'http-headers'), config: { header: 'x-bench', value: '1' } }],
}

/** The server of `framework` with `variant` in front of the app (not listening yet). */
export async function createBenchServer(framework, variant) {
  const specs = VARIANTS[variant]
  if (specs === undefined && variant !== 'bare') throw new Error(`unknown variant ${variant}`)
  const { PluginPipeline, WasmPluginHost } = await import('../dist/index.js')
  const host = new WasmPluginHost({ logger: quietLogger })
  const plugins = []
  for (const s of specs ?? []) plugins.push(await host.load(s))
  const pipeline = new PluginPipeline(host, { plugins })
  const adapter = specs !== undefined
  const body = 'hello'
  if (framework === 'node') {
    const app = (req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
      res.end(body)
    }
    const { handle } = await import('../dist/adapters/node/index.js')
    return http.createServer(adapter ? handle(pipeline, app) : app)
  }
  if (framework === 'express') {
    const express = (await import('express')).default
    const app = express()
    if (adapter) app.use((await import('../dist/adapters/express/index.js')).proxyWasm({ pipeline }))
    app.get('/', (req, res) => res.type('text/plain').send(body))
    return http.createServer(app)
  }
  if (framework === 'koa') {
    const Koa = (await import('koa')).default
    const app = new Koa()
    if (adapter) app.use((await import('../dist/adapters/koa/index.js')).proxyWasm({ pipeline }))
    app.use((ctx) => {
      ctx.type = 'text/plain'
      ctx.body = body
    })
    return http.createServer(app.callback())
  }
  if (framework === 'fastify') {
    const Fastify = (await import('fastify')).default
    const app = Fastify()
    if (adapter) await app.register((await import('../dist/adapters/fastify/index.js')).proxyWasmFastify, { pipeline })
    app.get('/', async (req, reply) => reply.type('text/plain').send(body))
    await app.ready()
    return app.server
  }
  throw new Error(`unknown framework ${framework}`)
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  process.on('SIGINT', () => process.exit(0))
  process.on('SIGTERM', () => process.exit(0))
  const [framework = 'node', variant = 'bare'] = process.argv.slice(2)
  const server = await createBenchServer(framework, variant)
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))

  // CPU time this server spent per request between a 'mark' and a 'report' from bench/http.mjs
  // (steadier than req/s on a shared machine, where the load generator competes for the cores).
  let requests = 0
  server.on('request', () => requests++)
  let mark
  process.on('message', (m) => {
    if (m === 'mark') mark = { cpu: process.cpuUsage(), requests }
    else if (m === 'report') {
      const u = process.cpuUsage(mark.cpu)
      process.send({ cpuPerRequest: (u.user + u.system) / Math.max(1, requests - mark.requests) })
    }
  })
}
