// `serve --workers N --redis URL --admin-port P` as a user runs it: the built CLI in a child
// process, node:cluster workers behind one port, a real redis-server, the seed rate limiter.
import { spawn, type ChildProcess } from 'node:child_process'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { fixture } from '../helpers.js'
import { privateBuild } from '../helpers/build.js'
import { startRedis, type RedisServer } from '../helpers/redis-server.js'

let build: ReturnType<typeof privateBuild>
let redis: RedisServer
const running: ChildProcess[] = []

beforeAll(async () => {
  redis = await startRedis()
  build = privateBuild('proxy-wasm-host-workers-test', true)
}, 120_000)
afterEach(() => {
  for (const p of running.splice(0)) if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(p.pid, 'SIGKILL')
})
afterAll(async () => {
  await redis?.stop()
  build?.remove()
})

function serve(args: string[]) {
  const proc = spawn(process.execPath, [join(build.dist, 'cli/index.js'), 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  running.push(proc)
  const lines: string[] = []
  const onData = (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean))
  proc.stdout!.on('data', onData)
  proc.stderr!.on('data', onData)
  const exited = new Promise<number | null>((r) => proc.once('exit', r))
  const waitFor = async (re: RegExp, ms = 30_000) => {
    const end = Date.now() + ms
    for (;;) {
      const hit = lines.map((l) => re.exec(l)).find(Boolean)
      if (hit) return hit
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`no line matched ${re}; output:\n${lines.join('\n')}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return { proc, lines, exited, waitFor }
}

/** One request on its own connection (so node:cluster can hand it to any worker). */
function get(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Waits until at least `margin` ms remain in the current minute (the seed limits per minute). */
async function awayFromMinuteEnd(margin = 15_000) {
  const left = 60_000 - (Date.now() % 60_000)
  if (left < margin) await new Promise((r) => setTimeout(r, left + 500))
}

describe('serve --workers 2 --redis', () => {
  it('the seed rate limiter at qpm 10: 40 requests over both workers → exactly 10 pass; metrics summed on the admin port', async () => {
    const limit = JSON.stringify({ serviceName: 'redis', servicePort: 6379, domain: 'redis.example.com', timeout: 1000, qpm: 10 })
    const s = serve(['--workers', '2', '--redis', redis.url, '--admin-port', '0',
      '--plugin', fixture('go', 'metrics'), '--plugin', `${fixture('go', 'redis-ratelimit')}=${limit}`])
    const url = (await s.waitFor(/^listening on (http:\/\/127\.0\.0\.1:\d+)$/))[1]!
    const admin = (await s.waitFor(/^admin on (http:\/\/127\.0\.0\.1:\d+)/))[1]!
    expect(s.lines.some((l) => /^2 workers, shared state in redis:\/\/127\.0\.0\.1:\d+$/.test(l))).toBe(true)
    await awayFromMinuteEnd()
    const results = await Promise.all(Array.from({ length: 40 }, () => get(`${url}/anything`)))
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((x) => x === 200)).toHaveLength(10)
    expect(statuses.filter((x) => x === 429)).toHaveLength(30)
    expect(results.filter((r) => r.status === 200).every((r) => r.headers.calltimeleft !== undefined && r.headers.timestamp !== undefined)).toBe(true)
    // Both workers served requests.
    const workers = new Set(results.map((r) => r.headers['x-proxy-wasm-worker']))
    expect([...workers].sort()).toEqual(['1', '2'])
    // The metrics plugin runs first, so it counted all 40, summed over the workers.
    const metrics = await get(`${admin}/metrics`)
    expect(metrics.status).toBe(200)
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/)
    expect(metrics.body).toMatch(/^demo_requests_total 40$/m)
    expect((await get(`${admin}/stats/prometheus`)).body).toMatch(/^demo_requests_total 40$/m)
    s.proc.kill('SIGTERM')
    expect(await s.exited).toBe(0)
  }, 120_000)
})

describe('serve --admin-port (one process)', () => {
  it('serves the plugin metrics with Envoy\'s names; --redis keeps shared data in Redis', async () => {
    const s = serve(['--admin-port', '0', '--redis', redis.url, '--plugin', fixture('go', 'metrics'), '--plugin', fixture('go', 'shared-data')])
    const url = (await s.waitFor(/^listening on (http:\/\/127\.0\.0\.1:\d+)$/))[1]!
    const admin = (await s.waitFor(/^admin on (http:\/\/127\.0\.0\.1:\d+)/))[1]!
    for (let i = 0; i < 3; i++) await get(`${url}/anything`)
    const m = (await get(`${admin}/metrics`)).body
    expect(m).toContain('# TYPE demo_requests_total counter\ndemo_requests_total 3\n')
    expect(m).toContain('demo_inflight 3\n')
    expect((await get(`${admin}/nope`)).status).toBe(404)
    expect((await get(`${admin}/ready`)).body).toBe('LIVE\n')
    s.proc.kill('SIGTERM')
    expect(await s.exited).toBe(0)
  }, 60_000)

  it('bad scale flags are refused with a clear message', async () => {
    for (const [args, msg] of [
      [['--workers', '0'], '--workers must be an integer from 1 to 256, got "0"'],
      [['--admin-port', 'x'], '--admin-port must be an integer from 0 to 65535, got "x"'],
      [['--redis', 'http://u:secret@h'], '--redis must be a redis:// or rediss:// URL, got "http://u:***@h"'],
    ] as const) {
      const s = serve([...args])
      expect(await s.exited).toBe(1)
      expect(s.lines.join('\n')).toContain(`error PWH_ERR_CONFIG_INVALID: ${msg}`)
    }
  })
})
