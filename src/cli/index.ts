#!/usr/bin/env node
/**
 * `proxy-wasm-host` command line: `serve` (a local dev gateway with the plugins in front of an
 * upstream or a built-in echo upstream, `--watch` hot reload) and `inspect` (what a plugin binary
 * imports and exports). The only code of the package that reads argv and the environment and
 * exits the process.
 *
 * Commands are declared in `command-<name>.ts`, their flags in tables (`src/cli/flags/`); the
 * parser and the help text come from `args.ts`.
 * @module
 */
import { commandHelp, didYouMean, parseCommandLine, usageError, type CliEnv, type Command } from './args.js'
import { inspectCommand } from './command-inspect.js'
import { serveCommand } from './command-serve.js'

declare const __PWH_VERSION__: string | undefined
/** Set by the build (tsup `define`) from package.json. */
const VERSION = typeof __PWH_VERSION__ === 'string' ? __PWH_VERSION__ : '0.0.0-dev'

const COMMANDS: Array<Command<never>> = [serveCommand as Command<never>, inspectCommand as Command<never>]

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2
  return [
    'Usage: proxy-wasm-host <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Options:',
    '  -h, --help     this text; proxy-wasm-host <command> --help for a command\'s options',
    '  -V, --version  print the version',
    '',
  ].join('\n')
}

const isHelp = (a: string) => a === '--help' || a === '-h'

async function main(argv: string[], env: CliEnv): Promise<void> {
  const [name, ...rest] = argv
  if (name === undefined || isHelp(name)) return void process.stdout.write(usage())
  if (name === '--version' || name === '-V' || name === 'version') return env.print(VERSION)
  if (name === 'help') {
    const c = COMMANDS.find((x) => x.name === rest[0])
    return void process.stdout.write(c ? commandHelp(c) : usage())
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (!command) {
    const near = didYouMean(name, COMMANDS.map((c) => c.name))
    throw usageError(`unknown command ${JSON.stringify(name)}${near ? `; did you mean ${near}?` : `; use ${COMMANDS.map((c) => c.name).join(' or ')}`}`)
  }
  // `--help` anywhere before `--` shows the command's help, whatever else is on the line.
  const end = rest.indexOf('--')
  if ((end < 0 ? rest : rest.slice(0, end)).some(isHelp)) return void process.stdout.write(commandHelp(command))
  const args = parseCommandLine(command, rest)
  const opts = command.init(env)
  for (const g of command.groups) await g.apply?.(args, opts, env)
  await command.run(opts, args, env)
}

const env: CliEnv = {
  cwd: process.cwd(),
  print: (line) => console.log(line),
  printError: (line) => console.error(line),
}

main(process.argv.slice(2), env).catch((err: unknown) => {
  const e = err as { code?: unknown; message?: string }
  const code = typeof e?.code === 'string' ? e.code : 'ERR'
  console.error(`error ${code}: ${e?.message ?? String(err)}`)
  process.exit(1)
})
