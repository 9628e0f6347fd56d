import type { ContextBase, StreamContext } from '../context.js'

/** A hostcall body; every argument is an i32 (or a BigInt for i64 parameters). @internal */
export type Hostcall = (...args: never[]) => number | void

/** The stream context, when `ctx` is one. @internal */
export function asStream(ctx: ContextBase | undefined): StreamContext | undefined {
  return ctx && !ctx.isRoot ? (ctx as StreamContext) : undefined
}
