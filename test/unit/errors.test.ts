import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ErrorCodes, ProxyWasmHostError, isProxyWasmHostError } from '../../src/errors.js'

describe('error codes', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  it.each(Object.keys(ErrorCodes))('%s is documented in docs/errors.md', (code) => {
    expect(doc).toContain(`| \`${code}\` |`)
  })
  it('every code has the PWH_ERR_ prefix and errors carry it', () => {
    for (const code of Object.keys(ErrorCodes)) expect(code).toMatch(/^PWH_ERR_[A-Z]+_[A-Z_]+$/)
    const err = new ProxyWasmHostError('PWH_ERR_PLUGIN_TRAP', 'x', { cause: 1 })
    expect(isProxyWasmHostError(err, 'PWH_ERR_PLUGIN_TRAP')).toBe(true)
    expect(isProxyWasmHostError(err, 'PWH_ERR_PLUGIN_EXIT')).toBe(false)
    expect(isProxyWasmHostError({ code: 'PWH_ERR_PLUGIN_TRAP' })).toBe(true)
    expect(err.cause).toBe(1)
  })
})
