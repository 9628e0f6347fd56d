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
  },
  format: ['esm', 'cjs'],
  // Published types leave out what is marked @internal (typedoc's excludeInternal does the same for the docs).
  dts: { compilerOptions: { stripInternal: true } },
  clean: true,
  sourcemap: true,
  target: 'node20',
  splitting: true,
  // import.meta.url in the CommonJS build (and __filename in the ES module build) work as in the
  // other format: without it, require('proxy-wasm-host') fails to parse a chunk that uses import.meta.
  shims: true,
  // `proxy-wasm-host --version`.
  define: { __PWH_VERSION__: JSON.stringify(pkg.version) },
  external: ['express', 'koa', 'fastify', '@wasmer/wasi'],
})
