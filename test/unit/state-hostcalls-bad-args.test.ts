// Bad arguments to the shared-data, shared-queue, metric and Redis hostcalls: the codes Envoy
// returns (and the SDKs expect, ABI Appendix A), InvalidMemoryAccess for hostile pointers, never a
// throw into the guest. The hostcalls run against the guest memory of a real loaded module.
import { describe, expect, it } from 'vitest'
import { WasmResult } from '../../src/abi/enums.js'
import { envHostcalls } from '../../src/host/hostcalls/index.js'
import type { Plugin } from '../../src/host/plugin.js'
import { fixture, hostsClosedAfterEach } from '../helpers.js'

const newHost = hostsClosedAfterEach()
type Call = (...a: Array<number | bigint>) => number

async function setup(opts: Parameters<typeof newHost>[1] = {}) {
  const { host, logs } = newHost('info', opts)
  const plugin: Plugin = await host.load({ wasm: fixture('wat', 'abi-0-2-1'), vmId: 'vm' })
  const vm = plugin.vm!
  const calls = envHostcalls(vm) as unknown as Record<string, Call>
  // The root context is what hostcalls act on outside a callback.
  const root = [...vm.contexts.values()].find((c) => c.isRoot)!
  vm.effective = root
  let at = 4096
  const put = (s: string | Buffer) => {
    const b = typeof s === 'string' ? Buffer.from(s) : s
    const p = at
    vm.memory.set(p, b)
    at += b.length + 8
    return [p, b.length] as const
  }
  const slot = () => {
    const p = at
    at += 8
    return p
  }
  return { host, logs, vm, calls, put, slot, u32: (p: number) => vm.memory.getU32(p)! }
}

const OOB = 0xfffffff0

describe('metrics hostcalls: Envoy rules', () => {
  it('define: type > 2 → BadArgument; ids per type', async () => {
    const { calls, put, slot, u32 } = await setup()
    const [np, nl] = put('m')
    const id = slot()
    expect(calls.proxy_define_metric!(3, np, nl, id)).toBe(WasmResult.BadArgument)
    expect(calls.proxy_define_metric!(0, np, nl, id)).toBe(WasmResult.Ok)
    expect(u32(id)).toBe(4)
    expect(calls.proxy_define_metric!(2, np, nl, id)).toBe(WasmResult.Ok)
    expect(u32(id)).toBe(6)
    expect(calls.proxy_define_metric!(0, np, nl, OOB)).toBe(WasmResult.InvalidMemoryAccess)
    expect(calls.proxy_define_metric!(0, OOB, 64, id)).toBe(WasmResult.InvalidMemoryAccess)
  })

  it('increment: counter by 0 or less → BadArgument; histogram → BadArgument; unknown id → NotFound', async () => {
    const { calls, put, slot, u32 } = await setup()
    const [np, nl] = put('c')
    const id = slot()
    calls.proxy_define_metric!(0, np, nl, id)
    const counter = u32(id)
    calls.proxy_define_metric!(1, np, nl, id)
    const gauge = u32(id)
    calls.proxy_define_metric!(2, np, nl, id)
    const hist = u32(id)
    expect(calls.proxy_increment_metric!(counter, 0n)).toBe(WasmResult.BadArgument)
    expect(calls.proxy_increment_metric!(counter, -1n)).toBe(WasmResult.BadArgument)
    expect(calls.proxy_increment_metric!(counter, 5n)).toBe(WasmResult.Ok)
    expect(calls.proxy_increment_metric!(gauge, -7n)).toBe(WasmResult.Ok)
    expect(calls.proxy_increment_metric!(hist, 1n)).toBe(WasmResult.BadArgument)
    expect(calls.proxy_increment_metric!(counter + 40, 1n)).toBe(WasmResult.NotFound)
    expect(calls.proxy_record_metric!(counter + 40, 1n)).toBe(WasmResult.NotFound)
    // get: counter/gauge values (a negative gauge reads back as u64), histogram → BadArgument.
    const out = slot()
    expect(calls.proxy_get_metric!(counter, out)).toBe(WasmResult.Ok)
    expect(u32(out)).toBe(5)
    expect(calls.proxy_get_metric!(gauge, out)).toBe(WasmResult.Ok)
    expect(u32(out)).toBe(0xfffffff9)
    expect(u32(out + 4)).toBe(0xffffffff)
    expect(calls.proxy_get_metric!(hist, out)).toBe(WasmResult.BadArgument)
    expect(calls.proxy_get_metric!(counter, OOB)).toBe(WasmResult.InvalidMemoryAccess)
    // remove: Ok once, then NotFound; the id no longer works.
    expect(calls.proxy_remove_metric!(counter)).toBe(WasmResult.Ok)
    expect(calls.proxy_remove_metric!(counter)).toBe(WasmResult.NotFound)
    expect(calls.proxy_increment_metric!(counter, 1n)).toBe(WasmResult.NotFound)
  })
})

describe('metrics hostcalls: limits.maxMetrics and long names (always Ok, null stats past a cap)', () => {
  it('a new name past the host\'s cap gets a null stat that counts nothing; a known name still gets its stat', async () => {
    const { host, calls, put, slot } = await setup({ limits: { maxMetrics: 2 } })
    const id = slot()
    const [ap, al] = put('a')
    const [bp, bl] = put('b')
    expect(calls.proxy_define_metric!(0, ap, al, id)).toBe(WasmResult.Ok)
    expect(calls.proxy_define_metric!(1, bp, bl, id)).toBe(WasmResult.Ok)
    // Another VM of the same host: the host has its 2 stats.
    const other = await host.load({ wasm: fixture('wat', 'abi-0-2-1'), vmId: 'vm' })
    other.vm!.effective = [...other.vm!.contexts.values()].find((c) => c.isRoot)!
    const o = envHostcalls(other.vm!) as unknown as Record<string, Call>
    const [cp, cl] = put('c')
    other.vm!.memory.set(cp, Buffer.from('c'))
    other.vm!.memory.set(ap, Buffer.from('a'))
    expect(o.proxy_define_metric!(0, cp, cl, id)).toBe(WasmResult.Ok)
    const c = other.vm!.memory.getU32(id)!
    expect(o.proxy_define_metric!(0, ap, al, id)).toBe(WasmResult.Ok)
    const a = other.vm!.memory.getU32(id)!
    expect(o.proxy_increment_metric!(c, 5n)).toBe(WasmResult.Ok)
    expect(o.proxy_increment_metric!(a, 5n)).toBe(WasmResult.Ok)
    expect(o.proxy_record_metric!(c, 9n)).toBe(WasmResult.Ok)
    expect(o.proxy_get_metric!(c, id)).toBe(WasmResult.Ok)
    expect(other.vm!.memory.getU32(id)).toBe(0)
    expect(o.proxy_get_metric!(a, id)).toBe(WasmResult.Ok)
    expect(other.vm!.memory.getU32(id)).toBe(5)
    // Envoy's other rules hold for null stats too.
    expect(o.proxy_increment_metric!(c, 0n)).toBe(WasmResult.BadArgument)
    expect((await host.metricsRegistry.getMetricsAsJSON()).map((m) => m.name).sort()).toEqual(['a', 'b'])
  })

  it('past the cap a VM gets no new ids: a known name keeps its first id, new names share one null id per type', async () => {
    const { calls, put, slot, u32 } = await setup({ limits: { maxMetrics: 3 } })
    const id = slot()
    const [xp, xl] = put('x')
    const got = new Set<number>()
    for (let i = 0; i < 1000; i++) {
      expect(calls.proxy_define_metric!(0, xp, xl, id)).toBe(WasmResult.Ok)
      got.add(u32(id))
    }
    // Envoy: a new id per define, up to the cap (4, 8, 12); then the first one again.
    expect([...got]).toEqual([4, 8, 12])
    const names = Array.from({ length: 100 }, (_, i) => put(`n${i}`))
    const fresh = new Set(names.map(([p, l]) => (calls.proxy_define_metric!(1, p, l, id), u32(id))))
    expect([...fresh]).toEqual([5])
    // Removing the null id hands out a new one.
    expect(calls.proxy_remove_metric!(5)).toBe(WasmResult.Ok)
    calls.proxy_define_metric!(1, names[0]![0], names[0]![1], id)
    expect(u32(id)).toBe(9)
  })

  it('a name longer than 1024 bytes gets Ok and a null stat, with one warn line', async () => {
    const { logs, calls, put, slot, u32 } = await setup()
    const id = slot()
    const [lp, ll] = put('n'.repeat(1025))
    expect(calls.proxy_define_metric!(0, lp, ll, id)).toBe(WasmResult.Ok)
    const nul = u32(id)
    expect(calls.proxy_define_metric!(0, lp, ll, id)).toBe(WasmResult.Ok)
    expect(u32(id)).toBe(nul)
    expect(calls.proxy_increment_metric!(nul, 3n)).toBe(WasmResult.Ok)
    expect(calls.proxy_get_metric!(nul, id)).toBe(WasmResult.Ok)
    expect(u32(id)).toBe(0)
    const [ok, okl] = put('n'.repeat(1024))
    calls.proxy_define_metric!(0, ok, okl, id)
    expect(u32(id)).not.toBe(nul)
    expect(logs.filter((l) => l.message.includes('longer than 1024'))).toHaveLength(1)
  })
})

describe('shared data and queue hostcalls: bad arguments', () => {
  it('hostile pointers → InvalidMemoryAccess; NotFound writes nothing', async () => {
    const { calls, put, slot, vm } = await setup()
    const [kp, kl] = put('key')
    const [vp, vl] = put('value')
    const pp = slot()
    const sp = slot()
    const cas = slot()
    vm.memory.setU32(cas, 12345)
    expect(calls.proxy_get_shared_data!(kp, kl, pp, sp, cas)).toBe(WasmResult.NotFound)
    expect(vm.memory.getU32(cas)).toBe(12345)
    expect(calls.proxy_set_shared_data!(OOB, 64, vp, vl, 0)).toBe(WasmResult.InvalidMemoryAccess)
    expect(calls.proxy_set_shared_data!(kp, kl, OOB, 64, 0)).toBe(WasmResult.InvalidMemoryAccess)
    expect(calls.proxy_set_shared_data!(kp, kl, 0, 0, 0)).toBe(WasmResult.Ok)
    expect(calls.proxy_get_shared_data!(kp, kl, OOB, sp, cas)).toBe(WasmResult.InvalidMemoryAccess)
    expect(calls.proxy_get_shared_data!(kp, kl, pp, sp, OOB)).toBe(WasmResult.InvalidMemoryAccess)
  })

  it('queues: unknown ids → NotFound, empty → Empty, hostile pointers → InvalidMemoryAccess', async () => {
    const { calls, put, slot, u32 } = await setup()
    const [np, nl] = put('q')
    const [vmp, vml] = put('vm')
    const id = slot()
    expect(calls.proxy_resolve_shared_queue!(vmp, vml, np, nl, id)).toBe(WasmResult.NotFound)
    expect(calls.proxy_register_shared_queue!(np, nl, OOB)).toBe(WasmResult.InvalidMemoryAccess)
    expect(calls.proxy_register_shared_queue!(np, nl, id)).toBe(WasmResult.Ok)
    const q = u32(id)
    expect(q).toBe(1)
    // Registering again keeps the id; an empty vm_id resolves in the caller's own.
    expect(calls.proxy_register_shared_queue!(np, nl, id)).toBe(WasmResult.Ok)
    expect(u32(id)).toBe(1)
    expect(calls.proxy_resolve_shared_queue!(0, 0, np, nl, id)).toBe(WasmResult.Ok)
    const pp = slot()
    const sp = slot()
    expect(calls.proxy_dequeue_shared_queue!(q, pp, sp)).toBe(WasmResult.Empty)
    expect(calls.proxy_dequeue_shared_queue!(99, pp, sp)).toBe(WasmResult.NotFound)
    expect(calls.proxy_enqueue_shared_queue!(99, np, nl)).toBe(WasmResult.NotFound)
    expect(calls.proxy_enqueue_shared_queue!(q, OOB, 64)).toBe(WasmResult.InvalidMemoryAccess)
    expect(calls.proxy_dequeue_shared_queue!(q, OOB, sp)).toBe(WasmResult.InvalidMemoryAccess)
  })

  it('a store that throws gives InternalFailure, logged once until it answers again', async () => {
    let fail = true
    const store = {
      get: () => {
        if (fail) throw new Error('down')
        return undefined
      },
      set: () => {
        if (fail) throw new Error('down')
        return true
      },
    }
    const { calls, put, slot, logs } = await setup({ sharedData: store })
    const [kp, kl] = put('k')
    const pp = slot()
    expect(calls.proxy_get_shared_data!(kp, kl, pp, pp + 4, slot())).toBe(WasmResult.InternalFailure)
    expect(calls.proxy_set_shared_data!(kp, kl, kp, kl, 0)).toBe(WasmResult.InternalFailure)
    expect(logs.filter((l) => l.message === 'shared data store failed: down')).toHaveLength(1)
    fail = false
    expect(calls.proxy_set_shared_data!(kp, kl, kp, kl, 0)).toBe(WasmResult.Ok)
    fail = true
    expect(calls.proxy_set_shared_data!(kp, kl, kp, kl, 0)).toBe(WasmResult.InternalFailure)
    expect(logs.filter((l) => l.message === 'shared data store failed: down')).toHaveLength(2)
  })
})

describe('Redis hostcalls: bad arguments', () => {
  it('hostile pointers → InvalidMemoryAccess; unknown clusters → BadArgument; no token written on failure', async () => {
    const { calls, put, slot, vm } = await setup({ redis: { clusters: { known: 'redis://127.0.0.1:1' } } })
    const [cp, cl] = put('known?db=x')
    const [up, ul] = put('')
    expect(calls.proxy_redis_init!(OOB, 64, up, ul, up, ul, 100)).toBe(WasmResult.InvalidMemoryAccess)
    expect(calls.proxy_redis_init!(cp, cl, up, ul, up, ul, 100)).toBe(WasmResult.BadArgument)
    const [flush, fl] = put('known?buffer_flush_timeout=-1')
    expect(calls.proxy_redis_init!(flush, fl, up, ul, up, ul, 100)).toBe(WasmResult.BadArgument)
    const [ok, okl] = put('known?db=2&buffer_flush_timeout=3&max_buffer_size_before_flush=1024')
    expect(calls.proxy_redis_init!(ok, okl, up, ul, up, ul, 100)).toBe(WasmResult.Ok)
    const [unk, unkl] = put('unknown')
    expect(calls.proxy_redis_init!(unk, unkl, up, ul, up, ul, 100)).toBe(WasmResult.BadArgument)
    const [qp, ql] = put('*1\r\n$4\r\nPING\r\n')
    const token = slot()
    vm.memory.setU32(token, 777)
    expect(calls.proxy_redis_call!(unk, unkl, qp, ql, token)).toBe(WasmResult.BadArgument)
    expect(vm.memory.getU32(token)).toBe(777)
    expect(calls.proxy_redis_call!(ok, okl, qp, ql, OOB)).toBe(WasmResult.InvalidMemoryAccess)
    expect(calls.proxy_redis_call!(ok, okl, OOB, 64, token)).toBe(WasmResult.InvalidMemoryAccess)
  })
})
