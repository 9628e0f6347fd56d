import { describe, expect, it } from 'vitest'
import { UNIMPLEMENTED, unimplementedHostcalls } from '../../src/host/hostcalls/unimplemented.js'
import { WasmResult } from '../../src/abi/enums.js'

describe('hostcalls not implemented yet', () => {
  const table = unimplementedHostcalls() as Record<string, (...a: number[]) => unknown>
  it.each([...UNIMPLEMENTED])('%s is registered and answers Unimplemented (12)', (name) => {
    expect(table[name]!(0, 0, 0, 0)).toBe(WasmResult.Unimplemented)
  })
  it('cpp-host helpers for Emscripten modules exist', () => {
    expect(table.pthread_equal!(3, 3)).toBe(1)
    expect(table.pthread_equal!(3, 4)).toBe(0)
    expect(table.emscripten_notify_memory_growth!(0)).toBeUndefined()
  })
})
