/**
 * The worker thread of the Redis-backed shared state: it owns the Redis connections, runs each
 * request the main thread posts, and posts the answer back before waking the waiting main thread
 * (see `docs/adr/0001-synchronous-redis-state.md`). Kept as plain JavaScript source text run as an
 * `eval` worker, so that bundling (ES module and CommonJS builds) never rewrites it.
 * @module
 */

/**
 * CAS exactly as ABI §2.10: CAS 0 writes unconditionally; a new key is created whatever CAS is
 * given; every write draws from one global counter, from 1, skipping 0 when the u32 wraps. The
 * vm_id's key count and bytes (keys and values) are kept in a hash and held to the caps, refusing
 * only writes that would grow past one.
 * KEYS: value hash, CAS counter, the vm_id's size hash. ARGV: value, CAS, key bytes, max bytes,
 * max keys (0: no cap). Returns the new CAS, 0 on a mismatch, -1 past the bytes, -2 past the keys.
 * @internal
 */
export const CAS_SET_LUA = [
  "local want = tonumber(ARGV[2])",
  "local exists = redis.call('EXISTS', KEYS[1]) == 1",
  "if want ~= 0 and exists then",
  "  local cur = redis.call('HGET', KEYS[1], 'c')",
  "  if cur and tonumber(cur) ~= want then return 0 end",
  "end",
  "local klen = tonumber(ARGV[3])",
  "local grow = string.len(ARGV[1])",
  "if exists then grow = grow - redis.call('HSTRLEN', KEYS[1], 'v') else grow = grow + klen end",
  "local maxb, maxk = tonumber(ARGV[4]), tonumber(ARGV[5])",
  "if not exists and maxk > 0 and tonumber(redis.call('HGET', KEYS[3], 'k') or '0') >= maxk then return -2 end",
  "if grow > 0 and maxb > 0 and tonumber(redis.call('HGET', KEYS[3], 'b') or '0') + grow > maxb then return -1 end",
  "local c = redis.call('INCR', KEYS[2]) % 4294967296",
  "if c == 0 then c = redis.call('INCR', KEYS[2]) % 4294967296 end",
  "redis.call('HSET', KEYS[1], 'v', ARGV[1], 'c', c)",
  "if not exists then redis.call('HINCRBY', KEYS[3], 'k', 1) end",
  "if grow ~= 0 then redis.call('HINCRBY', KEYS[3], 'b', grow) end",
  "return c",
].join('\n')

/**
 * Registers a queue, held to the vm_id's caps when it is new (its name counts as bytes).
 * KEYS: registration key, the vm_id's queue size hash. ARGV: name bytes, max queues, max bytes.
 * Returns 1, -1 past the queues, -2 past the bytes. @internal
 */
export const REGISTER_LUA = [
  "if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end",
  "local n = tonumber(ARGV[1])",
  "local maxq, maxb = tonumber(ARGV[2]), tonumber(ARGV[3])",
  "if maxq > 0 and tonumber(redis.call('HGET', KEYS[2], 'q') or '0') >= maxq then return -1 end",
  "if maxb > 0 and tonumber(redis.call('HGET', KEYS[2], 'b') or '0') + n > maxb then return -2 end",
  "redis.call('SET', KEYS[1], '1')",
  "redis.call('HINCRBY', KEYS[2], 'q', 1)",
  "redis.call('HINCRBY', KEYS[2], 'b', n)",
  "return 1",
].join('\n')

/**
 * Appends to a queue's list and tells every process (one atomic step), held to the vm_id's caps.
 * KEYS: list, the vm_id's queue size hash. ARGV: item, channel, message, max items, max bytes.
 * Returns 1, -1 past the items, -2 past the bytes. @internal
 */
export const ENQUEUE_LUA = [
  "local len = string.len(ARGV[1])",
  "local maxi, maxb = tonumber(ARGV[4]), tonumber(ARGV[5])",
  "if maxi > 0 and tonumber(redis.call('HGET', KEYS[2], 'i') or '0') >= maxi then return -1 end",
  "if maxb > 0 and tonumber(redis.call('HGET', KEYS[2], 'b') or '0') + len > maxb then return -2 end",
  "redis.call('RPUSH', KEYS[1], ARGV[1])",
  "redis.call('HINCRBY', KEYS[2], 'i', 1)",
  "redis.call('HINCRBY', KEYS[2], 'b', len)",
  "redis.call('PUBLISH', ARGV[2], ARGV[3])",
  "return 1",
].join('\n')

/**
 * Takes the oldest item and takes it off the vm_id's counts (never below 0: items written before
 * the counts were kept are not in them). KEYS: list, the vm_id's queue size hash. @internal
 */
export const DEQUEUE_LUA = [
  "local v = redis.call('LPOP', KEYS[1])",
  "if not v then return v end",
  "if redis.call('HINCRBY', KEYS[2], 'i', -1) < 0 then redis.call('HSET', KEYS[2], 'i', 0) end",
  "if redis.call('HINCRBY', KEYS[2], 'b', -string.len(v)) < 0 then redis.call('HSET', KEYS[2], 'b', 0) end",
  "return v",
].join('\n')

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
redis.defineCommand('pwhCasSet', { numberOfKeys: 3, lua: data.casLua })
redis.defineCommand('pwhRegister', { numberOfKeys: 2, lua: data.registerLua })
redis.defineCommand('pwhEnqueue', { numberOfKeys: 2, lua: data.enqueueLua })
redis.defineCommand('pwhDequeue', { numberOfKeys: 2, lua: data.dequeueLua })
// Counts of a vm_id (shared data: keys, bytes; queues: queues, items, bytes), for the caps.
const sizes = (kind, vm) => key(kind, vm, '')
const LIMIT = { '-1': 'bytes', '-2': 'keys' }
const QLIMIT = { '-1': 'queues', '-2': 'bytes' }
const ILIMIT = { '-1': 'items', '-2': 'bytes' }
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
  async set(vm, k, value, cas, l) {
    const r = Number(await redis.pwhCasSet(key('sd', vm, k), casKey, sizes('sdn', vm), Buffer.from(value), cas,
      Buffer.byteLength(k, 'latin1'), l ? l.maxBytes : 0, l ? l.maxKeys : 0))
    return r < 0 ? LIMIT[r] : r !== 0
  },
  async register(vm, name, l) {
    const r = Number(await redis.pwhRegister(key('qreg', vm, name), sizes('qn', vm), Buffer.byteLength(name, 'latin1'),
      l ? l.maxQueues : 0, l ? l.maxBytes : 0))
    return r < 0 ? QLIMIT[r] : true
  },
  async resolve(vm, name) {
    return (await redis.exists(key('qreg', vm, name))) === 1
  },
  async enqueue(vm, name, value, l) {
    const r = Number(await redis.pwhEnqueue(key('q', vm, name), sizes('qn', vm), Buffer.from(value), channel,
      Buffer.from(vm + '\\0' + name, 'latin1'), l ? l.maxItems : 0, l ? l.maxBytes : 0))
    return r < 0 ? ILIMIT[r] : true
  },
  dequeue: (vm, name) => redis.pwhDequeueBuffer(key('q', vm, name), sizes('qn', vm)),
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
