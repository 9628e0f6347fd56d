// Makes the source maps in dist/ relocatable: tsup's CommonJS pass lists the intermediate file by
// its absolute path (the builder's directory); every absolute source becomes relative to its map.
// Fails when an absolute path of this machine is left anywhere in dist/. Runs after tsup in
// `npm run build`. Usage: node scripts/fix-sourcemaps.mjs [outDir]   (default: dist)
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(fileURLToPath(new URL('..', import.meta.url)))
const out = resolve(process.argv[2] ?? join(root, 'dist'))

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) yield* files(p)
    else yield p
  }
}

let fixed = 0
for (const file of files(out)) {
  if (!file.endsWith('.map')) continue
  const map = JSON.parse(readFileSync(file, 'utf8'))
  let changed = false
  map.sources = map.sources.map((s) => {
    if (!isAbsolute(s)) return s
    changed = true
    return relative(dirname(file), s).split('\\').join('/')
  })
  if (map.file && isAbsolute(map.file)) {
    map.file = relative(dirname(file), map.file).split('\\').join('/')
    changed = true
  }
  if (changed) {
    writeFileSync(file, JSON.stringify(map))
    fixed++
  }
}
for (const file of files(out)) {
  if (!/\.(js|cjs|map|ts|cts)$/.test(file)) continue
  if (readFileSync(file, 'utf8').includes(root)) {
    console.error(`fix-sourcemaps: ${relative(root, file)} still contains ${root}`)
    process.exit(1)
  }
}
console.log(`fix-sourcemaps: ${fixed} map(s) made relative`)
