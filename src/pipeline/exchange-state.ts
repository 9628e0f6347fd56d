/**
 * The per-request objects of an {@link Exchange}: one slot per plugin and direction, the two
 * directions, waiters and results.
 * @module
 */
import type { StreamContext } from '../host/context.js'
import type { HeaderMap } from '../host/header-map.js'
import type { Plugin } from '../host/plugin.js'
import type { FinalResponse, PhaseResult } from './exchange-types.js'
import type { Exchange } from './exchange.js'

/** An event for a plugin slot: headers, a body chunk, trailers. @internal */
export type Ev = { t: 'h'; eos: boolean } | { t: 'd'; chunk: Buffer; eos: boolean } | { t: 't' }

// Per-request objects are class instances, not literals: V8 pretenures the objects of a literal's
// allocation site once it saw them survive, and pretenured per-request garbage then keeps the
// young garbage it points to alive through every scavenge (docs/adr/0021-per-request-objects.md).
/** @internal */
export const H: Ev = { t: 'h', eos: false }
/** @internal */
export const H_EOS: Ev = { t: 'h', eos: true }
/** @internal */
export const T: Ev = { t: 't' }
/** @internal */
export const headersEvent = (eos: boolean): Ev => (eos ? H_EOS : H)

/**
 * One plugin's state in one direction of an exchange. The queue of events for the plugin holds
 * its first event in a field and makes an array only for more (most requests queue one event at a
 * time); `inbox` shows the whole queue as an array for the rarer paths that edit it.
 * @internal
 */
export class Slot {
  /** Skipped for this stream (FAIL_OPEN after a failure, or a plugin that failed before). */
  skip: boolean
  headers: 'pending' | 'stopSingle' | 'stopAll' | 'passed' = 'pending'
  headersEos = false
  buffering = false
  bufferedLen = 0
  bufferedEos = false
  trailersHeld = false
  sawEos = false
  /** StopIterationAndBuffer accumulator (see `#append`) and the body view last cut from it. */
  acc: Buffer | undefined = undefined
  accView: Buffer | undefined = undefined
  #head: Ev | undefined = undefined
  #rest: Ev[] | undefined = undefined
  #buffered: Buffer[] | undefined = undefined

  constructor(
    readonly plugin: Plugin,
    readonly ctx: StreamContext | undefined,
  ) {
    this.skip = ctx === undefined
  }

  /** Body chunks this plugin holds (made on first use). */
  get buffered(): Buffer[] {
    return (this.#buffered ??= [])
  }

  set buffered(v: Buffer[]) {
    this.#buffered = v
  }

  /** Events queued for this plugin, as an array (edits go to the queue). */
  get inbox(): Ev[] {
    const rest = (this.#rest ??= [])
    if (this.#head !== undefined) {
      rest.unshift(this.#head)
      this.#head = undefined
    }
    return rest
  }

  set inbox(v: Ev[]) {
    this.#head = undefined
    this.#rest = v
  }

  /** Number of queued events. */
  get queued(): number {
    return (this.#head === undefined ? 0 : 1) + (this.#rest === undefined ? 0 : this.#rest.length)
  }

  /** Queues an event. */
  enqueue(ev: Ev): void {
    if (this.#head === undefined && (this.#rest === undefined || this.#rest.length === 0)) this.#head = ev
    else (this.#rest ??= []).push(ev)
  }

  /** The next queued event, or `undefined`. */
  dequeue(): Ev | undefined {
    const h = this.#head
    if (h !== undefined) {
      this.#head = undefined
      return h
    }
    return this.#rest === undefined || this.#rest.length === 0 ? undefined : this.#rest.shift()
  }
}

/** What left the chain in one direction since the last result. @internal */
export class Out {
  headers: HeaderMap | undefined = undefined
  body: Buffer[] = []
  trailers: HeaderMap | undefined = undefined
  end = false
}

/** A phase call waiting for its result: kept when the chain settles at once, else resolved later. @internal */
export class Waiter {
  result: PhaseResult | undefined = undefined
  resolve: ((r: PhaseResult) => void) | undefined = undefined
  deliver(r: PhaseResult): void {
    if (this.resolve) this.resolve(r)
    else this.result = r
  }
}

/** One direction (request or response) of an exchange. @internal */
export class Dir {
  out = new Out()
  started = false
  ended = false
  stopped = false
  waiters: Waiter[] = []
  constructor(
    readonly req: boolean,
    public slots: Slot[],
  ) {}
}

/** A {@link PhaseResult} (a class: see the note on per-request objects above). @internal */
export class Result implements PhaseResult {
  headers: HeaderMap | undefined = undefined
  trailers: HeaderMap | undefined = undefined
  localResponse: FinalResponse | undefined = undefined
  constructor(
    public action: PhaseResult['action'],
    public body: Buffer[],
    public endOfStream: boolean,
  ) {}
}
