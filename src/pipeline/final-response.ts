/**
 * A plugin's local reply as the exchange hands it out, readable in `console.log` and
 * `JSON.stringify` (the body as text when it is UTF-8, else base64).
 * @module
 */
import type { HeaderMap } from '../host/header-map.js'
import type { FinalResponse } from './exchange.js'

const INSPECT = Symbol.for('nodejs.util.inspect.custom')

/** The body for people: UTF-8 text when it decodes as such, else base64. */
function bodyJson(body: Buffer): { body: string; bodyEncoding: 'utf8' | 'base64' } {
  const text = body.toString('utf8')
  return Buffer.byteLength(text) === body.byteLength && !text.includes('\uFFFD') ? { body: text, bodyEncoding: 'utf8' } : { body: body.toString('base64'), bodyEncoding: 'base64' }
}

/** A {@link FinalResponse} with `toJSON` and a `util.inspect` view. @internal */
export class LocalReply implements FinalResponse {
  constructor(
    public status: number,
    public headers: HeaderMap,
    public body: Buffer,
    public details: string,
  ) {}

  /** gRPC status the plugin gave, when it gave one. */
  grpcStatus?: number

  /** `{ status, details, headers, body, bodyEncoding }`, headers as a record. */
  toJSON(): { status: number; details: string; grpcStatus?: number; headers: Record<string, string | string[]>; body: string; bodyEncoding: 'utf8' | 'base64' } {
    return { status: this.status, details: this.details, ...(this.grpcStatus !== undefined ? { grpcStatus: this.grpcStatus } : {}), headers: this.headers.toObject(), ...bodyJson(this.body) }
  }

  [INSPECT](_depth: number, options: { stylize?: unknown }, inspect: (v: unknown, o: unknown) => string): string {
    return `LocalReply ${inspect(this.toJSON(), options)}`
  }
}
