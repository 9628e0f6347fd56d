import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (p: string) => fileURLToPath(new URL(`./src/${p}`, import.meta.url))

export default defineConfig({
  // Test files written against the public subpaths (test/kit/*.test.mjs, also run by node --test on
  // the built package) run on the sources here.
  resolve: {
    alias: [
      { find: /^proxy-wasm-host\/testing\/vitest$/, replacement: src('testing/vitest.ts') },
      { find: /^proxy-wasm-host\/testing$/, replacement: src('testing/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.mjs'],
    globalSetup: ['test/global-setup.ts'],
    expect: { requireAssertions: true },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})
