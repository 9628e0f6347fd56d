// Test certificates made with the openssl command for the run: a CA, a server certificate for
// api.example.test (and 127.0.0.1) and a client certificate with a SPIFFE URI SAN, all signed by
// the CA. Nothing is committed: the files live in a temporary folder the caller removes.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestCerts {
  dir: string
  caCert: string
  serverCert: string
  serverKey: string
  clientCert: string
  clientKey: string
  /** PEM contents. */
  pem: { ca: Buffer; serverCert: Buffer; serverKey: Buffer; clientCert: Buffer; clientKey: Buffer }
  remove(): void
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: 'pipe' })
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer }
    if (e.code === 'ENOENT') throw new Error('the openssl command is needed to make test certificates: apt-get install -y openssl')
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? String(err)}`)
  }
}

/** Makes the CA, server and client certificates (EC P-256, one day). */
export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'pwh-tls-'))
  const key = (name: string) => openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', name], dir)
  key('ca.key')
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/O=proxy-wasm-host tests/CN=Test CA', '-days', '1', '-out', 'ca.pem'], dir)
  const sign = (name: string, subject: string, san: string, usage: string) => {
    key(`${name}.key`)
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir)
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`)
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir)
  }
  sign('server', '/O=Example/CN=api.example.test', 'DNS:api.example.test,DNS:www.example.test,IP:127.0.0.1', 'serverAuth')
  sign('client', '/O=Example, Inc./CN=client one', 'URI:spiffe://example.test/ns/default/sa/client,DNS:client.example.test', 'clientAuth')
  const f = (n: string) => join(dir, n)
  return {
    dir,
    caCert: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    pem: {
      ca: readFileSync(f('ca.pem')),
      serverCert: readFileSync(f('server.pem')),
      serverKey: readFileSync(f('server.key')),
      clientCert: readFileSync(f('client.pem')),
      clientKey: readFileSync(f('client.key')),
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}
