// docs/testing.md "Side by side": the table's line counts are the counts of the code in its
// appendix, every kit block is a test of test/kit/side-by-side.test.ts verbatim, and the kit's
// count is the smallest of every row.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const doc = readFileSync(new URL('../../docs/testing.md', import.meta.url), 'utf8')
const kitFile = readFileSync(new URL('../kit/side-by-side.test.ts', import.meta.url), 'utf8')
const lines = (code: string) => code.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('//')).length

const table = doc.slice(doc.indexOf('| test | proxy-wasm-host/testing | Higress `pkg/test` | Go `proxytest` |'))
const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
const appendix = doc.slice(doc.indexOf('## Appendix: the code of the side-by-side'))
const sections = appendix.split('\n### ').slice(1).map((s) => {
  const name = s.slice(0, s.indexOf('\n'))
  const part = (label: string, next?: string) => {
    const from = s.indexOf(`${label}:\n`)
    const to = next ? s.indexOf(`${next}:\n`) : s.length
    const m = /```(?:ts|go)\n([\s\S]*?)\n```/.exec(s.slice(from, to))
    return m?.[1]
  }
  return { name, kit: part('proxy-wasm-host/testing', 'Higress `pkg/test`'), higress: part('Higress `pkg/test`', 'Go `proxytest`'), proxytest: part('Go `proxytest`') }
})

describe('docs/testing.md side by side', () => {
  it('has a table row and an appendix section for each test, in the same order', () => {
    expect(rows.length).toBe(10)
    expect(sections.map((s) => s.name)).toEqual(rows.map((r) => r[0]))
  })

  it.each(sections.map((s, i) => [s.name, s, rows[i]!] as const))('%s: counts match the code; ours is the shortest', (_name, s, row) => {
    expect(s.kit).toBeDefined()
    expect(kitFile).toContain(`${s.kit}\n`)
    expect(row[1]).toBe(String(lines(s.kit!) + 1))
    expect(row[2]).toBe(s.higress ? String(lines(s.higress)) : 'cannot')
    expect(row[3]).toBe(s.proxytest ? String(lines(s.proxytest)) : 'cannot')
    for (const other of [row[2], row[3]]) if (other !== 'cannot') expect(Number(row[1])).toBeLessThan(Number(other))
  })
})
