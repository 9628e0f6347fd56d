import { describe, expect, it } from 'vitest'
import { envHostcalls } from '../../src/host/hostcalls/index.js'
import type { WasmVm } from '../../src/host/vm.js'
import type { PluginFailureError } from '../../src/errors.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
// @ts-expect-error: a plain ES module shared with bench/fuzz.mjs (no type declarations)
import { fuzzWasi, runFuzz } from '../../bench/fuzz-module.mjs'
import { hostsClosedAfterEach } from '../helpers.js'

const newHost = hostsClosedAfterEach()

describe('fuzz: every env hostcall with random arguments', () => {
  it('100 000 calls: no exception reaches the guest or the caller, no VM fails, memory stays bounded', async () => {
    const seed = Number(process.env.PWH_FUZZ_SEED ?? 20240611)
    const failures: PluginFailureError[] = []
    const { host } = newHost('critical', { wasi: fuzzWasi(seed), onPluginFailure: (e) => failures.push(e) })
    const table = envHostcalls({} as WasmVm)
    const before = process.memoryUsage().rss
    const r = (await runFuzz({ host, PluginPipeline, table, calls: 100_000 })) as { calls: number; requests: number; rss: number[]; escaped: unknown[] }
    expect(Object.keys(table).length).toBeGreaterThan(30)
    expect(r.calls).toBeGreaterThanOrEqual(100_000)
    expect(r.escaped, `seed ${seed}`).toEqual([])
    expect(failures.map((f) => f.message), `seed ${seed}`).toEqual([])
    // Bounded: the guest memory is 2–4 pages, the host keeps nothing per call.
    expect(Math.max(...r.rss) - before).toBeLessThan(256 * 1024 * 1024)
    expect(host.plugins[0]!.healthy).toBe(true)
  })
})
