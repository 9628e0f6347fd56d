/**
 * Higress upstream hostcalls (ABI §2.15): `proxy_get_upstream_hosts` lists the endpoints of the
 * request's upstream cluster (property `cluster_name`) as the host's resolvers last saw them, as
 * pairs `ip:port` → metrics text (empty here); `proxy_set_upstream_override_host` pins the request to
 * one endpoint (the gateway adapter honours it when the endpoint belongs to the cluster).
 * @module
 */
import { WasmResult } from '../../../abi/enums.js'
import { splitHostPort } from '../../../upstream/cluster-name.js'
import type { WasmVm } from '../../vm.js'
import { asStream, type Hostcall } from '../util.js'

/** @internal */
export function upstreamHostcalls(vm: WasmVm): Record<string, Hostcall> {
  const mem = vm.memory
  return {
    proxy_get_upstream_hosts: (ptrPtr: number, sizePtr: number) => {
      const cluster = asStream(vm.effective)?.http.info.cluster
      const hosts = cluster === undefined ? undefined : vm.plugin.services.upstreams?.hosts(cluster)
      return vm.copyFlatPairsOut((hosts ?? []).flatMap((h) => [h, '']), ptrPtr, sizePtr)
    },
    proxy_set_upstream_override_host: (ptr: number, len: number) => {
      const addr = mem.latin1(ptr, len)
      if (addr === undefined) return WasmResult.InvalidMemoryAccess
      const s = asStream(vm.effective)
      const hp = splitHostPort(addr)
      if (!s || !hp || hp.port === undefined) return WasmResult.BadArgument
      s.http.upstreamOverrideHost = addr
      return WasmResult.Ok
    },
  }
}
