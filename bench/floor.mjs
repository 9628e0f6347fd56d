// The floor harness: a minimal proxy-wasm host, written for the benchmarks only, that runs the
// same module as proxy-wasm-host with the same guest-visible results and nothing around them. It
// makes the same copies into guest memory (values through the guest's allocator, maps serialized
// in the ABI pairs format), with the same checks on the way in (bounds, CR/LF/NUL in header names
// and values written by the guest, lower-cased names), and implements only what the benchmark
// fixtures call: header maps, logging (filtered by level), plugin configuration, a minimal WASI.
// No exchange, no contexts beyond an id, no failure handling: its cost is what a request cannot
// go below, and bench/hostcalls.mjs prints proxy-wasm-host's cost as a ratio to it.
const NOT_FOUND = 1
const BAD_ARGUMENT = 2
const INVALID_MEMORY = 6
const UNIMPLEMENTED = 12

/** Writes `s` (latin1) at `at`; returns the end. A loop for short strings, the native write for long ones. */
function writeLatin1(b, s, at) {
  if (s.length > 64) return at + b.latin1Write(s, at)
  for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i)
  return at + s.length
}

export class FloorHost {
  /**
   * @param module - a compiled module
   * @param opts - `config` (plugin configuration bytes), `logLevel` (lowest level passed on, default 3 = warn)
   */
  constructor(module, { config = Buffer.alloc(0), logLevel = 3 } = {}) {
    this.config = Buffer.isBuffer(config) ? config : Buffer.from(config)
    this.logLevel = logLevel
    this.lines = 0
    this.req = []
    this.res = []
    this.nextId = 1
    this.buf = Buffer.alloc(0)
    this.dv = new DataView(new ArrayBuffer(0))
    const env = this.#env()
    const wasi = this.#wasi()
    const imports = { env: {}, wasi_snapshot_preview1: wasi, wasi_unstable: wasi }
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.kind !== 'function') continue
      const ns = (imports[imp.module] ??= {})
      ns[imp.name] ??= imp.module === 'env' ? env[imp.name] ?? (() => UNIMPLEMENTED) : () => 52
    }
    this.instance = new WebAssembly.Instance(module, imports)
    const e = this.instance.exports
    this.memory = e.memory
    this.alloc = e.proxy_on_memory_allocate ?? e.malloc
    this.e = e
    if (typeof e._initialize === 'function') e._initialize()
    this.root = this.nextId++
    this.inConfigure = false
    e.proxy_on_context_create?.(this.root, 0)
    e.proxy_on_vm_start?.(this.root, 0)
    this.inConfigure = true
    e.proxy_on_configure?.(this.root, this.config.length)
    this.inConfigure = false
  }

  /** One request: context, request headers (end of stream), response headers (end of stream), log, done, delete. */
  request(requestKv, responseKv) {
    const e = this.e
    const id = this.nextId++
    this.req = requestKv.slice()
    this.res = responseKv.slice()
    e.proxy_on_context_create(id, this.root)
    e.proxy_on_request_headers(id, this.req.length >> 1, 1)
    e.proxy_on_response_headers(id, this.res.length >> 1, 1)
    e.proxy_on_log?.(id)
    e.proxy_on_done?.(id)
    e.proxy_on_delete?.(id)
  }

  /** The memory view, re-made after growth (a grown memory detaches the old buffer). */
  #mem() {
    if (this.buf.byteLength === 0 || this.buf.buffer !== this.memory.buffer) {
      this.buf = Buffer.from(this.memory.buffer)
      this.dv = new DataView(this.memory.buffer)
    }
    return this.buf
  }

  #map(type) {
    return type === 0 ? this.req : type === 2 ? this.res : undefined
  }

  /** Copies `len` bytes written by `fill(buf, at)` into a fresh guest block; stores address and size. */
  #out(len, ptrPtr, sizePtr, fill) {
    let b = this.#mem()
    if (ptrPtr + 4 > b.byteLength || sizePtr + 4 > b.byteLength) return INVALID_MEMORY
    if (len === 0) {
      this.dv.setUint32(ptrPtr, 0, true)
      this.dv.setUint32(sizePtr, 0, true)
      return 0
    }
    const ptr = this.alloc(len) >>> 0
    b = this.#mem()
    if (ptr === 0 || ptr + len > b.byteLength) return INVALID_MEMORY
    fill(b, ptr)
    this.dv.setUint32(ptrPtr, ptr, true)
    this.dv.setUint32(sizePtr, len, true)
    return 0
  }

  /** Guest bytes as latin1, `undefined` out of bounds, `false` when they hold CR, LF or NUL (`check`). */
  #text(ptr, len, check) {
    const b = this.#mem()
    ptr >>>= 0
    len >>>= 0
    if (ptr + len > b.byteLength) return undefined
    if (len <= 64) {
      // Short names and values: a loop is faster than a native decode call.
      let s = ''
      for (let i = ptr; i < ptr + len; i++) {
        const c = b[i]
        if (check && c < 14 && (c === 13 || c === 10 || c === 0)) return false
        s += String.fromCharCode(c)
      }
      return s
    }
    if (check) {
      for (let i = ptr; i < ptr + len; i++) {
        const c = b[i]
        if (c < 14 && (c === 13 || c === 10 || c === 0)) return false
      }
    }
    return b.latin1Slice(ptr, ptr + len)
  }

  #env() {
    const host = this
    return {
      proxy_log(level, ptr, len) {
        if (level > 5) return BAD_ARGUMENT
        const b = host.#mem()
        if ((ptr >>> 0) + (len >>> 0) > b.byteLength) return INVALID_MEMORY
        if (level < host.logLevel) return 0
        b.utf8Slice(ptr >>> 0, (ptr >>> 0) + (len >>> 0))
        host.lines++
        return 0
      },
      proxy_get_log_level(ptr) {
        host.#mem()
        host.dv.setUint32(ptr, host.logLevel, true)
        return 0
      },
      proxy_set_effective_context() {
        return 0
      },
      proxy_get_buffer_bytes(type, start, max, ptrPtr, sizePtr) {
        if (type !== 7 || !host.inConfigure) return NOT_FOUND
        const c = host.config.subarray(start, start + max)
        return host.#out(c.length, ptrPtr, sizePtr, (b, at) => c.copy(b, at))
      },
      proxy_get_header_map_value(type, kp, kl, ptrPtr, sizePtr) {
        const key = host.#text(kp, kl, false)
        if (key === undefined) return INVALID_MEMORY
        const kv = host.#map(type)
        if (!kv) return BAD_ARGUMENT
        for (let i = 0; i < kv.length; i += 2) {
          if (kv[i] === key) {
            const v = kv[i + 1]
            return host.#out(v.length, ptrPtr, sizePtr, (b, at) => writeLatin1(b, v, at))
          }
        }
        return NOT_FOUND
      },
      proxy_get_header_map_pairs(type, ptrPtr, sizePtr) {
        const kv = host.#map(type)
        if (!kv) return BAD_ARGUMENT
        const n = kv.length >> 1
        let size = 4
        for (let i = 0; i < kv.length; i++) size += kv[i].length + 5
        if (n === 0) size = 0
        return host.#out(size, ptrPtr, sizePtr, (b, at) => {
          const dv = host.dv
          dv.setUint32(at, n, true)
          let p = at + 4 + 8 * n
          for (let i = 0; i < n; i++) {
            const k = kv[2 * i]
            const v = kv[2 * i + 1]
            dv.setUint32(at + 4 + 8 * i, k.length, true)
            dv.setUint32(at + 8 + 8 * i, v.length, true)
            p = writeLatin1(b, k, p)
            b[p++] = 0
            p = writeLatin1(b, v, p)
            b[p++] = 0
          }
        })
      },
      proxy_add_header_map_value(type, kp, kl, vp, vl) {
        const k = host.#text(kp, kl, true)
        const v = host.#text(vp, vl, true)
        if (k === undefined || v === undefined) return INVALID_MEMORY
        if (k === false || v === false) return BAD_ARGUMENT
        const kv = host.#map(type)
        if (!kv) return BAD_ARGUMENT
        kv.push(k.toLowerCase(), v)
        return 0
      },
      proxy_replace_header_map_value(type, kp, kl, vp, vl) {
        const k0 = host.#text(kp, kl, true)
        const v = host.#text(vp, vl, true)
        if (k0 === undefined || v === undefined) return INVALID_MEMORY
        if (k0 === false || v === false) return BAD_ARGUMENT
        const kv = host.#map(type)
        if (!kv) return BAD_ARGUMENT
        const k = k0.toLowerCase()
        let found = false
        let w = 0
        for (let r = 0; r < kv.length; r += 2) {
          if (kv[r] === k) {
            if (found) continue
            found = true
            kv[w] = k
            kv[w + 1] = v
          } else if (w !== r) {
            kv[w] = kv[r]
            kv[w + 1] = kv[r + 1]
          }
          w += 2
        }
        kv.length = w
        if (!found) kv.push(k, v)
        return 0
      },
      proxy_remove_header_map_value(type, kp, kl) {
        const k0 = host.#text(kp, kl, false)
        if (k0 === undefined) return INVALID_MEMORY
        const kv = host.#map(type)
        if (!kv) return BAD_ARGUMENT
        const k = k0.toLowerCase()
        let w = 0
        for (let r = 0; r < kv.length; r += 2) {
          if (kv[r] === k) continue
          kv[w] = kv[r]
          kv[w + 1] = kv[r + 1]
          w += 2
        }
        kv.length = w
        return 0
      },
    }
  }

  #wasi() {
    const host = this
    const u32 = (ptr, v) => {
      host.#mem()
      host.dv.setUint32(ptr, v, true)
    }
    return {
      fd_write(fd, iovs, n, ret) {
        host.#mem()
        let total = 0
        for (let i = 0; i < n; i++) total += host.dv.getUint32(iovs + 8 * i + 4, true)
        u32(ret, total)
        return 0
      },
      fd_close: () => 0,
      fd_seek: () => 0,
      fd_fdstat_get: () => 0,
      fd_prestat_get: () => 8,
      fd_prestat_dir_name: () => 52,
      environ_sizes_get(count, size) {
        u32(count, 0)
        u32(size, 0)
        return 0
      },
      environ_get: () => 0,
      args_sizes_get(count, size) {
        u32(count, 0)
        u32(size, 0)
        return 0
      },
      args_get: () => 0,
      clock_time_get(id, _precision, ret) {
        host.#mem()
        const ns = id === 0 ? BigInt(Date.now()) * 1000000n : process.hrtime.bigint()
        host.dv.setBigUint64(ret, ns, true)
        return 0
      },
      random_get(ptr, len) {
        const b = host.#mem()
        for (let i = 0; i < len; i++) b[ptr + i] = (Math.random() * 256) | 0
        return 0
      },
      sched_yield: () => 0,
      poll_oneoff(_in, _out, _n, ret) {
        u32(ret, 0)
        return 0
      },
      proc_exit(code) {
        throw new Error(`proc_exit(${code})`)
      },
    }
  }
}
