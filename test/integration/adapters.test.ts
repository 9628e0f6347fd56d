// One suite over every adapter (node handler, Express, Koa, Fastify, gateway), as cpp-host's
// TEST_P runs each test over every engine: real plugins, real servers on 127.0.0.1, undici clients.
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import express from 'express'
import Fastify from 'fastify'
import Koa from 'koa'
import { Client, request } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { proxyWasm as expressProxyWasm } from '../../src/adapters/express/index.js'
import { proxyWasmFastify } from '../../src/adapters/fastify/index.js'
import { proxyWasm as koaProxyWasm } from '../../src/adapters/koa/index.js'
import { createEchoUpstream, createGateway, handle, type EchoResponse } from '../../src/adapters/node/index.js'
import type { WasmPluginHost } from '../../src/host/host.js'
import type { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { fixture, pipelineOf, testHost, type LogLine } from '../helpers.js'

const MB = 1024 * 1024
const BIG = randomBytes(10 * MB)
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const BIG_SHA = sha(BIG)
const SLICE = 64 * 1024

/** What the application behind the plugins saw. */
interface AppState {
  calls: number
}
interface Seen {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
  body: string
}
interface Started {
  url: string
  state: AppState
  close(): Promise<void>
}

// ---- the application, once per framework (same routes, same answers) ----------------------------
//   ANY  /echo  → JSON { method, url, headers, body } of what arrived
//   POST /sha   → JSON { sha, bytes } of the streamed body
//   GET  /big?n → n bytes of BIG, streamed with content-length
//   GET  /text  → "app body" (text/plain, content-length 8)

function* slices(n: number): Generator<Buffer> {
  for (let off = 0; off < n; off += SLICE) yield BIG.subarray(off, Math.min(n, off + SLICE))
}

function writeBig(res: ServerResponse, n: number): void {
  const it = slices(n)
  const pump = () => {
    for (;;) {
      const next = it.next()
      if (next.done) return void res.end()
      if (!res.write(next.value)) return void res.once('drain', pump)
    }
  }
  pump()
}

function sendJson(res: ServerResponse, value: unknown): void {
  const text = JSON.stringify(value)
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** The app as a plain node:http handler (also the gateway's upstream). */
function nodeApp(state: AppState) {
  return (req: IncomingMessage, res: ServerResponse) => {
    state.calls++
    const u = new URL(req.url ?? '/', 'http://x')
    if (u.pathname === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Number(u.searchParams.get('n')) })
      return writeBig(res, Number(u.searchParams.get('n')))
    }
    if (u.pathname === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 8 })
      return void res.end('app body')
    }
    const hash = createHash('sha256')
    const chunks: Buffer[] = []
    let bytes = 0
    req.on('data', (c: Buffer) => {
      bytes += c.byteLength
      if (u.pathname === '/sha') hash.update(c)
      else chunks.push(c)
    })
    req.on('error', () => {})
    req.on('end', () => {
      if (u.pathname === '/sha') return sendJson(res, { sha: hash.digest('hex'), bytes })
      sendJson(res, { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() } satisfies Seen)
    })
  }
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

function hashStream(stream: NodeJS.ReadableStream): Promise<{ sha: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256')
    let bytes = 0
    stream.on('data', (c: Buffer) => {
      bytes += c.byteLength
      hash.update(c)
    })
    stream.on('error', reject)
    stream.on('end', () => resolve({ sha: hash.digest('hex'), bytes }))
  })
}

const adapters: Array<{ name: string; start(pipeline: PluginPipeline): Promise<Started> }> = [
  {
    name: 'node handler',
    async start(pipeline) {
      const state = { calls: 0 }
      const server = createServer(handle(pipeline, nodeApp(state)))
      return { url: await listen(server), state, close: () => closeServer(server) }
    },
  },
  {
    name: 'express',
    async start(pipeline) {
      const state = { calls: 0 }
      const app = express()
      app.use(expressProxyWasm({ pipeline }))
      app.use((_req, _res, next) => {
        state.calls++
        next()
      })
      app.get('/big', (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Number(req.query.n) })
        writeBig(res, Number(req.query.n))
      })
      app.get('/text', (_req, res) => {
        res.type('text/plain').send('app body')
      })
      app.post('/sha', async (req, res) => {
        res.json(await hashStream(req))
      })
      app.all('/echo', express.text({ type: '*/*' }), (req, res) => {
        res.json({ method: req.method, url: req.url, headers: req.headers, body: typeof req.body === 'string' ? req.body : '' } satisfies Seen)
      })
      const server = createServer(app)
      return { url: await listen(server), state, close: () => closeServer(server) }
    },
  },
  {
    name: 'koa',
    async start(pipeline) {
      const state = { calls: 0 }
      const app = new Koa()
      app.silent = true
      app.use(koaProxyWasm({ pipeline }))
      app.use(async (ctx) => {
        state.calls++
        if (ctx.path === '/big') {
          const n = Number(ctx.query.n)
          ctx.type = 'application/octet-stream'
          ctx.body = Readable.from(slices(n))
          ctx.length = n
        } else if (ctx.path === '/text') {
          ctx.type = 'text/plain'
          ctx.body = 'app body'
        } else if (ctx.path === '/sha') {
          ctx.req.on('error', () => {})
          ctx.body = await hashStream(ctx.req)
        } else {
          const chunks: Buffer[] = []
          for await (const c of ctx.req) chunks.push(c as Buffer)
          ctx.body = { method: ctx.method, url: ctx.url, headers: ctx.headers, body: Buffer.concat(chunks).toString() } satisfies Seen
        }
      })
      const server = createServer(app.callback())
      return { url: await listen(server), state, close: () => closeServer(server) }
    },
  },
  {
    name: 'fastify',
    async start(pipeline) {
      const state = { calls: 0 }
      const app = Fastify()
      await app.register(proxyWasmFastify, {
        pipeline,
        routes: async (api) => {
          api.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload))
          api.addHook('preHandler', async () => {
            state.calls++
          })
          api.get('/big', async (req, reply) => {
            const n = Number((req.query as { n: string }).n)
            return reply.type('application/octet-stream').header('content-length', n).send(Readable.from(slices(n)))
          })
          api.get('/text', async (_req, reply) => reply.type('text/plain').send('app body'))
          api.post('/sha', async (req) => {
            const body = req.body as Readable
            body.on('error', () => {})
            return hashStream(body)
          })
          api.route({
            method: ['GET', 'POST', 'PUT'],
            url: '/echo',
            handler: async (req) => ({ method: req.method, url: req.url, headers: req.headers, body: typeof req.body === 'string' ? req.body : '' }) satisfies Seen,
          })
        },
      })
      const url = await app.listen({ port: 0, host: '127.0.0.1' })
      return { url, state, close: () => app.close() }
    },
  },
  {
    name: 'gateway',
    async start(pipeline) {
      const state = { calls: 0 }
      const upstream = createServer(nodeApp(state))
      const upstreamUrl = await listen(upstream)
      const gateway = createGateway({ pipeline, upstream: upstreamUrl })
      const url = await listen(gateway)
      return {
        url,
        state,
        async close() {
          await closeServer(gateway)
          await closeServer(upstream)
        },
      }
    },
  },
]

let host: WasmPluginHost
let logs: LogLine[]
const pipelines: Record<'minimal' | 'helloMock' | 'body' | 'pauseTick' | 'actions' | 'actionsLocal', PluginPipeline> = {} as never

beforeAll(async () => {
  ;({ host, logs } = testHost('info'))
  pipelines.minimal = await pipelineOf(host, [{ wasm: fixture('go', 'minimal'), config: { enabled: true } }])
  pipelines.helloMock = await pipelineOf(host, [{ wasm: fixture('go', 'hello-mock'), config: { mockEnable: true } }])
  pipelines.body = await pipelineOf(host, [{ wasm: fixture('go', 'body'), config: { mode: 'replace' } }])
  pipelines.pauseTick = await pipelineOf(host, [{ wasm: fixture('go', 'pause-tick') }])
  pipelines.actions = await pipelineOf(host, [{ name: 'actions', wasm: fixture('wat', 'actions') }])
  // H B R T L = 0 0 0 0 1: everything continues, the last request-body call answers 418.
  pipelines.actionsLocal = await pipelineOf(host, [{ name: 'actions-local', wasm: fixture('wat', 'actions'), config: '00001' }])
})

afterAll(() => {
  host.close()
})

describe.each(adapters)('$name', (adapter) => {
  let started: Started[] = []
  const start = async (pipeline: PluginPipeline) => {
    const s = await adapter.start(pipeline)
    started.push(s)
    return s
  }
  afterEach(async () => {
    for (const s of started) await s.close()
    started = []
  })

  it('adds a request header the app sees (Go minimal)', async () => {
    const app = await start(pipelines.minimal)
    const r = await request(`${app.url}/echo?q=1`)
    const seen = (await r.body.json()) as Seen
    expect(r.statusCode).toBe(200)
    expect(seen.headers['x-my-header']).toBe('hello')
    expect(seen.url).toBe('/echo?q=1')
  })

  it('answers locally without calling the app (Go hello-mock)', async () => {
    const app = await start(pipelines.helloMock)
    const r = await request(`${app.url}/echo`)
    expect(r.statusCode).toBe(200)
    expect(await r.body.text()).toBe('hello world')
    expect(r.headers['content-length']).toBe('11')
    expect(app.state.calls).toBe(0)
  })

  it('rewrites the request body before the app reads it (Go body, replace)', async () => {
    const app = await start(pipelines.body)
    const r = await request(`${app.url}/echo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello body' })
    const text = await r.body.text()
    expect(r.statusCode).toBe(200)
    // The same plugin rewrites the JSON answer too.
    expect(text.startsWith('replaced:')).toBe(true)
    const seen = JSON.parse(text.slice('replaced:'.length)) as Seen
    expect(seen.body).toBe('replaced:hello body')
    // The app saw a length that matches what it got (or chunked framing).
    if (seen.headers['content-length'] !== undefined) expect(seen.headers['content-length']).toBe(String('replaced:hello body'.length))
    else expect(seen.headers['transfer-encoding']).toBe('chunked')
  })

  it('rewrites the response body with a correct length (Go body, replace)', async () => {
    const app = await start(pipelines.body)
    const r = await request(`${app.url}/text`)
    const text = await r.body.text()
    expect(r.statusCode).toBe(200)
    expect(text).toBe('replaced:app body')
    if (r.headers['content-length'] !== undefined) expect(r.headers['content-length']).toBe(String(Buffer.byteLength(text)))
    else expect(r.headers['transfer-encoding']).toBe('chunked')
  })

  it('streams 10 MB request and response bodies intact through a header-only plugin', async () => {
    const app = await start(pipelines.minimal)
    const up = await request(`${app.url}/sha`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(BIG.byteLength) },
      body: Readable.from(slices(BIG.byteLength)),
    })
    expect(up.statusCode).toBe(200)
    expect(await up.body.json()).toEqual({ sha: BIG_SHA, bytes: BIG.byteLength })

    const down = await request(`${app.url}/big?n=${BIG.byteLength}`)
    expect(down.statusCode).toBe(200)
    expect(down.headers['content-length']).toBe(String(BIG.byteLength))
    expect(await hashStream(down.body)).toEqual({ sha: BIG_SHA, bytes: BIG.byteLength })
  })

  it('waits for a plugin that pauses until a timer resumes it (Go pause-tick)', async () => {
    const app = await start(pipelines.pauseTick)
    const r = await request(`${app.url}/echo`)
    const seen = (await r.body.json()) as Seen
    expect(r.statusCode).toBe(200)
    expect(seen.headers['x-resumed']).toBe('tick')
  })

  it('serves 100 concurrent requests', async () => {
    const app = await start(pipelines.minimal)
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const r = await request(`${app.url}/echo?i=${i}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: `body ${i}` })
        const seen = (await r.body.json()) as Seen
        return r.statusCode === 200 && seen.body === `body ${i}` && seen.headers['x-my-header'] === 'hello' && seen.url === `/echo?i=${i}`
      }),
    )
    expect(results.filter(Boolean)).toHaveLength(100)
    expect(app.state.calls).toBe(100)
  })

  it('a reply from the end of the request body wins over the running app (WAT actions, L=1)', async () => {
    const app = await start(pipelines.actionsLocal)
    const count = () => logs.filter((l) => l.plugin === 'actions-local' && l.message === 'on_request_body').length
    const before = count()
    async function* body() {
      yield BIG.subarray(0, 64 * 1024)
      // The first chunk went through the plugin (and on to the app) before the rest is sent.
      await vi.waitFor(() => expect(count()).toBeGreaterThan(before), { timeout: 5000 })
      yield BIG.subarray(64 * 1024, 128 * 1024)
    }
    const r = await request(`${app.url}/sha`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(128 * 1024) },
      body: Readable.from(body()),
    })
    expect(r.statusCode).toBe(418)
    expect(await r.body.text()).toBe('short and stout')
  })

  it('keeps the connection usable after a local reply to a request whose body was not read', async () => {
    const app = await start(pipelines.helloMock)
    const client = new Client(app.url, { pipelining: 1 })
    try {
      const answers: string[] = []
      for (let i = 0; i < 3; i++) {
        const r = await client.request({ path: '/echo', method: 'POST', headers: { 'content-type': 'text/plain' }, body: BIG.subarray(0, MB) })
        answers.push(`${r.statusCode} ${await r.body.text()}`)
      }
      expect(answers).toEqual(['200 hello world', '200 hello world', '200 hello world'])
      expect(app.state.calls).toBe(0)
    } finally {
      await client.close()
    }
  })

  it('finishes the plugin stream when the client aborts mid-body (WAT actions)', async () => {
    const app = await start(pipelines.actions)
    const count = (m: string) => logs.filter((l) => l.plugin === 'actions' && l.message === m).length
    const before = { log: count('on_log'), done: count('on_done'), del: count('on_delete'), body: count('on_request_body') }
    const { port } = new URL(app.url)
    const socket = connect(Number(port), '127.0.0.1')
    socket.on('error', () => {})
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    socket.write(`POST /sha HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/octet-stream\r\ncontent-length: ${MB}\r\n\r\n`)
    socket.write(BIG.subarray(0, 4096))
    // The first body bytes went through the plugin: the stream is open in the middle of the body.
    await vi.waitFor(() => expect(count('on_request_body')).toBeGreaterThan(before.body), { timeout: 5000 })
    socket.destroy()
    await vi.waitFor(
      () => {
        expect(count('on_log')).toBe(before.log + 1)
        expect(count('on_done')).toBe(before.done + 1)
        expect(count('on_delete')).toBe(before.del + 1)
      },
      { timeout: 5000 },
    )
    // Nothing hangs: the next request goes through.
    const r = await request(`${app.url}/echo`)
    expect(r.statusCode).toBe(200)
    expect(((await r.body.json()) as Seen).headers['x-actions']).toBe('00000')
  })
})

describe('adapter specifics', () => {
  const closers: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const c of closers.splice(0)) await c()
  })

  it('gateway: an unreachable upstream answers 503 through the response phases', async () => {
    const dead = createServer()
    const deadUrl = await listen(dead)
    await closeServer(dead)
    const { host: h } = testHost('warn')
    const pipeline = await pipelineOf(h, [{ wasm: fixture('wat', 'abi-0-2-1') }])
    const gateway = createGateway({ pipeline, upstream: deadUrl })
    const url = await listen(gateway)
    closers.push(async () => {
      await closeServer(gateway)
      h.close()
    })
    const r = await request(`${url}/x`)
    expect(r.statusCode).toBe(503)
    expect(await r.body.text()).toMatch(/^upstream connect error/)
    expect(r.headers['x-abi-resp']).toBe('0.2.1')
  })

  it('gateway + echo upstream: the echoed request shows the plugin header', async () => {
    const echo = createEchoUpstream()
    const echoUrl = await listen(echo)
    const gateway = createGateway({ pipeline: pipelines.minimal, upstream: echoUrl })
    const url = await listen(gateway)
    closers.push(async () => {
      await closeServer(gateway)
      await closeServer(echo)
    })
    const r = await request(`${url}/anything?a=1&a=2`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"k":1}' })
    const body = (await r.body.json()) as EchoResponse
    expect(body.headers['x-my-header']).toBe('hello')
    expect(body.args).toEqual({ a: ['1', '2'] })
    expect(body.json).toEqual({ k: 1 })
    expect(body.path).toBe('/anything')
    expect(body.headers['x-forwarded-for']).toBe('127.0.0.1')
  })

  it('fastify: the hooks stay inside their encapsulation context', async () => {
    const app = Fastify()
    await app.register(proxyWasmFastify, {
      pipeline: pipelines.minimal,
      routes: async (api) => {
        api.get('/inside', async (req) => ({ header: req.headers['x-my-header'] ?? null }))
      },
    })
    // Called on a context of one's own, the plugin applies to that context's routes.
    await app.register(async (scope) => {
      await proxyWasmFastify(scope, { pipeline: pipelines.minimal })
      scope.get('/scoped', async (req) => ({ header: req.headers['x-my-header'] ?? null }))
    })
    app.get('/outside', async (req) => ({ header: req.headers['x-my-header'] ?? null }))
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    closers.push(() => app.close())
    expect(await (await request(`${url}/inside`)).body.json()).toEqual({ header: 'hello' })
    expect(await (await request(`${url}/scoped`)).body.json()).toEqual({ header: 'hello' })
    expect(await (await request(`${url}/outside`)).body.json()).toEqual({ header: null })
  })

  it('node: headersSent is true after writeHead while the plugins hold the headers; untouched headers go out as set', async () => {
    const seen: boolean[] = []
    const server = createServer(
      handle(pipelines.minimal, (_req, res) => {
        seen.push(res.headersSent)
        res.setHeader('set-cookie', ['a=1', 'b=2'])
        res.writeHead(201, 'Made', { 'content-length': 2, 'x-n': 7 })
        seen.push(res.headersSent)
        res.end('ok')
      }),
    )
    const url = await listen(server)
    closers.push(() => closeServer(server))
    const r = await request(`${url}/h`)
    expect(r.statusCode).toBe(201)
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    expect(r.headers['x-n']).toBe('7')
    expect(r.headers['content-length']).toBe('2')
    expect(await r.body.text()).toBe('ok')
    expect(seen).toEqual([false, true])
  })

  it('node: without a pausing plugin the handler runs in the tick of the request event', async () => {
    const h = handle(pipelines.minimal, (req, res) => res.end(String(req.headers['x-my-header'])))
    const ticks: boolean[] = []
    const server = createServer((req, res) => {
      // Wrapped before the adapter takes over: it is what the adapter finally writes with.
      let called = false
      const original = res.end.bind(res)
      res.end = ((...args: Parameters<typeof res.end>) => {
        called = true
        return original(...args)
      }) as typeof res.end
      h(req, res)
      ticks.push(called)
    })
    const url = await listen(server)
    closers.push(() => closeServer(server))
    const r = await request(`${url}/t`)
    expect(await r.body.text()).toBe('hello')
    expect(ticks).toEqual([true])
  })

  it('express: two pipelines in one stack both run, also on a request with a body', async () => {
    const app = express()
    app.use(expressProxyWasm({ pipeline: pipelines.minimal }))
    app.use(expressProxyWasm({ pipeline: pipelines.minimal }))
    app.post('/', express.text(), (req, res) => {
      res.setHeader('x-app', '1')
      res.send(`${req.body as string} ${String(req.headers['x-my-header'])}`)
    })
    const server = createServer(app)
    const url = await listen(server)
    closers.push(() => closeServer(server))
    const r = await request(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' })
    expect(r.statusCode).toBe(200)
    expect(r.headers['x-app']).toBe('1')
    expect(await r.body.text()).toBe('hi hello, hello')
  })

  it('express: a plugin path rewrite changes the route, mounted middleware sees the full path', async () => {
    const { host: h } = testHost('warn')
    const pipeline = await pipelineOf(h, [{ wasm: fixture('go', 'headers') }])
    const app = express()
    app.use('/api', expressProxyWasm({ pipeline }))
    app.get('/api/new', (req, res) => res.json({ pseudo: req.get('x-pseudo'), url: req.originalUrl }))
    app.get('/api/old', (_req, res) => res.status(500).send('not rewritten'))
    const server = createServer(app)
    const url = await listen(server)
    closers.push(async () => {
      await closeServer(server)
      h.close()
    })
    const r = await request(`${url}/api/old`, { headers: { 'x-rewrite-path': '/api/new' } })
    expect(r.statusCode).toBe(200)
    const body = (await r.body.json()) as { pseudo: string }
    expect(body.pseudo).toMatch(/^GET \/api\/old /)
  })
})
