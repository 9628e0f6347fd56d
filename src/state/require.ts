/**
 * A synchronous `require` that works in both builds: CommonJS has one; the ES module build makes
 * one for this file. Used to load optional dependencies (prom-client) only when they are needed.
 * @module
 */
import { createRequire } from 'node:module'

let req: NodeJS.Require | undefined

/** Loads module `id` synchronously. @internal */
export function requireModule(id: string): unknown {
  req ??= typeof require === 'function' ? require : createRequire(import.meta.url)
  return req(id)
}
