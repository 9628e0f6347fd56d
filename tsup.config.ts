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
    'redis/index': 'src/redis/index.ts',
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
  // import.meta.url in the CommonJS build, per output file (src/state/require.ts loads optional
  // dependencies lazily). Not tsup's `shims`: its ESM __filename shim lives in a shared chunk, and
  // src/cli relies on the ESM build having no __filename.
  esbuildOptions(options, context) {
    if (context.format !== 'cjs') return
    options.define = { ...options.define, 'import.meta.url': '__pwhImportMetaUrl' }
    options.banner = { js: `${options.banner?.js ?? ''}var __pwhImportMetaUrl = require('url').pathToFileURL(__filename).href;` }
  },
  // `proxy-wasm-host --version`.
  define: { __PWH_VERSION__: JSON.stringify(pkg.version) },
  external: ['express', 'koa', 'fastify', '@wasmer/wasi', 'ioredis', 'prom-client', 'vitest'],
})
