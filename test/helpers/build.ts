// A private build of the package (what `npm run build` makes) for tests that run it in child
// processes: other work in the repository may rebuild or clean dist/ while tests run. Without type
// declarations (children only run the JavaScript), which is most of the build time.
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

/** Builds into `node_modules/.cache/<name>/<pid>` and returns that folder (its `dist/` inside). */
export function privateBuild(name: string, withDemo = false): { dir: string; dist: string; remove: () => void } {
  const dir = join(repoRoot, 'node_modules/.cache', name, String(process.pid))
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  // Keeps dist/ an ES module scope, as the package's own "type": "module" does.
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
  execFileSync(process.execPath, [join(repoRoot, 'node_modules/tsup/dist/cli-default.js'), '--out-dir', join(dir, 'dist'), '--no-dts'], { cwd: repoRoot, stdio: 'pipe' })
  if (withDemo) execFileSync(process.execPath, [join(repoRoot, 'scripts/build-demo.mjs'), join(dir, 'dist')], { cwd: repoRoot, stdio: 'pipe' })
  return { dir, dist: join(dir, 'dist'), remove: () => rmSync(dir, { recursive: true, force: true }) }
}
