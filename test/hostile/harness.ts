// Hostile-plugin harness: a plain node:http "bystander" server in the same process, which must keep
// answering while a hostile plugin's request is in flight, and a server running the plugins.
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, expect } from 'vitest'

export interface Answer {
  status: number
  headers: Headers
  body: string
}

export interface Listening {
  url: string
  server: Server
  /** Called (once each, in order) when a request arrives, before the handler runs. */
  onRequest: Array<() => void>
  close(): Promise<void>
}

/** Starts `handler` on 127.0.0.1, port 0. */
export async function listen(handler: RequestListener): Promise<Listening> {
  const server = createServer(handler)
  const onRequest: Array<() => void> = []
  server.prependListener('request', () => onRequest.shift()?.())
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    server,
    onRequest,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections()
      server.close(() => r())
    }),
  }
}

/** A plain node:http server answering `200 bystander ok`; it has nothing to do with the plugins. */
export function bystander(): Promise<Listening> {
  return listen((_req, res) => res.end('bystander ok'))
}

/**
 * A {@link bystander} for the whole test file: started before its tests, closed after them. Call it
 * at the top level of the file.
 */
export function useBystander(): Listening {
  const holder = {} as Listening
  beforeAll(async () => {
    Object.assign(holder, await bystander())
  })
  afterAll(() => holder.close())
  return holder
}

/** An app behind the plugins: answers 200 with the request headers it got as JSON. */
export function echoApp(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ headers: req.headers, bodyBytes: Buffer.concat(chunks).byteLength }))
  })
}

/** `fetch` answered as {@link Answer}; a reset connection becomes status 0 with the error text. */
export async function get(url: string, init?: RequestInit): Promise<Answer> {
  try {
    const r = await fetch(url, { ...init, signal: init?.signal ?? AbortSignal.timeout(20_000) })
    return { status: r.status, headers: r.headers, body: await r.text() }
  } catch (err) {
    return { status: 0, headers: new Headers(), body: String((err as Error).cause ?? err) }
  }
}

/**
 * Sends the hostile request to `target`; the moment it arrives there (before any plugin runs) a
 * request goes to `by`. Both answers are returned; the bystander's must be `200 bystander ok`.
 */
export async function hostileRound(target: Listening, by: Listening, path: string, init?: RequestInit): Promise<{ hostile: Answer; bystander: Answer }> {
  let side: Promise<Answer> | undefined
  target.onRequest.push(() => {
    side = get(by.url)
  })
  const hostile = await get(target.url + path, init)
  const other = await (side ?? get(by.url))
  expect(other.status).toBe(200)
  expect(other.body).toBe('bystander ok')
  return { hostile, bystander: other }
}

/** Asserts that `docs/errors.md` documents `code` (a table row of its own). */
export function expectDocumented(code: string): void {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  expect(doc).toContain(`| \`${code}\``)
}

/** Asserts that `docs/errors.md` says `text` (for answers that are a WasmResult, not an error code). */
export function expectDocumentedText(text: string): void {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  expect(doc).toContain(text)
}
