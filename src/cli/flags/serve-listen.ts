/**
 * `serve` flags: where and how the gateway listens (`--port`, `--host`, `--tls-cert`, `--tls-key`,
 * `--tls-ca`).
 * @module
 */
import { resolve } from 'node:path'
import { usageError, type FlagGroup } from '../args.js'
import type { ServeOptions } from '../serve.js'

/** `--port`, `--host`, TLS. @internal */
export const listenFlags: FlagGroup<ServeOptions> = {
  title: 'Listening',
  flags: {
    port: { type: 'string', value: '<n>', short: 'p', default: '8080', help: 'port to listen on (0: any free port)' },
    host: { type: 'string', value: '<addr>', default: '127.0.0.1', help: 'address to listen on (0.0.0.0: every interface)' },
    'tls-cert': { type: 'string', value: '<cert.pem>', help: 'serve HTTPS with this certificate (with --tls-key); plugins see\nthe connection.tls_version and connection.requested_server_name properties' },
    'tls-key': { type: 'string', value: '<key.pem>', help: 'the private key of --tls-cert' },
    'tls-ca': { type: 'string', value: '<ca.pem>', help: 'ask clients for a certificate signed by this CA (connection.mtls,\nconnection.subject_peer_certificate …); clients without one still pass' },
  },
  apply(args, opts, env) {
    opts.port = args.integer('port', 0, 65535)!
    opts.host = args.string('host') ?? '127.0.0.1'
    const cert = args.string('tls-cert')
    const key = args.string('tls-key')
    const ca = args.string('tls-ca')
    if ((cert === undefined) !== (key === undefined)) throw usageError('--tls-cert and --tls-key go together', 'serve')
    if (ca !== undefined && cert === undefined) throw usageError('--tls-ca needs --tls-cert and --tls-key', 'serve')
    if (cert !== undefined && key !== undefined) {
      opts.tls = { cert: resolve(env.cwd, cert), key: resolve(env.cwd, key), ...(ca !== undefined ? { ca: resolve(env.cwd, ca) } : {}) }
    }
  },
}
