/**
 * `proxy-wasm-host/redis`: the Redis bridge behind the Higress `proxy_redis_*` hostcalls, for
 * embedders who build it themselves (the host builds one from its `redis` option otherwise), and
 * the RESP framing helpers it uses.
 * @module
 */
export { createRedisBridge } from './bridge.js'
export type { RedisOptions, RedisTarget, RedisBridgeDeps, ResolvedRedisCluster } from './bridge.js'
export { frameEnd, parseCommand } from './resp.js'
export type { ParsedCommand } from './resp.js'
