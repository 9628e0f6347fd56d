/**
 * The default sandboxed WASI (`wasi_snapshot_preview1`, also bound as `wasi_unstable`), matching what
 * plugins were tested on in Envoy (ABI §9): no files, no sockets, stdout/stderr become log lines,
 * clocks and randomness from Node, environment and arguments only from options, `proc_exit` fails
 * the VM (never the process).
 * @module
 */
import { randomFillSync } from 'node:crypto'
import { WasiErrno } from '../../abi/enums.js'
import { WASI_RANDOM_GET_MAX_BYTES } from '../../abi/limits.js'
import type { GuestMemory } from '../../abi/memory.js'
import type { Clock } from '../clock.js'

/** Thrown by `proc_exit` to unwind the guest; the VM is marked failed. @internal */
export class ProcExit extends Error {
  constructor(readonly exitCode: number) {
    super(`plugin called proc_exit(${exitCode})`)
    this.name = 'ProcExit'
  }
}

/** What the sandbox needs from its VM. @internal */
export interface WasiHostSide {
  memory(): GuestMemory
  write(fd: 1 | 2, text: string): void
  /**
   * Receives stdout/stderr as bytes instead of {@link WasiHostSide.write} (views into guest
   * memory: copy what you keep). Used by the host's line buffer, which never builds a string
   * longer than a log line, however much the plugin writes.
   */
  writeBytes?(fd: 1 | 2, bytes: Uint8Array): void
  env: readonly string[]
  args: readonly string[]
  /** Time source of WASI clocks 0 (realtime) and 1 (monotonic). */
  clock: Clock
}

const utf8 = new TextDecoder()
const enc = new TextEncoder()
const { SUCCESS, BADF, NOTDIR, FAULT, INVAL, NOENT, NOSYS, NOTSUP } = WasiErrno
const isStd = (fd: number) => fd === 1 || fd === 2

/** The sandboxed WASI functions, by name. @internal */
export function createSandboxWasi(h: WasiHostSide): Record<string, (...args: never[]) => number | void> {
  const gather = (iovs: number, n: number): string | undefined => {
    const mem = h.memory()
    let out = ''
    for (let i = 0; i < n; i++) {
      const buf = mem.getU32(iovs + 8 * i)
      const len = mem.getU32(iovs + 8 * i + 4)
      if (buf === undefined || len === undefined) return undefined
      const v = mem.view(buf, len)
      if (v === undefined) return undefined
      out += utf8.decode(v)
    }
    return out
  }
  const total = (iovs: number, n: number): number => {
    let t = 0
    for (let i = 0; i < n; i++) t += h.memory().getU32(iovs + 8 * i + 4) ?? 0
    return t
  }
  const write = (fd: number, iovs: number, n: number, retPtr: number): number => {
    if (!isStd(fd)) return BADF
    if (h.writeBytes) return writeBytes(fd as 1 | 2, iovs, n, retPtr, h.writeBytes)
    const text = gather(iovs, n)
    if (text === undefined) return FAULT
    if (!h.memory().setU32(retPtr, total(iovs, n))) return FAULT
    h.write(fd as 1 | 2, text)
    return SUCCESS
  }
  const writeBytes = (fd: 1 | 2, iovs: number, n: number, retPtr: number, sink: (fd: 1 | 2, b: Uint8Array) => void): number => {
    const mem = h.memory()
    n >>>= 0
    let sum = 0
    // Every iovec is checked before anything is written (a bad one is FAULT, nothing logged).
    for (let i = 0; i < n; i++) {
      const buf = mem.getU32(iovs + 8 * i)
      const len = mem.getU32(iovs + 8 * i + 4)
      if (buf === undefined || len === undefined || !mem.inBounds(buf, len)) return FAULT
      sum += len
    }
    if (!mem.setU32(retPtr, sum)) return FAULT
    for (let i = 0; i < n; i++) sink(fd, mem.view(mem.getU32(iovs + 8 * i)!, mem.getU32(iovs + 8 * i + 4)!)!)
    return SUCCESS
  }
  const strings = (list: readonly string[]) => list.map((s) => enc.encode(s + '\0'))
  const sizes = (list: readonly string[], countPtr: number, sizePtr: number): number => {
    const bytes = strings(list)
    const mem = h.memory()
    return mem.setU32(countPtr, bytes.length) && mem.setU32(sizePtr, bytes.reduce((a, b) => a + b.byteLength, 0)) ? SUCCESS : FAULT
  }
  const fill = (list: readonly string[], ptrs: number, buf: number): number => {
    const mem = h.memory()
    let at = buf >>> 0
    let i = 0
    for (const b of strings(list)) {
      if (!mem.setU32(ptrs + 4 * i++, at) || !mem.set(at, b)) return FAULT
      at += b.byteLength
    }
    return SUCCESS
  }
  const std = (fd: number) => (isStd(fd) ? SUCCESS : BADF)
  return {
    fd_write: (fd: number, iovs: number, n: number, ret: number) => write(fd, iovs, n, ret),
    fd_pwrite: (fd: number, iovs: number, n: number, _off: bigint, ret: number) => write(fd, iovs, n, ret),
    fd_read: () => NOSYS,
    fd_pread: () => NOSYS,
    fd_seek: () => SUCCESS,
    fd_close: () => SUCCESS,
    fd_tell: (fd: number, ret: number) => (isStd(fd) ? (h.memory().setU64(ret, 0n) ? SUCCESS : FAULT) : BADF),
    fd_fdstat_get: (fd: number, ret: number) => {
      if (!isStd(fd)) return BADF
      const mem = h.memory()
      // filetype 0, flags 0, rights_base FD_WRITE (64), rights_inheriting 0 (24 bytes)
      if (!mem.set(ret, new Uint8Array(24))) return FAULT
      mem.setU64(ret + 8, 64n)
      return SUCCESS
    },
    fd_fdstat_set_flags: () => NOSYS,
    fd_fdstat_set_rights: (fd: number) => std(fd),
    fd_filestat_get: () => BADF,
    fd_filestat_set_size: (fd: number) => std(fd),
    fd_filestat_set_times: (fd: number) => std(fd),
    fd_advise: () => SUCCESS,
    fd_allocate: (fd: number) => std(fd),
    fd_datasync: (fd: number) => std(fd),
    fd_sync: (fd: number) => std(fd),
    fd_readdir: (_fd: number, _b: number, _l: number, _c: bigint, ret: number) => (h.memory().setU32(ret, 0), NOTDIR),
    fd_renumber: (fd: number, to: number) => (isStd(fd) && isStd(to) ? NOTSUP : BADF),
    // BADF for every fd ends the preopen scan of Go's and wasi-libc's start-up (ABI §9.2).
    fd_prestat_get: () => BADF,
    fd_prestat_dir_name: () => NOSYS,
    path_open: () => NOENT,
    path_filestat_get: () => NOTSUP,
    path_create_directory: () => NOTSUP,
    path_remove_directory: () => NOTSUP,
    path_unlink_file: () => NOTSUP,
    path_filestat_set_times: () => NOTSUP,
    path_link: () => NOTSUP,
    path_readlink: (_fd: number, _p: number, _l: number, _b: number, _bl: number, ret: number) => (h.memory().setU32(ret, 0), NOTSUP),
    path_rename: () => NOTSUP,
    path_symlink: () => NOTSUP,
    sock_accept: (_fd: number, _f: number, ret: number) => (h.memory().setU32(ret, 0), NOTSUP),
    sock_recv: (_fd: number, _d: number, _l: number, _f: number, ret: number, oflags: number) => (h.memory().setU32(ret, 0), h.memory().setU32(oflags, 0), NOTSUP),
    sock_send: (_fd: number, _d: number, _l: number, _f: number, ret: number) => (h.memory().setU32(ret, 0), NOTSUP),
    sock_shutdown: () => NOTSUP,
    clock_time_get: (id: number, _precision: bigint, ret: number) => {
      if (id !== 0 && id !== 1) return NOTSUP
      return h.memory().setU64(ret, id === 0 ? h.clock.realtimeNs() : h.clock.monotonicNs()) ? SUCCESS : FAULT
    },
    clock_res_get: (id: number, ret: number) => (id === 0 || id === 1 ? (h.memory().setU64(ret, 1n) ? SUCCESS : FAULT) : NOTSUP),
    random_get: (buf: number, len: number) => {
      len >>>= 0
      if (len > WASI_RANDOM_GET_MAX_BYTES) return INVAL
      const v = h.memory().view(buf, len)
      if (v === undefined) return FAULT
      fillRandom(v)
      return SUCCESS
    },
    environ_sizes_get: (count: number, size: number) => sizes(h.env, count, size),
    environ_get: (ptrs: number, buf: number) => fill(h.env, ptrs, buf),
    args_sizes_get: (count: number, size: number) => sizes(h.args, count, size),
    args_get: (ptrs: number, buf: number) => fill(h.args, ptrs, buf),
    sched_yield: () => SUCCESS,
    // Returns at once with no events: Go's runtime calls it to sleep, even while allocating (ABI §9.2).
    poll_oneoff: (_in: number, _out: number, _n: number, ret: number) => (h.memory().setU32(ret, 0) ? SUCCESS : FAULT),
    proc_exit: (code: number): void => {
      throw new ProcExit(code)
    },
    proc_raise: () => NOSYS,
  }
}

// Small reads (Go's crypto/rand asks for 16 bytes per UUID) come from a pool refilled 4 KiB at a
// time: one randomFillSync costs ~4 µs whatever its size (bench/callout.mjs profile). Node's
// crypto.randomUUID buffers its entropy the same way.
const RANDOM_POOL_BYTES = 4096
const randomPool = Buffer.allocUnsafe(RANDOM_POOL_BYTES)
let randomPos = RANDOM_POOL_BYTES

function fillRandom(v: Uint8Array): void {
  if (v.byteLength > 256) {
    randomFillSync(v)
    return
  }
  if (randomPos + v.byteLength > RANDOM_POOL_BYTES) {
    randomFillSync(randomPool)
    randomPos = 0
  }
  v.set(randomPool.subarray(randomPos, randomPos + v.byteLength))
  // Each byte is handed out once.
  randomPool.fill(0, randomPos, randomPos + v.byteLength)
  randomPos += v.byteLength
}
