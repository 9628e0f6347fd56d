/**
 * Load-time rewriting of plugin modules: a small WebAssembly decoder/encoder, composable passes, and
 * the passes the host uses for isolation (fuel for the CPU limit, the memory cap). See
 * `docs/adr/0001-cpu-limit.md`.
 * @module
 */
export { Reader, RewriteError, Writer } from './bytes.js'
export { copyExpr, emitSnippet, type ExprEdits, type FuncRemap, type Snippet } from './code.js'
export { WasmModule, type ExportEntry, type FuncType, type ImportEntry, type MemoryLimits, type ValType } from './module.js'
export { FUEL_IMPORT, fuelPass, memoryCapPass } from './passes.js'
export { rewriteModule, type RewriteContext, type RewritePass } from './rewrite.js'
export { SNAPSHOT_GLOBAL_PREFIX, snapshotExportsPass, type SnapshotLayout } from './snapshot.js'
