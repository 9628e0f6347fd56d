// A newcomer's ESM app: Express, Koa and Fastify (registered on the root), two plugins each, the
// package installed from its tarball. Prints one JSON line per framework.
import { createServer } from 'node:http'
import express from 'express'
import Koa from 'koa'
import Fastify from 'fastify'
import { WasmPluginHost, PluginPipeline } from 'proxy-wasm-host'
import { proxyWasm as expressPlugins } from 'proxy-wasm-host/express'
import { proxyWasm as koaPlugins } from 'proxy-wasm-host/koa'
import { proxyWasmFastify } from 'proxy-wasm-host/fastify'

const [minimal, stamp] = [process.env.PLUGIN_MINIMAL, process.env.PLUGIN_STAMP]
const host = new WasmPluginHost({ logger: { level: 'warn', log: () => {} } })
const pipeline = new PluginPipeline(host, {
  plugins: [await host.load({ wasm: minimal, config: { enabled: true } }), await host.load({ wasm: stamp, config: { name: 'esm' } })],
})
const seen = (headers) => ({ myHeader: headers['x-my-header'] ?? null, stamp: headers['x-stamp'] ?? null })

async function ask(url) {
  const r = await fetch(`${url}/hello`)
  return { status: r.status, responseStamp: r.headers.get('x-stamp'), body: await r.json() }
}
const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`)))

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
await f.register(proxyWasmFastify, { pipeline })
f.get('/hello', async (req) => seen(req.headers))
const url = await f.listen({ port: 0, host: '127.0.0.1' })
console.log(JSON.stringify({ framework: 'fastify', ...(await ask(url)) }))
await f.close()
host.close()
