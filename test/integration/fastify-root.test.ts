// Fastify registration as Fastify users expect it (@fastify/cors, @fastify/helmet): on the root,
// the plugins guard every route; prefix, routes and contexts of one's own scope them; a
// registration that guards nothing says so.
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { proxyWasmFastify } from '../../src/adapters/fastify/index.js'
import { fixture, hostsClosedAfterEach, pipelineOf } from '../helpers.js'

const newHost = hostsClosedAfterEach()
let apps: FastifyInstance[] = []
afterEach(async () => {
  for (const a of apps) await a.close()
  apps = []
})

async function setup() {
  const { host, logs } = newHost('info')
  // minimal adds x-my-header: hello to the request; hello-mock (mockEnable) answers locally.
  const stamp = await pipelineOf(host, [{ wasm: fixture('go', 'minimal'), config: { enabled: true } }])
  const auth = await pipelineOf(host, [{ wasm: fixture('go', 'hello-mock'), config: { mockEnable: true } }])
  const app = Fastify()
  apps.push(app)
  const seen = (path: string) => app.get(path, async (req) => ({ header: req.headers['x-my-header'] ?? null }))
  const header = async (url: string) => (await app.inject(url)).json<{ header: string | null }>().header
  return { app, stamp, auth, seen, header, logs }
}

describe('proxyWasmFastify registration', () => {
  it('on the root: every route, declared before or after, in child contexts too', async () => {
    const { app, stamp, seen, header, logs } = await setup()
    seen('/before')
    await app.register(proxyWasmFastify, { pipeline: stamp })
    seen('/after')
    await app.register(async (child) => {
      child.get('/child', async (req) => ({ header: req.headers['x-my-header'] ?? null }))
    }, { prefix: '/c' })
    await app.ready()
    expect(await header('/before')).toBe('hello')
    expect(await header('/after')).toBe('hello')
    expect(await header('/c/child')).toBe('hello')
    expect(logs.filter((l) => /guard no route/.test(l.message))).toEqual([])
  })

  it('on the root, an auth plugin answering locally keeps every handler from running', async () => {
    const { app, auth } = await setup()
    let ran = 0
    app.register(proxyWasmFastify, { pipeline: auth })
    app.get('/secret', async () => {
      ran++
      return 'secret'
    })
    const r = await app.inject('/secret')
    expect(r.body).toBe('hello world')
    expect(ran).toBe(0)
  })

  it('prefix without routes: only routes under the prefix', async () => {
    const { app, stamp, seen, header } = await setup()
    await app.register(proxyWasmFastify, { pipeline: stamp, prefix: '/api/' })
    seen('/api')
    seen('/api/users')
    seen('/apix')
    seen('/')
    expect(await header('/api')).toBe('hello')
    expect(await header('/api/users')).toBe('hello')
    expect(await header('/apix')).toBeNull()
    expect(await header('/')).toBeNull()
  })

  it('routes (with prefix): only those routes; a context of one\'s own: only its routes', async () => {
    const { app, stamp, seen, header } = await setup()
    await app.register(proxyWasmFastify, {
      pipeline: stamp,
      prefix: '/v1',
      routes: async (api) => {
        api.get('/inside', async (req) => ({ header: req.headers['x-my-header'] ?? null }))
      },
    })
    await app.register(async (scope) => {
      await scope.register(proxyWasmFastify, { pipeline: stamp })
      scope.get('/scoped', async (req) => ({ header: req.headers['x-my-header'] ?? null }))
    })
    seen('/outside')
    expect(await header('/v1/inside')).toBe('hello')
    expect(await header('/scoped')).toBe('hello')
    expect(await header('/outside')).toBeNull()
  })

  it('warns when the plugins end up guarding no route', async () => {
    const { app, stamp, seen, logs } = await setup()
    // Registered in a context that declares no route; the app's routes are elsewhere.
    await app.register(async (empty) => {
      await empty.register(proxyWasmFastify, { pipeline: stamp })
    })
    seen('/elsewhere')
    await app.register(proxyWasmFastify, { pipeline: stamp, prefix: '/nothing-here' })
    await app.ready()
    const warnings = logs.filter((l) => l.level === 'warn' && /guard no route/.test(l.message)).map((l) => l.message)
    expect(warnings).toHaveLength(2)
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/in the context it was registered in/), expect.stringMatching(/under \/nothing-here/)]))
  })

  it('carries fastify-plugin\'s metadata', () => {
    const meta = proxyWasmFastify as unknown as Record<symbol, unknown>
    expect(meta[Symbol.for('skip-override')]).toBe(true)
    expect(meta[Symbol.for('fastify.display-name')]).toBe('proxy-wasm-host')
    expect(meta[Symbol.for('plugin-meta')]).toMatchObject({ name: 'proxy-wasm-host' })
  })
})
