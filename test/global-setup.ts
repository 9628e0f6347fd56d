// Builds the plugin fixtures before any test (skips what is up to date); a missing toolchain fails loudly.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export default function setup(): void {
  const script = fileURLToPath(new URL('../scripts/build-fixtures.mjs', import.meta.url))
  execFileSync(process.execPath, [script], { stdio: 'inherit' })
}
