/**
 * Which functions need a fuel check of their own. Unbounded work needs a loop or a cycle of calls;
 * loops are checked at their heads, so entry checks are needed only to break every cycle of direct
 * calls (recursion), and for functions reachable other than by a direct call (table elements,
 * `ref.func`: an indirect call site cannot pay for its target). Every other function runs a bounded
 * amount of straight-line code per entry, which its callers pay for: its cost is its size plus the
 * cost of the unchecked functions it calls directly.
 * @module
 */
import type { FunctionInfo } from './module.js'

/** Per defined function: whether it is checked at entry, and the cost a direct call to it adds. @internal */
export interface CheckPlan {
  checked: boolean[]
  /** For unchecked functions: size plus the cost of unchecked direct callees (0 for checked ones). */
  cost: number[]
}

const MAX_COST = 0x3fffffff
/** Largest cost a function passes on to its callers; a costlier callee is checked at its own entry. */
const CALLER_PAYS_UP_TO = 4096

/**
 * Plans the checks of the defined functions `fns` (imported functions are the host's: they are
 * bounded by the host and cost nothing here). Every cycle of direct calls must hold a checked
 * function: a depth-first search (from the exports first, where calls come from) marks the target
 * of each back edge — every cycle has one — so recursion is checked where it is entered, and the
 * hot helpers it calls are not.
 * @param importedFuncs - number of imported functions (defined function `i` has index `importedFuncs + i`)
 * @param roots - defined function numbers to start the search from (the exports)
 * @internal
 */
export function planChecks(fns: readonly FunctionInfo[], importedFuncs: number, roots: readonly number[] = []): CheckPlan {
  const n = fns.length
  const edges = fns.map((f) => f.scan.callees.filter((c) => c >= importedFuncs).map((c) => c - importedFuncs))
  const checked = fns.map((f) => f.indirect)
  // 0 unvisited, 1 on the search path, 2 done
  const state = new Uint8Array(n)
  const search = (root: number) => {
    if (state[root] !== 0) return
    const work: Array<[node: number, edge: number]> = [[root, 0]]
    state[root] = 1
    while (work.length) {
      const frame = work[work.length - 1]!
      const [v, e] = frame
      const out = edges[v]!
      if (e < out.length) {
        frame[1]++
        const w = out[e]!
        if (state[w] === 0) {
          state[w] = 1
          work.push([w, 0])
        } else if (state[w] === 1) {
          checked[w] = true // back edge: w starts a cycle
        }
        continue
      }
      state[v] = 2
      work.pop()
    }
  }
  for (const r of roots) if (r >= 0 && r < n) search(r)
  for (let i = 0; i < n; i++) search(i)
  // Costs of unchecked functions: with checked ones (cost 0) cut out, the graph has no cycle left.
  const cost = new Array<number>(n).fill(-1)
  for (let root = 0; root < n; root++) {
    if (cost[root] !== -1) continue
    const work: Array<[node: number, edge: number]> = [[root, 0]]
    while (work.length) {
      const frame = work[work.length - 1]!
      const [v, e] = frame
      if (checked[v]) {
        cost[v] = 0
        work.pop()
        continue
      }
      const out = edges[v]!
      if (e < out.length) {
        frame[1]++
        const w = out[e]!
        if (cost[w] === -1 && !checked[w]) work.push([w, 0])
        continue
      }
      let c = fns[v]!.size
      for (const w of out) c += checked[w] ? 0 : cost[w]!
      if (c > CALLER_PAYS_UP_TO) {
        // A static bound grows with every path through the callees (a callee called twice counts
        // twice): past the threshold the most costly callees check themselves instead.
        const heavy = out.filter((w) => !checked[w]).sort((a, b) => cost[b]! - cost[a]!)
        for (const w of heavy) {
          if (c <= CALLER_PAYS_UP_TO) break
          c -= cost[w]!
          checked[w] = true
          cost[w] = 0
        }
      }
      cost[v] = Math.min(c, MAX_COST)
      work.pop()
    }
  }
  return { checked, cost }
}
