import { describe, expect, it } from 'vitest'
import { GuestMemory } from '../../src/abi/memory.js'
import { createSandboxWasi, ProcExit } from '../../src/host/hostcalls/wasi.js'
import { systemClock } from '../../src/host/clock.js'

function sandbox(env: string[] = []) {
  const memory = new WebAssembly.Memory({ initial: 1 })
  const mem = new GuestMemory(memory)
  const writes: Array<[number, string]> = []
  const fns = createSandboxWasi({ memory: () => mem, write: (fd, t) => writes.push([fd, t]), env, args: [], clock: systemClock }) as unknown as Record<string, (...a: unknown[]) => number>
  return { fns, mem, writes, dv: new DataView(memory.buffer) }
}

describe('sandboxed WASI (ABI §9.2)', () => {
  it('environ_* expose only the configured variables, packed KEY=VALUE\\0', () => {
    process.env.PWH_LEAK_CHECK = 'x'
    const { fns, dv, mem } = sandbox(['A=1', 'BB=22'])
    expect(fns.environ_sizes_get!(0, 4)).toBe(0)
    expect([dv.getUint32(0, true), dv.getUint32(4, true)]).toEqual([2, 10])
    expect(fns.environ_get!(100, 200)).toBe(0)
    expect(mem.latin1(200, 10)).toBe('A=1\0BB=22\0')
    expect([dv.getUint32(100, true), dv.getUint32(104, true)]).toEqual([200, 204])
    expect(mem.latin1(200, 10)).not.toContain('PWH_LEAK_CHECK')
    delete process.env.PWH_LEAK_CHECK
  })

  it('fd_prestat_get answers BADF for every fd (ends the preopen scan), files are absent', () => {
    const { fns } = sandbox()
    for (const fd of [3, 4, 5]) expect(fns.fd_prestat_get!(fd, 0)).toBe(8)
    expect(fns.path_open!(3, 0, 0, 0, 0, 0n, 0n, 0, 0)).toBe(44)
    expect(fns.fd_read!(0, 0, 0, 0)).toBe(52)
  })

  it('fd_write to 1/2 reaches the logger; other fds are BADF; bad iovecs are FAULT', () => {
    const { fns, mem, dv, writes } = sandbox()
    mem.set(64, Buffer.from('hi\n'))
    dv.setUint32(0, 64, true)
    dv.setUint32(4, 3, true)
    expect(fns.fd_write!(1, 0, 1, 32)).toBe(0)
    expect(dv.getUint32(32, true)).toBe(3)
    expect(fns.fd_write!(2, 0, 1, 32)).toBe(0)
    expect(writes).toEqual([[1, 'hi\n'], [2, 'hi\n']])
    expect(fns.fd_write!(5, 0, 1, 32)).toBe(8)
    dv.setUint32(0, 0xfffffff0, true)
    expect(fns.fd_write!(1, 0, 1, 32)).toBe(21)
  })

  it('clocks, random, poll_oneoff, proc_exit', () => {
    const { fns, dv } = sandbox()
    expect(fns.clock_time_get!(0, 0n, 8)).toBe(0)
    const wall = dv.getBigUint64(8, true)
    expect(Number(wall / 1_000_000n)).toBeGreaterThan(Date.now() - 60_000)
    expect(fns.clock_time_get!(2, 0n, 8)).toBe(58)
    expect(fns.clock_time_get!(1, 0n, 0xfffffffc)).toBe(21)
    expect(fns.random_get!(100, 16)).toBe(0)
    expect(fns.random_get!(100, 65537)).toBe(28)
    expect(fns.poll_oneoff!(0, 0, 1, 40)).toBe(0)
    expect(dv.getUint32(40, true)).toBe(0)
    expect(() => fns.proc_exit!(3)).toThrow(ProcExit)
  })
})
