/**
 * The `inspect` command.
 * @module
 */
import { resolve } from 'node:path'
import type { Command } from './args.js'
import { formatReport, inspectWasm } from './inspect.js'

/** Options of `inspect`. @internal */
export interface InspectOptions {
  /** `--json`. */
  json: boolean
}

/** `proxy-wasm-host inspect`. @internal */
export const inspectCommand: Command<InspectOptions> = {
  name: 'inspect',
  summary: 'show ABI version, toolchain, imports, exports of a plugin',
  synopsis: '[options] <file.wasm>',
  description: [
    'Describes a plugin binary without running it. Exits with 1 when the host would refuse to load it',
    '(no ABI marker, no allocator, imports the host cannot give), after printing the report.',
  ].join('\n'),
  positionals: { min: 1, max: 1, name: 'file.wasm' },
  groups: [
    {
      title: 'Output',
      flags: { json: { type: 'boolean', help: 'print the report as JSON (the InspectReport fields)' } },
      apply(args, opts) {
        opts.json = args.flag('json')
      },
    },
  ],
  init: () => ({ json: false }),
  async run(opts, args, env) {
    const report = await inspectWasm(resolve(env.cwd, args.positionals[0]!))
    // JSON has no undefined: absent fields (abi, marker, allocator, producers) print as null.
    process.stdout.write(opts.json ? `${JSON.stringify(report, (_k, v: unknown) => (v === undefined ? null : v), 2)}\n` : formatReport(report))
    if (report.refused) {
      env.printError(`error ${report.refused.code}: ${report.refused.message}`)
      process.exitCode = 1
    }
  },
}
