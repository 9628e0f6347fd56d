/**
 * Properties (`proxy_get_property` / `proxy_set_property`) as Envoy serves them (ABI §7): a table from
 * path to value, values serialized by type (strings raw, integers as 8-byte little-endian, booleans
 * as one byte, maps as pairs).
 * @module
 */
import { encodePairs, type HeaderPair } from '../abi/pairs.js'
import { ProxyWasmHostError } from '../errors.js'
import type { ContextBase, StreamContext } from './context.js'

/** A property value given by the embedder; numbers and bigints are serialized as int64. */
export type PropertyValue = string | number | bigint | boolean | Uint8Array | Record<string, string>

/**
 * Where a property lives: a dotted string (`'node.id'`), or the segments themselves, for keys that
 * contain dots (`['metadata', 'filter_metadata', 'envoy.filters.http.wasm', 'tenant']`), as a
 * plugin passes them to `proxy_get_property`.
 */
export type PropertyPath = string | readonly string[]

/**
 * Properties given by the embedder: an object keyed by dotted paths, a `Map` whose keys are dotted
 * paths or segment arrays, or a list of `[path, value]` entries. Segment arrays are needed when a
 * segment contains a dot (Envoy metadata namespaces such as `envoy.filters.http.wasm`).
 *
 * @example
 * ```ts
 * const properties: PropertiesInit = new Map<PropertyPath, PropertyValue>([
 *   ['node.id', 'gw-1'],
 *   [['xds', 'route_metadata', 'filter_metadata', 'envoy.filters.http.wasm', 'tenant'], 'acme'],
 * ])
 * ```
 */
export type PropertiesInit =
  | Readonly<Record<string, PropertyValue>>
  | ReadonlyMap<PropertyPath, PropertyValue>
  | ReadonlyArray<readonly [PropertyPath, PropertyValue]>

/** A certificate as plugins see it through the `connection.*_certificate` properties. */
export interface CertificateInfo {
  /** Subject distinguished name in RFC 2253 form (`CN=client,O=Example`), as Envoy prints it. */
  readonly subject: string
  /** DNS subject alternative names, in order (the property gives the first). */
  readonly dnsSans: readonly string[]
  /** URI subject alternative names (SPIFFE ids …), in order. */
  readonly uriSans: readonly string[]
  /** SHA-256 of the DER encoding, lower-case hex without colons. */
  readonly sha256: string
}

/**
 * The TLS facts of a downstream connection (properties `connection.tls_version`,
 * `connection.requested_server_name`, `connection.mtls`, `connection.*_certificate`). The adapters
 * fill it from an `https` / `tls` socket; values are read when a plugin asks.
 *
 * @example
 * ```ts
 * const tls: TlsInfo = { version: 'TLSv1.3', serverName: 'api.example.com', mtls: false }
 * pipeline.exchange({ path: '/', scheme: 'https', tls })
 * ```
 */
export interface TlsInfo {
  /** Negotiated protocol, e.g. `TLSv1.3`. */
  readonly version?: string | undefined
  /** SNI the client sent. */
  readonly serverName?: string | undefined
  /** Whether the client presented a certificate that the server's CA verified. */
  readonly mtls?: boolean | undefined
  /** The client's certificate, when it presented one. */
  readonly peerCertificate?: CertificateInfo | undefined
  /** The server's own certificate. */
  readonly localCertificate?: CertificateInfo | undefined
}

/** Embedder properties by raw path (segments joined with `\0`, as the ABI passes them). @internal */
export type PropertyTable = ReadonlyMap<string, PropertyValue>

const EMPTY_TABLE: PropertyTable = new Map()
const tables = new WeakMap<object, PropertyTable>()

/**
 * The raw path of a property path: segments joined with `\0`.
 * @throws `PWH_ERR_CONFIG_INVALID` for an empty path or a segment containing `\0`
 * @internal
 */
export function rawPropertyPath(path: PropertyPath, where: string): string {
  const segments = typeof path === 'string' ? path.split('.') : path
  if (!Array.isArray(segments) || segments.length === 0 || segments.some((s) => typeof s !== 'string' || s.includes('\0')) || segments.join('') === '') {
    throw new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${where}: property path ${JSON.stringify(path)} must be a dotted string or a non-empty array of strings without NUL characters`)
  }
  return segments.join('\0')
}

/**
 * Builds the lookup table of embedder properties (once per object: a table shared by requests is
 * converted once).
 * @throws `PWH_ERR_CONFIG_INVALID` for a malformed path
 * @internal
 */
export function propertyTable(init: PropertiesInit | undefined, where = 'properties'): PropertyTable {
  if (init === undefined || init === null) return EMPTY_TABLE
  const cached = tables.get(init)
  if (cached) return cached
  const out = new Map<string, PropertyValue>()
  const entries: Iterable<readonly [PropertyPath, PropertyValue]> =
    init instanceof Map || Array.isArray(init) ? (init as Iterable<readonly [PropertyPath, PropertyValue]>) : Object.entries(init)
  for (const [path, value] of entries) {
    if (value !== undefined) out.set(rawPropertyPath(path, where), value)
  }
  tables.set(init, out)
  return out
}

const text = (s: string) => Buffer.from(s, 'utf8')
/** int64 little-endian. */
export function int64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigInt64LE(BigInt(n))
  return b
}
const bool = (v: boolean) => Buffer.from([v ? 1 : 0])
const optText = (s: string | undefined) => (s === undefined ? undefined : text(s))
const map = (pairs: HeaderPair[]) => Buffer.from(encodePairs(pairs))

/** Serializes an embedder-given value (ABI §7.1). */
export function serializeProperty(v: PropertyValue): Buffer {
  if (typeof v === 'string') return text(v)
  if (typeof v === 'number' || typeof v === 'bigint') return int64(v)
  if (typeof v === 'boolean') return bool(v)
  if (v instanceof Uint8Array) return Buffer.from(v)
  return map(Object.entries(v))
}

/** Splits `ip:port` / `[v6]:port` into parts. */
function splitAddress(addr: string | undefined, port?: number): { ip: string; port: number | undefined } | undefined {
  if (!addr) return undefined
  const m = /^\[(.+)\]:(\d+)$/.exec(addr) ?? (/^([^:]+):(\d+)$/.exec(addr))
  if (m) return { ip: m[1]!, port: Number(m[2]) }
  return { ip: addr.replace(/^::ffff:/, ''), port }
}
function joinAddress(a: { ip: string; port: number | undefined }): string {
  const ip = a.ip.replace(/^::ffff:/, '')
  return `${ip.includes(':') ? `[${ip}]` : ip}:${a.port ?? 0}`
}

type Getter = (ctx: StreamContext) => Buffer | undefined
const header = (name: string): Getter => (c) => {
  const v = c.http.requestHeaders.getAll(name)
  return v.length ? text(v.join(',')) : undefined
}
const pathOf = (c: StreamContext) => c.http.requestHeaders.get(':path') ?? ''

/** Stream properties, keyed by path segments joined with `\0`. */
const STREAM: Record<string, Getter> = {
  'request\0path': (c) => text(pathOf(c)),
  'request\0url_path': (c) => text(pathOf(c).replace(/[?#].*$/, '')),
  'request\0host': (c) => text(c.http.requestHeaders.get(':authority') ?? ''),
  'request\0scheme': (c) => text(c.http.requestHeaders.get(':scheme') ?? 'http'),
  'request\0method': (c) => text(c.http.requestHeaders.get(':method') ?? ''),
  'request\0headers': (c) => map(c.http.requestHeaders.pairs),
  'request\0referer': header('referer'),
  'request\0useragent': header('user-agent'),
  'request\0id': header('x-request-id'),
  'request\0query': (c) => {
    const p = pathOf(c)
    const q = p.indexOf('?')
    return text(q < 0 ? '' : p.slice(q + 1).replace(/#.*$/, ''))
  },
  'request\0protocol': (c) => text(c.http.info.protocol ?? 'HTTP/1.1'),
  'request\0time': (c) => int64(BigInt(c.http.startMs) * 1_000_000n),
  'request\0duration': (c) => (c.http.requestComplete ? int64(BigInt((c.http.endMs ?? c.http.clock.now()) - c.http.startMs) * 1_000_000n) : undefined),
  'request\0size': (c) => {
    const cl = c.http.requestHeaders.get('content-length')
    return int64(cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : c.http.requestBodyBytes)
  },
  'request\0total_size': (c) => int64(c.http.requestBodyBytes + headerBytes(c.http.requestHeaders.pairs)),
  'response\0code': (c) => {
    const s = c.http.responseHeaders?.get(':status')
    return s === undefined ? undefined : int64(Number(s))
  },
  'response\0code_details': (c) => (c.http.responseCodeDetails === undefined ? undefined : text(c.http.responseCodeDetails)),
  'response\0flags': () => int64(0),
  'response\0headers': (c) => (c.http.responseHeaders ? map(c.http.responseHeaders.pairs) : undefined),
  'response\0trailers': (c) => (c.http.responseTrailers ? map(c.http.responseTrailers.pairs) : undefined),
  'response\0size': (c) => int64(c.http.responseBodyBytes),
  'response\0total_size': (c) => int64(c.http.responseBodyBytes + headerBytes(c.http.responseHeaders?.pairs ?? [])),
  'connection\0id': (c) => int64(c.http.connectionId),
  connection_id: (c) => int64(c.http.connectionId),
  'connection\0mtls': (c) => bool(c.http.info.mtls ?? c.http.info.tls?.mtls ?? false),
  'connection\0requested_server_name': (c) => optText(c.http.info.tls?.serverName),
  'connection\0tls_version': (c) => optText(c.http.info.tls?.version),
  'connection\0subject_local_certificate': (c) => optText(c.http.info.tls?.localCertificate?.subject),
  'connection\0subject_peer_certificate': (c) => optText(c.http.info.tls?.peerCertificate?.subject),
  'connection\0dns_san_local_certificate': (c) => optText(c.http.info.tls?.localCertificate?.dnsSans[0]),
  'connection\0dns_san_peer_certificate': (c) => optText(c.http.info.tls?.peerCertificate?.dnsSans[0]),
  'connection\0uri_san_local_certificate': (c) => optText(c.http.info.tls?.localCertificate?.uriSans[0]),
  'connection\0uri_san_peer_certificate': (c) => optText(c.http.info.tls?.peerCertificate?.uriSans[0]),
  'connection\0sha256_peer_certificate_digest': (c) => optText(c.http.info.tls?.peerCertificate?.sha256),
  'source\0address': (c) => {
    const a = splitAddress(c.http.info.remoteAddress, c.http.info.remotePort)
    return a && text(joinAddress(a))
  },
  'source\0port': (c) => {
    const a = splitAddress(c.http.info.remoteAddress, c.http.info.remotePort)
    return a?.port === undefined ? undefined : int64(a.port)
  },
  'destination\0address': (c) => {
    const a = splitAddress(c.http.info.localAddress, c.http.info.localPort)
    return a && text(joinAddress(a))
  },
  'destination\0port': (c) => {
    const a = splitAddress(c.http.info.localAddress, c.http.info.localPort)
    return a?.port === undefined ? undefined : int64(a.port)
  },
  route_name: (c) => (c.http.info.route === undefined ? undefined : text(c.http.info.route)),
  'xds\0route_name': (c) => (c.http.info.route === undefined ? undefined : text(c.http.info.route)),
  cluster_name: (c) => (c.http.info.cluster === undefined ? undefined : text(c.http.info.cluster)),
  'xds\0cluster_name': (c) => (c.http.info.cluster === undefined ? undefined : text(c.http.info.cluster)),
  listener_direction: () => int64(2),
}

function headerBytes(pairs: readonly HeaderPair[]): number {
  let n = 0
  for (const [k, v] of pairs) n += k.length + v.length
  return n
}

/**
 * Looks up a property for `ctx`. `path` is the raw path (segments joined by `\0`, a trailing `\0`
 * tolerated). Returns the serialized value or `undefined` (→ `NotFound`).
 * @internal
 */
export function getProperty(ctx: ContextBase, rawPath: string): Buffer | undefined {
  const path = rawPath.endsWith('\0') ? rawPath.slice(0, -1) : rawPath
  if (path === '') return undefined
  const stream = ctx.isRoot ? undefined : (ctx as StreamContext)
  // Embedder values first: per request, then per plugin. Keys are raw paths, so a dotted single
  // segment (`node.id` asked as one segment) never matches `['node', 'id']`, as in Envoy.
  const reqProps = stream?.http.info.properties
  if (reqProps || ctx.plugin.hasProperties) {
    const own = (reqProps ? propertyTable(reqProps).get(path) : undefined) ?? ctx.plugin.properties.get(path)
    if (own !== undefined) return serializeProperty(own)
  }
  const plugin = pluginProperty(ctx, path)
  if (plugin) return plugin
  if (!stream) return undefined
  const get = STREAM[path]
  if (get) return get(stream)
  if (path.startsWith('request\0headers\0')) return header(path.slice(16))(stream)
  if (path.startsWith('response\0headers\0')) {
    const v = stream.http.responseHeaders?.getAll(path.slice(17)) ?? []
    return v.length ? text(v.join(',')) : undefined
  }
  if (path.startsWith('response\0trailers\0')) {
    const v = stream.http.responseTrailers?.getAll(path.slice(18)) ?? []
    return v.length ? text(v.join(',')) : undefined
  }
  if (!path.includes('\0')) return stream.http.filterState.get(path)
  return undefined
}

function pluginProperty(ctx: ContextBase, path: string): Buffer | undefined {
  const p = ctx.plugin
  switch (path) {
    case 'plugin_name':
      return text(p.name)
    case 'plugin_root_id':
      return text(p.rootId)
    case 'plugin_vm_id':
      return text(p.vmId)
    case 'plugin_vm_memory': {
      const mem = p.vmMemoryBytes()
      return mem === undefined ? undefined : int64(mem)
    }
    default:
      return undefined
  }
}
