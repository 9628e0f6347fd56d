/**
 * Refusals of bad hostcall arguments with a warn line naming the plugin, the hostcall and the value
 * (a refused header or status is otherwise invisible: the plugin usually ignores the result).
 * @module
 */
import { WasmResult } from '../../abi/enums.js'
import type { WasmVm } from '../vm.js'

/** Lines logged per (VM, hostcall) before further refusals are counted silently. */
const MAX_WARNINGS = 20
const counts = new WeakMap<WasmVm, Map<string, number>>()
const NAMES: Record<number, string> = Object.fromEntries(Object.entries(WasmResult).map(([k, v]) => [v, k]))

/**
 * Logs `hostcall: what` at warn for the plugin of `vm` (the first {@link MAX_WARNINGS} times per VM
 * and hostcall, then one line saying that later ones are not logged) and answers `result`.
 * @internal
 */
export function refuse(vm: WasmVm, hostcall: string, what: string, result: WasmResult = WasmResult.BadArgument): WasmResult {
  note(vm, hostcall, `${what}; answered ${NAMES[result]}`)
  return result
}

/** Logs `hostcall: what` at warn, with the same per-VM, per-hostcall cap as {@link refuse}. @internal */
export function note(vm: WasmVm, hostcall: string, what: string): void {
  let m = counts.get(vm)
  if (!m) counts.set(vm, (m = new Map()))
  const n = (m.get(hostcall) ?? 0) + 1
  m.set(hostcall, n)
  if (n > MAX_WARNINGS) return
  const tail = n === MAX_WARNINGS ? ` (further ${hostcall} warnings of this VM are not logged)` : ''
  vm.plugin.emitLog('warn', `${hostcall}: ${what}${tail}`, vm.effective?.id ?? 0, 'host')
}

/** A guest string for a log line: JSON-quoted (control characters visible), at most 80 characters. @internal */
export function shown(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s)
}
