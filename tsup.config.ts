import { defineConfig } from 'tsup'

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
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  splitting: true,
  // import.meta.url in the CommonJS build, per output file (src/state/require.ts loads optional
  // dependencies lazily). Not tsup's `shims`: its ESM __filename shim lives in a shared chunk.
  esbuildOptions(options, context) {
    if (context.format !== 'cjs') return
    options.define = { ...options.define, 'import.meta.url': '__pwhImportMetaUrl' }
    options.banner = { js: `${options.banner?.js ?? ''}var __pwhImportMetaUrl = require('url').pathToFileURL(__filename).href;` }
  },
  external: ['express', 'koa', 'fastify', '@wasmer/wasi', 'ioredis', 'prom-client'],
})
