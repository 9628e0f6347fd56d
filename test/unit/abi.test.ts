import { describe, expect, it } from 'vitest'
import { GuestMemory } from '../../src/abi/memory.js'
import { decodePairs, encodePairs } from '../../src/abi/pairs.js'
import { HeaderMap } from '../../src/host/header-map.js'

describe('pairs codec (ABI §5.2)', () => {
  it('encodes the spec example byte for byte', () => {
    const bytes = Buffer.from(encodePairs([[':path', '/a'], ['x', '']]))
    expect(bytes.toString('hex')).toBe('02000000' + '05000000' + '02000000' + '01000000' + '00000000' + '3a70617468002f6100' + '780000')
    expect(bytes.byteLength).toBe(32)
  })
  it('round-trips raw octets', () => {
    const pairs: Array<[string, string]> = [['k', '\xff\x00\x80'], ['a', 'b']]
    expect(decodePairs(encodePairs(pairs))).toEqual(pairs)
  })
  it('accepts empty encodings and rejects malformed ones', () => {
    expect(decodePairs(new Uint8Array(0))).toEqual([])
    expect(decodePairs(new Uint8Array([0]))).toEqual([])
    expect(decodePairs(new Uint8Array(4))).toEqual([])
    const good = encodePairs([['a', 'b']])
    expect(decodePairs(good.subarray(0, good.byteLength - 1))).toBeUndefined()
    const noNul = Uint8Array.from(good)
    noNul[noNul.byteLength - 1] = 1
    expect(decodePairs(noNul)).toBeUndefined()
    const tooMany = new Uint8Array(4)
    new DataView(tooMany.buffer).setUint32(0, 5000, true)
    expect(decodePairs(tooMany)).toBeUndefined()
  })
})

describe('GuestMemory', () => {
  it('bounds-checks and follows memory growth', () => {
    const memory = new WebAssembly.Memory({ initial: 1 })
    const mem = new GuestMemory(memory)
    expect(mem.view(65530, 6)).toBeDefined()
    expect(mem.view(65530, 7)).toBeUndefined()
    expect(mem.view(0xffffffff, 2)).toBeUndefined()
    expect(mem.setU32(65533, 1)).toBe(false)
    memory.grow(1)
    expect(mem.view(65530, 7)).toBeDefined()
    expect(mem.setU32(65533, 7)).toBe(true)
    expect(mem.getU32(65533)).toBe(7)
  })
})

describe('HeaderMap', () => {
  it('is case-insensitive, ordered and multi-valued', () => {
    const h = new HeaderMap({ ':method': 'GET', 'X-A': ['1', '2'], b: 3 })
    expect(h.entries()).toEqual([[':method', 'GET'], ['x-a', '1'], ['x-a', '2'], ['b', '3']])
    expect(h.get('X-a')).toBe('1')
    expect(h.getAll('x-A')).toEqual(['1', '2'])
    h.set('x-a', '9')
    expect(h.entries()).toEqual([[':method', 'GET'], ['x-a', '9'], ['b', '3']])
    h.add('B', '4')
    expect(h.toObject()).toEqual({ ':method': 'GET', 'x-a': '9', b: ['3', '4'] })
    expect(h.toObject({ pseudo: false })).toEqual({ 'x-a': '9', b: ['3', '4'] })
    expect(h.delete('b')).toBe(true)
    expect(h.delete('b')).toBe(false)
    expect(h.size).toBe(2)
  })

  it('counts changes, so that untouched headers can be left as they are', () => {
    const h = new HeaderMap([['a', '1']])
    expect(h.version).toBe(0)
    h.get('a')
    h.getAll('a')
    expect(h.delete('missing')).toBe(false)
    expect(h.version).toBe(0)
    h.add('b', '2')
    h.set('a', '3')
    h.delete('b')
    h.clear()
    expect(h.version).toBe(4)
  })
})
