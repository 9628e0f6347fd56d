// The CLI as a new user runs it: `npm run build`, then `node dist/cli/index.js …` in a child
// process; real servers on 127.0.0.1, undici clients.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from '@bytecodealliance/jco'
import { request } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { fixture } from '../helpers.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
// A private build (the same tsup config and demo script as `npm run build`): other work in the
// repository may rebuild or clean dist/ while these tests run.
const out = join(root, 'node_modules/.cache/proxy-wasm-host-cli-test', String(process.pid))
const cli = join(out, 'dist/cli/index.js')

interface Run {
  proc: ChildProcess
  /** stdout and stderr lines so far. */
  lines: string[]
  /** Resolves with the first line (old or new) matching `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  exited: Promise<number | null>
}

const running: ChildProcess[] = []
let dir: string

function start(args: string[]): Run {
  const proc = spawn(process.execPath, [cli, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  running.push(proc)
  const lines: string[] = []
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = []
  const onData = (buf: Buffer) => {
    for (const line of buf.toString().split('\n')) {
      if (!line) continue
      lines.push(line)
      for (const w of waiters.slice()) {
        const m = w.re.exec(line)
        if (m) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(m)
        }
      }
    }
  }
  proc.stdout!.on('data', onData)
  proc.stderr!.on('data', onData)
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  return {
    proc,
    lines,
    exited,
    waitFor(re, timeoutMs = 20_000) {
      for (const line of lines) {
        const m = re.exec(line)
        if (m) return Promise.resolve(m)
      }
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no line matched ${re} within ${timeoutMs} ms; output:\n${lines.join('\n')}`)), timeoutMs)
        waiters.push({ re, resolve: (m) => (clearTimeout(t), resolve(m)) })
        void exited.then((code) => {
          clearTimeout(t)
          reject(new Error(`the CLI exited (${code}) before a line matched ${re}; output:\n${lines.join('\n')}`))
        })
      })
    },
  }
}

/** Starts `serve` and returns the URL it printed. */
async function serve(args: string[]): Promise<{ url: string; run: Run }> {
  const run = start(['serve', '--port', '0', ...args])
  const m = await run.waitFor(/^listening on (http:\/\/127\.0\.0\.1:\d+)$/)
  return { url: m[1]!, run }
}

/** Runs the CLI to completion. */
async function runToEnd(args: string[]): Promise<{ code: number | null; out: string }> {
  const run = start(args)
  const code = await run.exited
  return { code, out: run.lines.join('\n') }
}

beforeAll(() => {
  // What `npm run build` does (tsup, then the demo plugin), into the private directory. The
  // package.json there keeps dist/ an ES module scope, as the package's own "type": "module" does.
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n')
  execFileSync(process.execPath, [join(root, 'node_modules/tsup/dist/cli-default.js'), '--out-dir', join(out, 'dist')], { cwd: root, stdio: 'pipe' })
  execFileSync(process.execPath, [join(root, 'scripts/build-demo.mjs'), join(out, 'dist')], { cwd: root, stdio: 'pipe' })
  dir = mkdtempSync(join(tmpdir(), 'pwh-cli-'))
}, 120_000)

function killAll(): void {
  for (const p of running.splice(0)) if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(p.pid, 'SIGKILL')
}

afterEach(killAll)

afterAll(() => {
  killAll()
  rmSync(dir, { recursive: true, force: true })
  rmSync(out, { recursive: true, force: true })
})

describe('proxy-wasm-host serve', () => {
  it('runs the demo plugin in front of the built-in echo upstream', async () => {
    const { url, run } = await serve([])
    const r = await request(`${url}/anything?x=1`)
    const body = (await r.body.json()) as { headers: Record<string, string>; path: string; args: Record<string, string> }
    expect(r.statusCode).toBe(200)
    expect(body.headers['x-proxy-wasm-demo']).toBe('hello from wasm')
    expect(body.path).toBe('/anything')
    expect(body.args).toEqual({ x: '1' })
    expect(r.headers['x-proxy-wasm-demo']).toBe('hello from wasm')
    // The plugin's log line reaches the terminal.
    await run.waitFor(/\[info\] \[demo\] hello from wasm: GET \/anything\?x=1/)
  })

  it('loads --plugin file.wasm=config.json, YAML and inline JSON configs', async () => {
    writeFileSync(join(dir, 'minimal.json'), '{"enabled": true}')
    writeFileSync(join(dir, 'mock.yaml'), 'mockEnable: true\n')
    const a = await serve(['--plugin', `${fixture('go', 'minimal')}=minimal.json`])
    const seen = (await (await request(`${a.url}/anything`)).body.json()) as { headers: Record<string, string> }
    expect(seen.headers['x-my-header']).toBe('hello')

    const b = await serve(['--plugin', `${fixture('go', 'hello-mock')}=mock.yaml`])
    const mocked = await request(`${b.url}/anything`)
    expect(await mocked.body.text()).toBe('hello world')

    const c = await serve(['--plugin', `${fixture('go', 'minimal')}={"enabled":true}`, '--plugin', fixture('wat', 'abi-0-2-1')])
    const both = (await (await request(`${c.url}/anything`)).body.json()) as { headers: Record<string, string> }
    expect(both.headers['x-my-header']).toBe('hello')
    expect(both.headers['x-abi']).toBe('0.2.1')
  })

  it('proxies to --upstream', async () => {
    const upstream: Server = createServer((req, res) => res.end(`upstream saw ${req.headers['x-proxy-wasm-demo']} ${req.url}`))
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    try {
      const { url } = await serve(['--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`])
      const r = await request(`${url}/p?q=1`)
      expect(await r.body.text()).toBe('upstream saw hello from wasm /p?q=1')
    } finally {
      upstream.closeAllConnections()
      upstream.close()
    }
  })

  it('loads --config gateway.yaml', async () => {
    writeFileSync(
      join(dir, 'gateway.yaml'),
      ['plugins:', '  - name: minimal', `    wasm: ${fixture('go', 'minimal')}`, '    config:', '      enabled: true', '  - name: mock', `    wasm: ${fixture('go', 'hello-mock')}`, '    config: { mockEnable: false }', ''].join('\n'),
    )
    const { url } = await serve(['--config', 'gateway.yaml'])
    const seen = (await (await request(`${url}/anything`)).body.json()) as { headers: Record<string, string> }
    expect(seen.headers['x-my-header']).toBe('hello')
    expect(seen.headers.hello).toBe('world')
  })

  it('--watch swaps a rebuilt plugin under load without failing a request', async () => {
    const plugin = join(dir, 'watched.wasm')
    copyFileSync(fixture('wat', 'abi-0-2-1'), plugin)
    writeFileSync(join(dir, 'watched.json'), '{"enabled": true}')
    const { url, run } = await serve(['--watch', '--plugin', `${plugin}=watched.json`])
    let failures = 0
    let ok = 0
    let newBehaviour = 0
    let stop = false
    const loop = async () => {
      while (!stop) {
        try {
          const r = await request(`${url}/anything`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(1000) })
          const body = (await r.body.json()) as { headers: Record<string, string>; body: string }
          if (r.statusCode !== 200 || body.body.length !== 1000) failures++
          else ok++
          if (body.headers['x-my-header'] === 'hello') newBehaviour++
          else if (body.headers['x-abi'] !== '0.2.1') failures++
        } catch {
          failures++
        }
      }
    }
    const loops = Array.from({ length: 4 }, loop)
    await vi.waitFor(() => expect(ok).toBeGreaterThan(20), { timeout: 10_000 })
    // Replace the file as a build tool would: write next to it, then rename over it.
    copyFileSync(fixture('go', 'minimal'), `${plugin}.tmp`)
    renameSync(`${plugin}.tmp`, plugin)
    await run.waitFor(/^reloaded/)
    await vi.waitFor(() => expect(newBehaviour).toBeGreaterThan(20), { timeout: 10_000 })
    stop = true
    await Promise.all(loops)
    expect(failures).toBe(0)
    expect(ok).toBeGreaterThan(40)
  })

  it('stops cleanly on SIGTERM', async () => {
    const { run } = await serve([])
    run.proc.kill('SIGTERM')
    expect(await run.exited).toBe(0)
    expect(run.lines).toContain('shutting down')
  })

  it('fails with a coded error', async () => {
    const badPort = await runToEnd(['serve', '--port', 'abc'])
    expect(badPort.code).toBe(1)
    expect(badPort.out).toMatch(/^error PWH_ERR_CONFIG_INVALID: --port must be an integer/m)
    writeFileSync(join(dir, 'not.wasm'), 'not a module')
    const notWasm = await runToEnd(['serve', '--port', '0', '--plugin', 'not.wasm'])
    expect(notWasm.code).toBe(1)
    expect(notWasm.out).toMatch(/^error PWH_ERR_PLUGIN_INVALID_WASM: .*not\.wasm/m)
  })
})

describe('proxy-wasm-host inspect', () => {
  it('describes a Go plugin', async () => {
    const { code, out } = await runToEnd(['inspect', fixture('go', 'minimal')])
    expect(code).toBe(0)
    const digest = createHash('sha256').update(readFileSync(fixture('go', 'minimal'))).digest('hex')
    expect(out).toMatch(new RegExp(`^sha256\\s+${digest}$`, 'm'))
    expect(out).toMatch(/^abi\s+0\.2\.100 \(export proxy_abi_version_0_2_100\)$/m)
    expect(out).toMatch(/^toolchain\s+Go \(GOOS=wasip1, -buildmode=c-shared\) \(guess\)$/m)
    expect(out).toMatch(/^start-up\s+_initialize/m)
    expect(out).toMatch(/^\s+env\.proxy_add_header_map_value\s+implemented$/m)
    expect(out).toMatch(/^\s+wasi_snapshot_preview1\.fd_write\s+wasi$/m)
    expect(out).toMatch(/^unimplemented hostcalls: none$/m)
    expect(out).toMatch(/^unknown imports: none$/m)
  })

  it('names unimplemented and unknown hostcalls', async () => {
    const wat = `(module
      (import "env" "proxy_grpc_cancel" (func (param i32) (result i32)))
      (import "env" "proxy_made_up" (func (param i32) (result i32)))
      (import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "proxy_abi_version_0_2_1"))
      (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024)))`
    writeFileSync(join(dir, 'callout.wasm'), await parse(wat))
    const { code, out } = await runToEnd(['inspect', 'callout.wasm'])
    expect(code).toBe(0)
    expect(out).toMatch(/^abi\s+0\.2\.1 /m)
    expect(out).toMatch(/^\s+env\.proxy_grpc_cancel\s+UNIMPLEMENTED/m)
    expect(out).toMatch(/^unimplemented hostcalls: proxy_grpc_cancel$/m)
    expect(out).toMatch(/^unknown imports: env\.proxy_made_up$/m)
  })

  it('fails with a coded error for a missing file', async () => {
    const { code, out } = await runToEnd(['inspect', 'missing.wasm'])
    expect(code).toBe(1)
    expect(out).toMatch(/^error PWH_ERR_PLUGIN_READ: .*missing\.wasm/m)
  })
})

describe('proxy-wasm-host usage', () => {
  it('prints the version and per-command help', async () => {
    const version = await runToEnd(['--version'])
    expect(version.code).toBe(0)
    expect(version.out).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version)
    const serveHelp = await runToEnd(['serve', '--help'])
    expect(serveHelp.code).toBe(0)
    expect(serveHelp.out).toMatch(/^Usage: proxy-wasm-host serve \[options\]$/m)
    expect(serveHelp.out).toMatch(/^\s+--plugin <file\.wasm\[=config\]>/m)
    const inspectHelp = await runToEnd(['inspect', '-h'])
    expect(inspectHelp.out).toMatch(/^Usage: proxy-wasm-host inspect \[options\] <file\.wasm>$/m)
    expect((await runToEnd(['help', 'serve'])).out).toBe(serveHelp.out)
  })

  it('suggests the flag, value or command meant', async () => {
    const flag = await runToEnd(['serve', '--prot', '0'])
    expect(flag.code).toBe(1)
    expect(flag.out).toMatch(/^error PWH_ERR_CONFIG_INVALID: serve: unknown option --prot; did you mean --port\?/m)
    const value = await runToEnd(['serve', '--log-level', 'warning'])
    expect(value.out).toMatch(/--log-level must be one of trace, debug, info, warn, error, critical, got "warning"; did you mean warn\?/)
    const command = await runToEnd(['inspct', 'x.wasm'])
    expect(command.out).toMatch(/unknown command "inspct"; did you mean inspect\?/)
  })
})
