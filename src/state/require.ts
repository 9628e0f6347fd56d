/**
 * A synchronous `require` for this file, in both builds. Used to load optional dependencies (prom-client) only when they are needed.
 * @module
 */
import { createRequire } from 'node:module'

let req: NodeJS.Require | undefined

function get(): NodeJS.Require {
  // tsup's shims give the CommonJS build an import.meta.url too.
  req ??= createRequire(import.meta.url)
  return req
}

/** Loads module `id` synchronously. @internal */
export function requireModule(id: string): unknown {
  return get()(id)
}

/** Resolves module `id` from this package. @internal */
export function resolveModule(id: string): string {
  return get().resolve(id)
}
