/**
 * Hostcalls the ABI lists that this release answers with `Unimplemented` (12), as ngx_wasm_module's
 * `NYI` rows do: gRPC callouts and the Higress extensions not implemented yet. `docs/abi-support.md`
 * tracks them.
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
