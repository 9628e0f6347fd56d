import { readFileSync } from 'node:fs'
import { defineConfig } from 'tsup'

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string }

// Entries match the exports map of package.json, one per subpath.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'adapters/node/index': 'src/adapters/node/index.ts',
    'adapters/express/index': 'src/adapters/express/index.ts',
    'adapters/koa/index': 'src/adapters/koa/index.ts',
    'adapters/fastify/index': 'src/adapters/fastify/index.ts',
    'cli/index': 'src/cli/index.ts',
    'upstream/index': 'src/upstream/index.ts',
    'testing/index': 'src/testing/index.ts',
    'testing/vitest': 'src/testing/vitest.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  splitting: true,
  // The CJS build gets `import.meta.url` as its file's URL (src/state/require.ts needs it). Only
  // that: tsup's `shims` would also give the ESM build a `__filename`, which src/cli relies on not having.
  esbuildOptions(options, { format }) {
    if (format === 'cjs') options.define = { ...options.define, 'import.meta.url': '__pwh_import_meta_url' }
  },
  banner: ({ format }) => (format === 'cjs' ? { js: "const __pwh_import_meta_url = require('node:url').pathToFileURL(__filename).href;" } : {}),
  // `proxy-wasm-host --version`.
  define: { __PWH_VERSION__: JSON.stringify(pkg.version) },
  external: ['express', 'koa', 'fastify', '@wasmer/wasi', 'vitest'],
})
