/**
 * The worker thread of the Redis-backed shared state: it owns the Redis connections, runs each
 * request the main thread posts, and posts the answer back before waking the waiting main thread
 * (see `docs/adr/0001-synchronous-redis-state.md`). Kept as plain JavaScript source text run as an
 * `eval` worker, so that bundling (ES module and CommonJS builds) never rewrites it.
 * @module
 */

/**
 * CAS exactly as ABI §2.10: CAS 0 writes unconditionally; a new key is created whatever CAS is
 * given; every write draws from one global counter, from 1, skipping 0 when the u32 wraps.
 * KEYS: value hash, CAS counter. ARGV: value, CAS. Returns the new CAS, or 0 on a mismatch.
 * @internal
 */
export const CAS_SET_LUA = [
  "local want = tonumber(ARGV[2])",
  "if want ~= 0 then",
  "  local cur = redis.call('HGET', KEYS[1], 'c')",
  "  if cur and tonumber(cur) ~= want then return 0 end",
  "end",
  "local c = redis.call('INCR', KEYS[2]) % 4294967296",
  "if c == 0 then c = redis.call('INCR', KEYS[2]) % 4294967296 end",
  "redis.call('HSET', KEYS[1], 'v', ARGV[1], 'c', c)",
  "return c",
].join('\n')

/** Appends to a queue's list and tells every process (one atomic step). KEYS: list. ARGV: item, channel, message. @internal */
export const ENQUEUE_LUA = "redis.call('RPUSH', KEYS[1], ARGV[1])\nredis.call('PUBLISH', ARGV[2], ARGV[3])\nreturn 1"

/** Source text of the worker (CommonJS, run with `eval: true`). @internal */
export const WORKER_SOURCE = `
'use strict'
const { workerData, parentPort } = require('node:worker_threads')
const data = workerData
const m = require(data.ioredis)
const IoRedis = m.Redis || m.default || m
const t = data.target
const common = Object.assign({
  username: t.username || undefined,
  password: t.password || undefined,
  protocol: 2,
  maxRetriesPerRequest: 1,
}, t.tls ? { tls: {} } : {})
const connect = () => t.cluster
  ? new m.Cluster(t.nodes, { redisOptions: common })
  : new IoRedis(Object.assign({}, common, { host: t.nodes[0].host, port: t.nodes[0].port, db: t.db || 0 }))
const redis = connect()
const sub = connect()
let lastError = ''
redis.on('error', (err) => { lastError = err.message })
redis.on('ready', () => { lastError = '' })
sub.on('error', () => {})
const tag = data.prefix + ':{' + data.prefix + '}'
const casKey = tag + ':cas'
const channel = tag + ':qready'
// Length-prefixed vm_id, so that (vm "a:b", key "c") and (vm "a", key "b:c") never meet.
const key = (kind, vm, name) => Buffer.concat([
  Buffer.from(tag + ':' + kind + ':' + Buffer.byteLength(vm, 'latin1') + ':'),
  Buffer.from(vm, 'latin1'), Buffer.from(':'), Buffer.from(name, 'latin1'),
])
redis.defineCommand('pwhCasSet', { numberOfKeys: 2, lua: data.casLua })
redis.defineCommand('pwhEnqueue', { numberOfKeys: 1, lua: data.enqueueLua })
sub.subscribe(channel).catch(() => {})
sub.on('messageBuffer', (_ch, msg) => {
  const s = msg.toString('latin1')
  const i = s.indexOf('\\0')
  parentPort.postMessage({ ready: [s.slice(0, i), s.slice(i + 1)] })
})
const ops = {
  ping: () => redis.ping(),
  async get(vm, k) {
    const [v, c] = await redis.hmgetBuffer(key('sd', vm, k), 'v', 'c')
    return v === null ? null : { value: v, cas: Number(c) }
  },
  async set(vm, k, value, cas) {
    return Number(await redis.pwhCasSet(key('sd', vm, k), casKey, Buffer.from(value), cas)) !== 0
  },
  async register(vm, name) {
    await redis.set(key('qreg', vm, name), '1')
    return true
  },
  async resolve(vm, name) {
    return (await redis.exists(key('qreg', vm, name))) === 1
  },
  async enqueue(vm, name, value) {
    await redis.pwhEnqueue(key('q', vm, name), Buffer.from(value), channel, Buffer.from(vm + '\\0' + name, 'latin1'))
    return true
  },
  dequeue: (vm, name) => redis.lpopBuffer(key('q', vm, name)),
}
data.port.on('message', async (req) => {
  let res
  try {
    res = { seq: req.seq, ok: true, value: await ops[req.op](...req.args) }
  } catch (err) {
    res = { seq: req.seq, ok: false, error: err.message + (lastError && lastError !== err.message ? ' (' + lastError + ')' : '') }
  }
  // The answer is on the port before the waiting thread is woken.
  data.port.postMessage(res)
  Atomics.store(data.flag, 0, 1)
  Atomics.notify(data.flag, 0)
})
parentPort.on('message', (msg) => {
  if (msg === 'close') {
    redis.disconnect()
    sub.disconnect()
    data.port.close()
    parentPort.close()
  }
})
`
