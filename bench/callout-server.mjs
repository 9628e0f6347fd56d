// The upstream of the callout benchmarks: answers every request 200 with an `x-token` header and a
// two-byte body, in a child process of its own so that its CPU is not counted as the client's.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const self = fileURLToPath(import.meta.url)

if (process.argv[1] === self && process.argv[2] === 'server') {
  const { createServer } = await import('node:http')
  const s = createServer((_req, res) => res.writeHead(200, { 'x-token': 'tok', 'content-type': 'text/plain', 'content-length': 2 }).end('ok'))
  s.keepAliveTimeout = 60_000
  s.listen(0, '127.0.0.1', () => process.send(s.address().port))
  process.on('disconnect', () => process.exit(0))
}

/** Forks the server; its origin, and the child (`child.disconnect()` stops it). */
export async function startTokenServer() {
  const child = fork(self, ['server'], { stdio: 'inherit' })
  const port = await new Promise((r) => child.once('message', r))
  return { origin: `http://127.0.0.1:${port}`, child }
}
