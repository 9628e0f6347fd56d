/**
 * A synchronous `require` that works in both builds, made for this file with `createRequire`. Used
 * to load optional dependencies (prom-client) only when they are needed.
 * @module
 */
import { createRequire } from 'node:module'

let req: NodeJS.Require | undefined

/** Loads module `id` synchronously. @internal */
export function requireModule(id: string): unknown {
  // Not `typeof require`: the ES module bundle defines a `require` stand-in that throws "Dynamic
  // require … is not supported". The CJS bundle gets `import.meta.url` from tsup's shims.
  req ??= createRequire(import.meta.url)
  return req(id)
}
