// Shared by the benchmarks: rounds, min / median, the child processes that compare default V8 with
// `--no-allocation-site-pretenuring`, and the tables. The library itself never sets a V8 flag; only
// these benchmark children do (docs/performance.md, "Method").
import { spawn } from 'node:child_process'
import os from 'node:os'
import { fileURLToPath } from 'node:url'

export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)

/** Path of a built fixture. */
export const fixture = (kind, name) => fileURLToPath(new URL(`../fixtures/build/${kind}/${name}.wasm`, import.meta.url))

/** A logger that drops everything below `warn` (plugins' info logs are filtered, as in production). */
export const quietLogger = { level: 'warn', log() {} }

/** Minimum and median of a list of numbers. */
export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return { min: s[0], median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, all: xs }
}

/**
 * How many iterations of `fn` take about `ms` milliseconds (from a short timed run): measurements
 * must be long, because the CPU time the kernel reports moves in ticks of a few milliseconds.
 */
export function iterationsFor(fn, ms = 250) {
  let n = 16
  for (;;) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) fn()
    const dt = Number(process.hrtime.bigint() - t0) / 1e6
    if (dt > 20) return Math.max(1, Math.round((n * ms) / dt))
    n *= 4
  }
}

/** CPU time (user + system, µs) per iteration of `fn` over `n` iterations. */
export function cpuPer(n, fn) {
  const c0 = process.cpuUsage()
  for (let i = 0; i < n; i++) fn()
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / n
}

/**
 * A full collection before a measurement, so that V8's pretenuring decisions (made there) apply to
 * it; then a pause, so that the collector's background threads (sweeping) are done before the CPU
 * time of the measurement is read (process.cpuUsage counts every thread).
 */
export async function fullGc() {
  globalThis.gc?.()
  await new Promise((resolve) => setTimeout(resolve, 100))
}

/** How loaded the machine is: load averages and core count. */
export function machine() {
  const [a, b, c] = os.loadavg()
  return `${os.cpus().length} cores, load average ${a.toFixed(2)} ${b.toFixed(2)} ${c.toFixed(2)}, Node ${process.version}`
}

/** The V8 modes every benchmark compares: default flags, and allocation-site pretenuring off. */
export const MODES = [
  { name: 'default', flags: [] },
  { name: 'no-pretenuring', flags: ['--no-allocation-site-pretenuring'] },
]

/**
 * Runs `script` in a child Node process with `flags` (plus `--expose-gc`, so that each round can
 * start from a full collection) and resolves with the JSON it prints on its last stdout line.
 */
export function runChild(script, args, flags, { stdio = 'inherit' } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', ...flags, script, ...args], { stdio: ['ignore', 'pipe', stdio] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`${script} ${args.join(' ')} exited with ${code}`))
      const last = out.trim().split('\n').pop()
      try {
        resolve(JSON.parse(last))
      } catch {
        reject(new Error(`${script}: no JSON result in ${JSON.stringify(out.slice(-400))}`))
      }
    })
  })
}

/** Formats a number with `d` decimals, right-aligned in `w` columns. */
export const num = (x, d = 2, w = 8) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(d)).padStart(w)

/** Prints a table: `cols` are [header, width, align] and `rows` arrays of strings. */
export function table(cols, rows) {
  const line = (cells) => cells.map((c, i) => (cols[i][2] === 'l' ? String(c).padEnd(cols[i][1]) : String(c).padStart(cols[i][1]))).join(' ')
  console.log(line(cols.map((c) => c[0])))
  for (const r of rows) console.log(line(r))
}

/**
 * The default-V8 / no-pretenuring comparison of one row: median of default over median of
 * no-pretenuring, and whether it is within 10 %. `lowerIsBetter` for costs, false for throughput.
 */
export function pretenuringCheck(def, off, lowerIsBetter = true) {
  const r = lowerIsBetter ? def / off : off / def
  return { ratio: r, ok: r <= 1.1 }
}
