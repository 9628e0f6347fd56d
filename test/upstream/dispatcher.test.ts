// The default callout transport on its own (createHttpDispatcher over Upstreams), against real
// HTTP servers on 127.0.0.1: what it hands the hostcall for the response's header lines, trailers,
// a body over the cap and an abort, by either abort path (the host's whenAborted, or the signal).
import { afterEach, describe, expect, it } from 'vitest'
import type { HttpCallout, HttpCalloutResult } from '../../src/host/services.js'
import { createHttpDispatcher, type ClosableHttpDispatcher } from '../../src/upstream/dispatcher.js'
import { Upstreams } from '../../src/upstream/upstreams.js'
import { closeAll, httpServer } from '../servers.js'

const dispatchers: ClosableHttpDispatcher[] = []
afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.close()))
  await closeAll()
})

function transport(url: string): ClosableHttpDispatcher {
  const d = createHttpDispatcher(new Upstreams({ upstreams: { 'outbound|80||svc.static': url } }))
  dispatchers.push(d)
  return d
}

/** A callout as a third-party host would pass it: a plain object with an AbortSignal. */
function call(fields: Partial<HttpCallout> & { signal?: AbortSignal } = {}): HttpCallout {
  return {
    upstream: 'outbound|80||svc.static',
    headers: [[':method', 'GET'], [':path', '/x'], [':authority', 'svc']],
    body: Buffer.alloc(0),
    trailers: [],
    timeoutMs: 0,
    maxResponseBytes: 1 << 20,
    plugin: 'test',
    token: 4,
    signal: new AbortController().signal,
    ...fields,
  }
}

describe('createHttpDispatcher', () => {
  it('response header lines: lower-case names, wire order, repeated names kept apart, hop-by-hop dropped', async () => {
    const s = await httpServer((_req, res) => {
      res.setHeader('Set-Cookie', ['a=1', 'b=2'])
      res.setHeader('X-Upper', 'Value')
      res.setHeader('Keep-Alive', 'timeout=5')
      res.writeHead(201).end('hi')
    })
    const r = await transport(s.url).dispatch(call())!
    expect(r.kind).toBe('response')
    const { headers, body } = r as Extract<HttpCalloutResult, { kind: 'response' }>
    expect(headers[0]).toEqual([':status', '201'])
    expect(headers.filter(([k]) => k === 'set-cookie')).toEqual([['set-cookie', 'a=1'], ['set-cookie', 'b=2']])
    expect(headers).toContainEqual(['x-upper', 'Value'])
    expect(headers.some(([k]) => k === 'keep-alive' || k === 'connection')).toBe(false)
    expect(headers.every(([k]) => k === k.toLowerCase())).toBe(true)
    expect(body.toString()).toBe('hi')
    expect(s.seen[0]!.headers.host).toBe('svc')
  })

  it('chunked response with trailers: the trailers come back as lower-case pairs', async () => {
    const s = await httpServer((_req, res) => {
      res.writeHead(200, { 'Transfer-Encoding': 'chunked', Trailer: 'X-Sum' })
      res.write('ab')
      res.addTrailers({ 'X-Sum': '42' })
      res.end('cd')
    })
    const r = (await transport(s.url).dispatch(call())!) as Extract<HttpCalloutResult, { kind: 'response' }>
    expect(r.kind).toBe('response')
    expect(r.body.toString()).toBe('abcd')
    expect(r.trailers).toEqual([['x-sum', '42']])
    expect(r.headers.some(([k]) => k === 'transfer-encoding')).toBe(false)
  })

  it('a declared body over maxResponseBytes, and one streamed over it, end as resets', async () => {
    const s = await httpServer((req, res) => {
      if (req.url === '/declared') res.writeHead(200, { 'content-length': 100 }).end('x'.repeat(100))
      else {
        res.writeHead(200)
        res.end('y'.repeat(100))
      }
    })
    const d = transport(s.url)
    const declared = await d.dispatch(call({ headers: [[':method', 'GET'], [':path', '/declared'], [':authority', 'svc']], maxResponseBytes: 10 }))!
    expect(declared).toEqual({ kind: 'reset', reason: 'response body of 100 bytes is over 10' })
    const streamed = await d.dispatch(call({ headers: [[':method', 'GET'], [':path', '/streamed'], [':authority', 'svc']], maxResponseBytes: 10 }))!
    expect(streamed.kind).toBe('reset')
  })

  it('an abort through the signal, or through the host call object, ends the call as a reset at once', async () => {
    const s = await httpServer(() => undefined) // never answers
    const d = transport(s.url)
    const ac = new AbortController()
    const viaSignal = d.dispatch(call({ signal: ac.signal }))!
    let abortHost: (() => void) | undefined
    const hostCall = Object.assign(call(), { whenAborted: (fn: () => void) => (abortHost = fn) })
    const viaHost = d.dispatch(hostCall)!
    await new Promise((r) => setTimeout(r, 50))
    ac.abort()
    abortHost!()
    expect(await viaSignal).toEqual({ kind: 'reset', reason: 'aborted' })
    expect(await viaHost).toEqual({ kind: 'reset', reason: 'aborted' })
  })

  it('an unknown name is undefined at once (the hostcall answers BadArgument)', () => {
    expect(transport('http://127.0.0.1:1').dispatch(call({ upstream: 'outbound|80||nobody.static' }))).toBeUndefined()
  })
})
