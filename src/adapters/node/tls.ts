/**
 * The TLS facts of a Node `TLSSocket` as plugins read them (`connection.tls_version`,
 * `connection.requested_server_name`, `connection.mtls`, `connection.*_certificate`), read from
 * the socket only when a plugin asks. @internal
 * @module
 */
import type { X509Certificate } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import type { CertificateInfo, TlsInfo } from '../../host/properties.js'

/** Per socket: the requests of one connection share it. */
const bySocket = new WeakMap<TLSSocket, TlsInfo>()

/** The {@link TlsInfo} of an encrypted socket (one object per connection, values computed on first read). @internal */
export function socketTls(socket: TLSSocket): TlsInfo {
  let info = bySocket.get(socket)
  if (!info) {
    info = new SocketTls(socket)
    bySocket.set(socket, info)
  }
  return info
}

class SocketTls implements TlsInfo {
  readonly #socket: TLSSocket
  #peer: CertificateInfo | undefined | null = null
  #local: CertificateInfo | undefined | null = null

  constructor(socket: TLSSocket) {
    this.#socket = socket
  }

  get version(): string | undefined {
    return this.#socket.getProtocol?.() ?? undefined
  }

  get serverName(): string | undefined {
    const name = (this.#socket as TLSSocket & { servername?: string | false }).servername
    return typeof name === 'string' && name ? name : undefined
  }

  get mtls(): boolean {
    return this.#socket.authorized === true && this.peerCertificate !== undefined
  }

  get peerCertificate(): CertificateInfo | undefined {
    if (this.#peer === null) this.#peer = describe(this.#socket.getPeerX509Certificate?.())
    return this.#peer
  }

  get localCertificate(): CertificateInfo | undefined {
    if (this.#local === null) this.#local = describe(this.#socket.getX509Certificate?.())
    return this.#local
  }
}

function describe(cert: X509Certificate | undefined): CertificateInfo | undefined {
  if (!cert) return undefined
  const sans = splitSans(cert.subjectAltName)
  return {
    subject: rfc2253(cert.subject),
    dnsSans: sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
    uriSans: sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4)),
    sha256: cert.fingerprint256.replaceAll(':', '').toLowerCase(),
  }
}

/**
 * Node prints the subject one `KEY=value` per line, most significant first, values already escaped
 * as RFC 2253 says (OpenSSL's RFC 2253 flags, one RDN per line); RFC 2253 form, which Envoy returns,
 * lists them in reverse order, comma-separated.
 */
function rfc2253(subject: string): string {
  return subject.split('\n').filter(Boolean).reverse().join(',')
}

/** `DNS:a.example, URI:spiffe://x` → entries; quoted entries (Node quotes values with commas) are unquoted. */
function splitSans(text: string | undefined): string[] {
  if (!text) return []
  const out: string[] = []
  const re = /(\w+):(?:"((?:[^"\\]|\\.)*)"|([^,]*))(?:,\s*|$)/g
  for (const m of text.matchAll(re)) {
    let value = (m[3] ?? '').trim()
    if (m[2] !== undefined) {
      try {
        value = JSON.parse(`"${m[2]}"`) as string
      } catch {
        value = m[2] // read inside a hostcall: never throw
      }
    }
    out.push(`${m[1]}:${value}`)
  }
  return out
}
