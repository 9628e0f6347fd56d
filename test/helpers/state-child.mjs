// A separate Node process using the built package with the Redis-backed shared state, driven by
// the tests: `node state-child.mjs '<json>'` with { dist, redis, wasm, mode, n, config, vmId }.
//   incr: waits for "go" on stdin, then runs n CAS-retry increments of key "counter" through the
//         shared-data plugin; prints "done <n> retries=<sum>" and exits
//   rx:   loads the shared-queue plugin as receiver, prints "ready", then prints every plugin log line
//   tx:   loads the shared-queue plugin as sender, enqueues each line read on stdin, prints "enqueued <body>"
import { createInterface } from 'node:readline'
const spec = JSON.parse(process.argv[2])
const { WasmPluginHost, PluginPipeline, createRedisSharedState } = await import(`${spec.dist}/index.js`)
const state = createRedisSharedState({ redis: spec.redis, keyPrefix: spec.prefix })
const host = new WasmPluginHost({
  sharedData: state.sharedData,
  sharedQueues: state.sharedQueues,
  logger: { level: 'info', log: (level, message) => console.log(`log ${level} ${message}`) },
})
const plugin = await host.load({ wasm: spec.wasm, vmId: spec.vmId ?? '', config: spec.config ?? {} })
const pipeline = new PluginPipeline(host, { plugins: [plugin] })
const call = async (headers) => {
  const ex = pipeline.exchange({ path: '/', authority: 'example.com', headers })
  const r = await ex.requestHeaders(true)
  ex.done()
  return r.localResponse
}
const lines = createInterface({ input: process.stdin })
if (spec.mode === 'incr') {
  for await (const line of lines) if (line === 'go') break
  let retries = 0
  for (let i = 0; i < spec.n; i++) {
    const r = await call({ 'x-op': 'incr', 'x-key': 'counter' })
    if (r?.status !== 200) throw new Error(`increment failed: ${r?.status} ${r?.body}`)
    retries += Number(r.headers.get('x-retries') ?? 0)
  }
  console.log(`done ${spec.n} retries=${retries}`)
  host.close()
  state.close()
  process.exit(0)
} else if (spec.mode === 'rx') {
  console.log('ready')
  for await (const line of lines) if (line === 'exit') break
  host.close()
  state.close()
  process.exit(0)
} else {
  console.log('ready')
  for await (const line of lines) {
    if (line === 'exit') break
    const r = await call({ 'x-enqueue': line })
    console.log(`${r?.status} ${Buffer.from(r?.body ?? '').toString()}`)
  }
  host.close()
  state.close()
  process.exit(0)
}
