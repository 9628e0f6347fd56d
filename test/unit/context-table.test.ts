import { describe, expect, it } from 'vitest'
import type { ContextBase } from '../../src/host/context.js'
import { ContextTable } from '../../src/host/context-table.js'

const ctx = (id: number, isRoot = false) => ({ id, isRoot }) as unknown as ContextBase

describe('ContextTable', () => {
  it('finds, replaces and removes contexts, roots included', () => {
    const t = new ContextTable()
    const root = ctx(1, true)
    t.set(1, root)
    t.set(2, ctx(2))
    t.set(3, ctx(3))
    expect(t.size).toBe(3)
    expect(t.get(1)).toBe(root)
    expect(t.get(2)?.id).toBe(2)
    expect(t.has(4)).toBe(false)
    expect(t.delete(2)).toBe(true)
    expect(t.delete(2)).toBe(false)
    expect(t.get(2)).toBeUndefined()
    const again = ctx(3)
    t.set(3, again)
    expect(t.get(3)).toBe(again)
    expect(t.size).toBe(2)
    expect([...t.values()].map((c) => c.id)).toEqual([1, 3])
    expect([...t].map(([id]) => id)).toEqual([1, 3])
  })

  it('keeps a context that outlives many newer ones', () => {
    const t = new ContextTable()
    t.set(1, ctx(1, true))
    t.set(2, ctx(2)) // long-lived stream
    for (let id = 3; id < 5000; id++) {
      t.set(id, ctx(id))
      t.delete(id)
    }
    expect(t.get(2)?.id).toBe(2)
    expect(t.size).toBe(2)
    t.set(5000, ctx(5000))
    expect([...t.values()].map((c) => c.id).sort((a, b) => a - b)).toEqual([1, 2, 5000])
    expect(t.delete(2)).toBe(true)
    expect(t.size).toBe(2)
  })

  it('agrees with a Map under random use', () => {
    const t = new ContextTable()
    const ref = new Map<number, ContextBase>()
    let next = 1
    let seed = 7
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const live: number[] = []
    for (let step = 0; step < 20000; step++) {
      if (live.length === 0 || rnd() < 0.52) {
        const id = next++
        const c = ctx(id, rnd() < 0.01)
        t.set(id, c)
        ref.set(id, c)
        live.push(id)
      } else {
        // mostly the oldest goes first, sometimes a random one
        const k = rnd() < 0.8 ? 0 : Math.floor(rnd() * live.length)
        const [id] = live.splice(k, 1)
        expect(t.delete(id!)).toBe(ref.delete(id!))
      }
      if (step % 997 === 0) {
        expect(t.size).toBe(ref.size)
        for (const [id, c] of ref) expect(t.get(id)).toBe(c)
        expect(t.get(next + 5)).toBeUndefined()
      }
    }
    expect(new Set([...t.values()])).toEqual(new Set(ref.values()))
  })
})
