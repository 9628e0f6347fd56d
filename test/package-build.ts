// Builds the package as `npm run build` does (tsup, source-map fix, demo plugin) into a private
// directory: other work in the repository may rebuild or clean dist/ while tests run.
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root. */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url))

/**
 * Builds into `<outDir>/dist`; a package.json there keeps dist/ an ES module scope, as the
 * package's own "type": "module" does.
 */
export function buildPackageInto(outDir: string): void {
  rmSync(outDir, { recursive: true, force: true })
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, 'package.json'), '{ "type": "module" }\n')
  const dist = join(outDir, 'dist')
  const node = (args: string[]) => execFileSync(process.execPath, args, { cwd: repoRoot, stdio: 'pipe' })
  node([join(repoRoot, 'node_modules/tsup/dist/cli-default.js'), '--out-dir', dist])
  node([join(repoRoot, 'scripts/fix-sourcemaps.mjs'), dist])
  node([join(repoRoot, 'scripts/build-demo.mjs'), dist])
}
