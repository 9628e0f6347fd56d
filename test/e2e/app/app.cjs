// The same app as app.mjs, loaded with require() (the package's CommonJS build).
const { createServer } = require('node:http')
const express = require('express')
const Koa = require('koa')
const Fastify = require('fastify')
const { WasmPluginHost, PluginPipeline } = require('proxy-wasm-host')
const { proxyWasm: expressPlugins } = require('proxy-wasm-host/express')
const { proxyWasm: koaPlugins } = require('proxy-wasm-host/koa')
const { proxyWasmFastify } = require('proxy-wasm-host/fastify')

const seen = (headers) => ({ myHeader: headers['x-my-header'] ?? null, stamp: headers['x-stamp'] ?? null })
const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`)))
async function ask(url) {
  const r = await fetch(`${url}/hello`)
  return { status: r.status, responseStamp: r.headers.get('x-stamp'), body: await r.json() }
}

async function main() {
  const host = new WasmPluginHost({ logger: { level: 'warn', log: () => {} } })
  const pipeline = new PluginPipeline(host, {
    plugins: [await host.load({ wasm: process.env.PLUGIN_MINIMAL, config: { enabled: true } }), await host.load({ wasm: process.env.PLUGIN_STAMP, config: { name: 'cjs' } })],
  })
  const e = express()
  e.use(expressPlugins({ pipeline }))
  e.get('/hello', (req, res) => res.json(seen(req.headers)))
  const es = createServer(e)
  console.log(JSON.stringify({ framework: 'express', ...(await ask(await listen(es))) }))
  es.close()

  const k = new Koa()
  k.use(koaPlugins({ pipeline }))
  k.use((ctx) => {
    ctx.body = seen(ctx.headers)
  })
  const ks = createServer(k.callback())
  console.log(JSON.stringify({ framework: 'koa', ...(await ask(await listen(ks))) }))
  ks.close()

  const f = Fastify()
  f.register(proxyWasmFastify, { pipeline })
  f.get('/hello', async (req) => seen(req.headers))
  const url = await f.listen({ port: 0, host: '127.0.0.1' })
  console.log(JSON.stringify({ framework: 'fastify', ...(await ask(url)) }))
  await f.close()
  // The published schemas resolve through the exports map.
  console.log(JSON.stringify({ schema: require('proxy-wasm-host/schema/pipeline.json').title }))
  host.close()
}
main().catch((err) => {
  console.error(err)
  process.exit(1)
})
