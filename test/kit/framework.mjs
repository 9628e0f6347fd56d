// The same test files run under vitest (`npm test`) and under `node --test`: this picks the
// runner's test functions, and gives both one small assert API (under vitest it goes through
// `expect`, so that vitest counts the assertions).
const vitest = process.env.VITEST ? await import('vitest') : undefined
const node = vitest ? undefined : await import('node:test')
const nodeAssert = vitest ? undefined : (await import('node:assert/strict')).default

export const describe = vitest ? vitest.describe : node.describe
export const it = vitest ? vitest.it : node.it
export const afterEach = vitest ? vitest.afterEach : node.afterEach

export const assert = vitest
  ? {
      equal: (actual, expected) => vitest.expect(actual).toBe(expected),
      deepEqual: (actual, expected) => vitest.expect(actual).toEqual(expected),
      match: (actual, re) => vitest.expect(actual).toMatch(re),
      ok: (value) => vitest.expect(value).toBeTruthy(),
    }
  : nodeAssert
