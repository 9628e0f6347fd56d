/**
 * The rewriter side of start-up snapshots (`docs/adr/0023-vm-start.md`): which modules a snapshot
 * can stand for, and a pass exporting their mutable globals.
 *
 * A snapshot is the linear memory and the mutable globals of a VM right after its start-up code.
 * It stands for the whole state of a later VM only when nothing else carries state: no imported
 * memory, table or global (another instance's), one defined memory (not shared, 32-bit), mutable
 * globals of number types only (JS reads and writes them; a `v128` or reference global cannot be
 * carried over), no instruction that writes a table (`table.set`, `table.grow`, `table.fill`,
 * `table.copy`, `table.init`, `elem.drop`: tables are then what the element segments make them),
 * and no data count section (`memory.init` / `data.drop` would depend on which segments start-up
 * dropped).
 * @module
 */
import { Reader, RewriteError } from './bytes.js'
import { readInstr, skipLocals, skipValType, type InstrIndex } from './code.js'
import type { RewritePass } from './rewrite.js'
import type { ValType, WasmModule } from './module.js'

/** What a snapshot of a module carries besides memory: its mutable globals, by export name. @internal */
export interface SnapshotLayout {
  /** Export names of the module's mutable globals, in global index order. */
  globals: string[]
}

/** Prefix of the exports {@link snapshotExportsPass} adds. @internal */
export const SNAPSHOT_GLOBAL_PREFIX = '__pwh_g'

/**
 * A pass exporting every mutable global of the module that is not exported yet (as
 * `__pwh_g<index>`), when the module qualifies for snapshots; `result()` then tells the export
 * name of each mutable global, or why the module does not qualify. Globals added by later passes
 * (the fuel counter) are not exported: a snapshot start gets them fresh.
 * @internal
 */
export function snapshotExportsPass(): RewritePass & { result(): SnapshotLayout | string } {
  let layout: SnapshotLayout | string = 'not decoded'
  let mutable: number[] = []
  return {
    name: 'snapshot-exports',
    changesCode: false,
    declare(ctx) {
      let why: number[] | string
      try {
        why = disqualified(ctx.module.bytes, ctx.module)
      } catch (err) {
        // The other passes decide whether the module can be rewritten at all.
        why = `its code did not decode (${(err as Error).message})`
      }
      if (typeof why === 'string') {
        layout = why
        return
      }
      mutable = why
      const names = new Set(ctx.module.exports.map((e) => e.name))
      const globals: string[] = []
      for (const index of mutable) {
        const existing = ctx.module.exports.find((e) => e.kind === 3 && e.index === index)
        if (existing) {
          globals.push(existing.name)
          continue
        }
        let name = `${SNAPSHOT_GLOBAL_PREFIX}${index}`
        while (names.has(name)) name += '_'
        names.add(name)
        globals.push(name)
      }
      layout = { globals }
    },
    finish(ctx) {
      if (typeof layout === 'string') return
      const exported = new Set(ctx.module.exports.filter((e) => e.kind === 3).map((e) => e.index))
      mutable.forEach((index, k) => {
        if (!exported.has(index)) ctx.addExport({ name: (layout as SnapshotLayout).globals[k]!, kind: 3, index })
      })
    },
    result: () => layout,
  }
}

/** The indices of the module's mutable globals, or why it cannot be snapshotted. */
function disqualified(bytes: Uint8Array, m: WasmModule): number[] | string {
  const imported = m.imports.find((i) => i.kind !== 0)
  if (imported) return `it imports ${['a function', 'a table', 'its memory', 'a global', 'a tag'][imported.kind] ?? 'something'} (${imported.module}.${imported.name})`
  if (m.memories.length !== 1) return `it defines ${m.memories.length} memories`
  if (m.memories[0]!.shared || m.memories[0]!.memory64) return 'its memory is shared or 64-bit'
  if (m.sections.some((s) => s.id === 12)) return 'it has passive data segments (a data count section)'
  const mutable: number[] = []
  for (const s of m.sections) {
    const r = new Reader(bytes, s.start, s.end)
    if (s.id === 6) {
      const n = r.u32()
      for (let i = 0; i < n; i++) {
        const type = VALTYPES[r.bytes[r.pos]!]
        skipValType(r)
        const isMutable = r.byte() === 1
        skipConstExpr(r)
        if (!isMutable) continue
        if (!type) return `global ${i} is a mutable global of a type JS cannot carry over`
        mutable.push(i)
      }
    } else if (s.id === 10) {
      const why = tableWrites(r)
      if (why) return why
    }
  }
  return mutable
}

const VALTYPES: Record<number, ValType> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64' }

function skipConstExpr(r: Reader): void {
  const idx: InstrIndex = { index: -1 }
  for (;;) if (readInstr(r, idx) === 0x0b) return
}

/** Names the first table-writing instruction of the code section at `r`, if any. */
function tableWrites(r: Reader): string | undefined {
  const idx: InstrIndex = { index: -1 }
  const n = r.u32()
  for (let i = 0; i < n; i++) {
    const size = r.u32()
    const end = r.pos + size
    skipLocals(r)
    while (r.pos < end) {
      const op = readInstr(r, idx)
      if (op === 0x26) return `function ${i} writes a table (table.set)`
      if (op === 0xfc && TABLE_WRITES[idx.index]) return `function ${i} writes a table (${TABLE_WRITES[idx.index]})`
    }
    if (r.pos !== end) throw new RewriteError(`function body ${i} does not end at its size`)
  }
  return undefined
}

const TABLE_WRITES: Record<number, string> = { 12: 'table.init', 13: 'elem.drop', 14: 'table.copy', 15: 'table.grow', 17: 'table.fill' }
