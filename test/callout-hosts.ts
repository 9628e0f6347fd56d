// Hosts for callout tests: logs collected, every host closed (connections and resolvers too) after each test.
import { afterEach } from 'vitest'
import { WasmPluginHost } from '../src/host/host.js'
import type { LogLine } from './helpers.js'
import { closeAll } from './servers.js'

/** Call at the top level of a test file: `const newHost = calloutHosts()`. */
export function calloutHosts(): (opts?: ConstructorParameters<typeof WasmPluginHost>[0]) => { host: WasmPluginHost; logs: LogLine[] } {
  const hosts: WasmPluginHost[] = []
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.close()))
    await closeAll()
  })
  return (opts = {}) => {
    const logs: LogLine[] = []
    const host = new WasmPluginHost({ ...opts, logger: { level: 'trace', log: (l, m, s) => logs.push({ level: l, message: m, plugin: s.plugin, origin: s.origin }) } })
    hosts.push(host)
    return { host, logs }
  }
}
