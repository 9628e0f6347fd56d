// Run by logs-on-failure.test.ts in a child vitest: one test passes, one fails.
import { expect, it } from 'vitest'
import 'proxy-wasm-host/testing/vitest'
import { createPluginTester } from 'proxy-wasm-host/testing'

const wasm = new URL('../../../fixtures/build/go/logging.wasm', import.meta.url).pathname

it('passes quietly', async () => {
  const t = await createPluginTester(wasm)
  await t.request({ headers: { host: 'a' }, path: '/quiet' })
  expect(t.logs.length).toBe(8)
  t.close()
})

it('fails loudly', async () => {
  const t = await createPluginTester(wasm, { logLevel: 'warn' })
  try {
    await t.request({ headers: { host: 'a' } })
    expect(t.logs.length).toBe(0)
  } finally {
    t.close()
  }
})
