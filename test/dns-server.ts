// A DNS server on 127.0.0.1 speaking the real wire protocol (UDP, dns-packet codec): A, AAAA and SRV
// answers from a table the test edits; NXDOMAIN for names it does not hold.
import { createSocket, type Socket } from 'node:dgram'
import * as packet from 'dns-packet'

export interface DnsRecords {
  A?: Record<string, string[]>
  AAAA?: Record<string, string[]>
  SRV?: Record<string, Array<{ target: string; port: number; priority?: number; weight?: number }>>
}

export interface DnsServer {
  /** `127.0.0.1:<port>`, for `dnsResolver({ servers: [...] })`. */
  address: string
  records: DnsRecords
  /** TTL of every answer, in seconds. */
  ttl: number
  /** Questions received, as `TYPE name`. */
  queries: string[]
  close(): Promise<void>
}

export async function dnsServer(records: DnsRecords = {}, ttl = 30): Promise<DnsServer> {
  const socket: Socket = createSocket('udp4')
  const server: DnsServer = {
    address: '',
    records,
    ttl,
    queries: [],
    close: () => new Promise<void>((r) => socket.close(() => r())),
  }
  socket.on('message', (msg, rinfo) => {
    const q = packet.decode(msg)
    const question = q.questions?.[0]
    if (!question) return
    server.queries.push(`${question.type} ${question.name}`)
    const answers: packet.Answer[] = []
    const name = question.name.toLowerCase()
    const known = Object.values(server.records).some((table) => table && name in table)
    if (question.type === 'A') for (const ip of server.records.A?.[name] ?? []) answers.push({ type: 'A', name: question.name, ttl: server.ttl, class: 'IN', data: ip })
    if (question.type === 'AAAA') for (const ip of server.records.AAAA?.[name] ?? []) answers.push({ type: 'AAAA', name: question.name, ttl: server.ttl, class: 'IN', data: ip })
    if (question.type === 'SRV') {
      for (const s of server.records.SRV?.[name] ?? []) {
        answers.push({ type: 'SRV', name: question.name, ttl: server.ttl, class: 'IN', data: { target: s.target, port: s.port, priority: s.priority ?? 0, weight: s.weight ?? 1 } })
      }
    }
    const reply = packet.encode({
      id: q.id,
      type: 'response',
      // RCODE 3 = NXDOMAIN for names the table does not hold at all.
      flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | (known ? 0 : 3),
      questions: q.questions,
      answers,
    })
    socket.send(reply, rinfo.port, rinfo.address)
  })
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r))
  server.address = `127.0.0.1:${socket.address().port}`
  return server
}
