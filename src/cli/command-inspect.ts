/**
 * The `inspect` command.
 * @module
 */
import { resolve } from 'node:path'
import type { Command } from './args.js'
import { formatReport, inspectWasm } from './inspect.js'

/** Options of `inspect`. @internal */
export interface InspectOptions {
  file: string
}

/** `proxy-wasm-host inspect`. @internal */
export const inspectCommand: Command<InspectOptions> = {
  name: 'inspect',
  summary: 'show ABI version, toolchain guess, imports, exports of a plugin',
  synopsis: '[options] <file.wasm>',
  description: 'Describes a plugin binary without running it.',
  positionals: { min: 1, max: 1, name: 'file.wasm' },
  groups: [],
  init: () => ({ file: '' }),
  async run(opts, args, env) {
    opts.file = resolve(env.cwd, args.positionals[0]!)
    process.stdout.write(formatReport(await inspectWasm(opts.file)))
  },
}
