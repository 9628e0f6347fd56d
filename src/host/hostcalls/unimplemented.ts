/**
 * Hostcalls the ABI lists that this release answers with `Unimplemented` (12), as ngx_wasm_module's
 * `NYI` rows do: gRPC callouts, shared data, shared queues, metrics, and the Higress
 * extensions. `docs/abi-support.md` tracks them.
 * @module
 */
import { WasmResult } from '../../abi/enums.js'
import type { Hostcall } from './util.js'

/** Names answered with `Unimplemented`. @internal */
export const UNIMPLEMENTED = [
  'proxy_grpc_call',
  'proxy_grpc_stream',
  'proxy_grpc_send',
  'proxy_grpc_cancel',
  'proxy_grpc_close',
  'proxy_get_shared_data',
  'proxy_set_shared_data',
  'proxy_register_shared_queue',
  'proxy_resolve_shared_queue',
  'proxy_enqueue_shared_queue',
  'proxy_dequeue_shared_queue',
  'proxy_define_metric',
  'proxy_increment_metric',
  'proxy_record_metric',
  'proxy_get_metric',
  'proxy_remove_metric',
  'proxy_redis_init',
  'proxy_redis_call',
  'proxy_inject_encoded_data_to_filter_chain',
] as const

/** @internal */
export function unimplementedHostcalls(): Record<string, Hostcall> {
  const out: Record<string, Hostcall> = {}
  for (const name of UNIMPLEMENTED) out[name] = () => WasmResult.Unimplemented
  // Imports C++ (Emscripten) modules carry; registered by cpp-host.
  out.emscripten_notify_memory_growth = () => undefined
  out.pthread_equal = ((a: number, b: number) => (a === b ? 1 : 0)) as Hostcall
  return out
}
