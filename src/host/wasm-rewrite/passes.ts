/**
 * The passes of the host's isolation: a CPU budget (fuel checked at every function entry and loop
 * head, refilled by the host while a deadline holds) and a memory cap (the memory's maximum).
 * @module
 */
import { RewriteError, Writer } from './bytes.js'
import { planChecks } from './call-graph.js'
import type { Snippet } from './code.js'
import type { RewritePass } from './rewrite.js'

/** Import module and name of the host's refuel function added by {@link fuelPass}. @internal */
export const FUEL_IMPORT = { module: 'proxy_wasm_host', name: 'refuel' } as const

/**
 * Fuel: a mutable i32 global charged at every function entry and loop head with the size in bytes
 * of the body that follows, plus the size of the leaf functions it calls (a bound on the
 * instructions that can run before the next check, so a unit of fuel is about one instruction
 * however large the loop body). When it drops below 0 the
 * guest calls the host's `refuel() -> i32`, which answers a new budget, or 0 once the call is over
 * its deadline; on 0 the guest executes `unreachable` — a trap, which the guest's own exception
 * handlers cannot catch (a JS exception thrown from the import could be caught by `catch_all`).
 * @param fuel - the budget the global starts with
 * @internal
 */
export function fuelPass(fuel: number): RewritePass {
  let refuel = -1
  let global = -1
  return {
    name: 'fuel',
    changesCode: true,
    declare(ctx) {
      if (ctx.module.memories.some((m) => m.shared) && ctx.functions().some((f) => f.scan.waits)) {
        throw new RewriteError('the module waits on a shared memory (memory.atomic.wait), which would block the whole process', 'blocking-wait')
      }
      refuel = ctx.importFunction(FUEL_IMPORT.module, FUEL_IMPORT.name, { params: [], results: ['i32'] })
      const init = new Writer(8)
      init.byte(0x41) // i32.const
      init.s32(fuel)
      init.byte(0x0b)
      global = ctx.addGlobal('i32', true, init.result().slice())
    },
    finish(ctx) {
      const get = (w: Writer) => (w.byte(0x23), w.u32(global))
      const set = (w: Writer) => (w.byte(0x24), w.u32(global))
      /** `charge` lowers the fuel; then: if (fuel < 0) { fuel = refuel(); if (fuel == 0) unreachable } */
      const snippet = (charge: (w: Writer, slot: { size(): void; local(): void }) => void): Snippet => {
        const w = new Writer(48)
        const sizeSlots: number[] = []
        const localSlots: number[] = []
        charge(w, { size: () => sizeSlots.push(w.slotU32()), local: () => localSlots.push(w.slotU32()) })
        get(w)
        w.byte(0x41) // i32.const 0
        w.byte(0x00)
        w.byte(0x48) // i32.lt_s
        w.byte(0x04) // if
        w.byte(0x40)
        w.byte(0x10) // call refuel
        w.u32(refuel)
        set(w)
        get(w)
        w.byte(0x45) // i32.eqz
        w.byte(0x04) // if
        w.byte(0x40)
        w.byte(0x00) // unreachable
        w.byte(0x0b)
        w.byte(0x0b)
        return { code: w.result().slice(), sizeSlots, localSlots }
      }
      // fuel -= <size of the guarded body>
      const code = snippet((w, slot) => {
        get(w)
        w.byte(0x41) // i32.const <size>
        slot.size()
        w.byte(0x6b) // i32.sub
        set(w)
      })
      ctx.atEntry(code)
      ctx.atLoop(code)
      // Instructions whose cost grows with an operand: memory.grow a fixed large charge, bulk
      // operations their size (the operand on top of the stack, kept in a scratch local).
      const grow = snippet((w) => {
        get(w)
        w.byte(0x41)
        w.s32(GROW_CHARGE)
        w.byte(0x6b)
        set(w)
      })
      const bulk = (shift: number) =>
        snippet((w, slot) => {
          w.byte(0x22) // local.tee <scratch>
          slot.local()
          get(w)
          w.byte(0x20) // local.get <scratch>
          slot.local()
          if (shift) {
            w.byte(0x41)
            w.byte(shift)
            w.byte(0x76) // i32.shr_u
          }
          w.byte(0x6b)
          set(w)
        })
      const memoryBulk = bulk(4) // about 16 bytes per unit
      const tableBulk = bulk(0)
      ctx.beforeHeavy((op, sub) => {
        if (op === 0x40) return grow
        if (sub === 8 || sub === 10 || sub === 11) return memoryBulk // memory.init, memory.copy, memory.fill
        if (sub === 12 || sub === 14 || sub === 15 || sub === 17) return tableBulk // table.init, copy, grow, fill
        return undefined
      })
      // Fewer checks, same bound (call-graph.ts): entry checks only where they break a cycle of
      // calls, and on functions reachable indirectly; the others are paid for by their callers. A
      // checked function whose first non-straight instruction is a loop is checked once at that
      // loop (every entry reaches it), which pays for the whole function.
      const fns = ctx.functions()
      const base = ctx.module.importedFuncs
      const exported = ctx.module.exports.filter((e) => e.kind === 0 && e.index >= base).map((e) => e.index - base)
      const plan = planChecks(fns, base, exported)
      ctx.entryPolicy(
        (i) => (!plan.checked[i] ? 'none' : fns[i]!.scan.loopFirst ? 'first-loop' : 'start'),
        (index) => (index >= base ? plan.cost[index - base]! : 0),
      )
    },
  }
}

/** Fuel `memory.grow` costs: engines may copy the whole memory, so a loop of grows refuels often. */
const GROW_CHARGE = 1 << 22

/** Bytes of one WebAssembly page. */
const PAGE = 65536

/**
 * Caps every defined memory at `maxBytes` (rounded down to whole pages) by setting its maximum, so
 * that `memory.grow` past it answers -1 as the guest's allocator expects.
 * @throws {@link RewriteError} (a refusal) when a memory's initial size is already over the cap
 * @internal
 */
export function memoryCapPass(maxBytes: number): RewritePass {
  return {
    name: 'memory-cap',
    changesCode: false,
    declare(ctx) {
      const pages = Math.floor(maxBytes / PAGE)
      for (const m of ctx.module.memories) {
        if (m.min > pages) {
          throw new RewriteError(`the module's memory starts at ${m.min * PAGE} bytes, over limits.maxMemoryBytes (${maxBytes})`, 'memory-limit')
        }
        if (m.max === undefined || m.max > pages) m.max = pages
      }
      ctx.memoriesChanged()
    },
  }
}
