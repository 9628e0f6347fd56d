/**
 * The command-line parser: each command declares its flags as tables (one {@link FlagGroup} per
 * feature), the parser reads argv against them, and `--help` is printed from the same tables.
 * Unknown flags and values outside a flag's choices get a "did you mean" hint.
 *
 * To add flags to a command, add a group (a new file under `src/cli/flags/` is best) and list it in
 * the command's `groups`; the group's `apply` turns the parsed values into the command's options.
 * @module
 */
import { ProxyWasmHostError } from '../errors.js'

/** One flag of a command. */
export interface Flag {
  /** `string` takes a value (`--port 80`, `--port=80`); `boolean` takes none (`--watch`). */
  type: 'string' | 'boolean'
  /** Placeholder shown in `--help` (`<n>`, `<file.wasm>`); default `<value>`. */
  value?: string
  /** Help text; may span lines (`\n`). */
  help: string
  /** The flag may be repeated; its values are kept in order. */
  multiple?: boolean
  /** A one-letter alias (`-p`). */
  short?: string
  /** The default, shown in `--help` (the group's `apply` applies it). */
  default?: string
  /** Accepted values (compared case-insensitively); others are refused with a suggestion. */
  choices?: readonly string[]
  /**
   * The flag belongs to the nearest `--<name>` before it (as `--phase` belongs to a `--plugin`):
   * given before any, it is refused. Read the association from {@link ParsedArgs.given}.
   */
  after?: string
}

/** Flags by name (without `--`). */
export type FlagTable = Record<string, Flag>

/**
 * A set of flags of one feature and how they become the command's options.
 * @typeParam O - the options object the command builds
 */
export interface FlagGroup<O> {
  /** Heading in `--help`. */
  title: string
  /** The flags. */
  flags: FlagTable
  /** Validates the parsed values and writes them into `options`; throws {@link usageError}. */
  apply?(args: ParsedArgs, options: O, env: CliEnv): void | Promise<void>
  /** Extra help lines printed under the group's flags. */
  notes?: string
}

/** What the running process gives a command (kept apart so tests and commands do not read globals). */
export interface CliEnv {
  /** Working directory, for relative paths. */
  cwd: string
  /** Writes a line to stdout. */
  print(line: string): void
  /** Writes a line to stderr. */
  printError(line: string): void
}

/** A command of the CLI. */
export interface Command<O = unknown> {
  /** `serve`, `inspect`. */
  name: string
  /** One line for the command list. */
  summary: string
  /** What follows the command name in the usage line, e.g. `[options] <file.wasm>`. */
  synopsis: string
  /** Paragraph printed under the usage line. */
  description?: string
  /** Positional arguments: how many (default none). */
  positionals?: { min: number; max: number; name: string }
  /** Flag groups, in help order. */
  groups: Array<FlagGroup<O>>
  /** A fresh options object for the groups to fill. */
  init(env: CliEnv): O
  /** Runs with the filled options; resolves when done (`serve` resolves once listening). */
  run(options: O, args: ParsedArgs, env: CliEnv): Promise<void>
}

/** One flag as it appeared on the command line. */
export interface GivenFlag {
  /** Flag name without `--`. */
  name: string
  /** The value, or `true` for a boolean flag. */
  value: string | true
}

/** The parsed command line of one command. */
export class ParsedArgs {
  /** Every flag in command-line order. */
  readonly given: readonly GivenFlag[]
  /** Arguments that are not flags. */
  readonly positionals: readonly string[]
  readonly #command: string
  readonly #flags: FlagTable

  /** @internal made by {@link parseCommandLine}. */
  constructor(command: string, flags: FlagTable, given: GivenFlag[], positionals: string[]) {
    this.#command = command
    this.#flags = flags
    this.given = given
    this.positionals = positionals
  }

  /** Whether `--name` was given. */
  has(name: string): boolean {
    return this.given.some((g) => g.name === name)
  }

  /** The last value of a string flag (or its choice, spelled as declared), else `undefined`. */
  string(name: string): string | undefined {
    const v = this.list(name)
    return v[v.length - 1]
  }

  /** Every value of a (repeatable) string flag, in order. */
  list(name: string): string[] {
    const out: string[] = []
    for (const g of this.given) if (g.name === name && typeof g.value === 'string') out.push(g.value)
    return out
  }

  /** Whether a boolean flag was given. */
  flag(name: string): boolean {
    return this.given.some((g) => g.name === name && g.value === true)
  }

  /**
   * An integer flag in `[min, max]`.
   * @throws `PWH_ERR_CONFIG_INVALID` when the value is not such an integer
   */
  integer(name: string, min: number, max: number, fallback?: number): number | undefined {
    const raw = this.string(name) ?? this.#flags[name]?.default
    if (raw === undefined) return fallback
    return parseInteger(`--${name}`, raw, min, max)
  }

  /** The command these arguments are for (in messages). */
  get command(): string {
    return this.#command
  }
}

/**
 * Parses an integer argument.
 * @throws `PWH_ERR_CONFIG_INVALID`
 * @internal
 */
export function parseInteger(what: string, raw: string, min: number, max: number): number {
  const n = /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw usageError(`${what} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`)
  }
  return n
}

/**
 * A usage error: `PWH_ERR_CONFIG_INVALID` with a pointer to `--help`.
 * @internal
 */
export function usageError(message: string, command?: string): ProxyWasmHostError {
  return new ProxyWasmHostError('PWH_ERR_CONFIG_INVALID', `${message} (see proxy-wasm-host ${command ? `${command} ` : ''}--help)`)
}

/**
 * The closest of `candidates` to `input`, if it is close enough to be a typo (edit distance at
 * most a third of the length, at least 2; case and `-`/`_` differences are free; a word that
 * starts the other, `warn` in `warning`, counts as one edit).
 * @internal
 */
export function didYouMean(input: string, candidates: Iterable<string>): string | undefined {
  const norm = (s: string) => s.toLowerCase().replaceAll('_', '-')
  const want = norm(input)
  let best: string | undefined
  let bestD = Infinity
  for (const c of candidates) {
    const n = norm(c)
    const prefix = Math.min(n.length, want.length) >= 3 && (n.startsWith(want) || want.startsWith(n))
    const d = prefix ? 1 : distance(want, n)
    if (d < bestD) {
      best = c
      bestD = d
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(want.length / 3)) ? best : undefined
}

/** Damerau-Levenshtein (optimal string alignment) distance: a swap of two letters costs 1. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1)
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}

/** A value checked against a flag's choices; returns the choice as declared. */
function checkChoice(command: string, name: string, flag: Flag, value: string): string {
  if (!flag.choices) return value
  const hit = flag.choices.find((c) => c.toLowerCase() === value.toLowerCase())
  if (hit !== undefined) return hit
  const near = didYouMean(value, flag.choices)
  throw usageError(`--${name} must be one of ${flag.choices.join(', ')}, got ${JSON.stringify(value)}${near ? `; did you mean ${near}?` : ''}`, command)
}

/** All flags of a command, `help` included. */
export function commandFlags<O>(command: Command<O>): FlagTable {
  const all: FlagTable = {}
  for (const g of command.groups) {
    for (const [name, f] of Object.entries(g.flags)) {
      if (all[name]) throw new Error(`cli: flag --${name} declared twice in ${command.name}`)
      all[name] = f
    }
  }
  return all
}

/**
 * Reads `args` (what follows the command name) against a command's flags. `--help` / `-h` is
 * recognised by the caller before this runs.
 * @returns the parsed arguments
 * @throws `PWH_ERR_CONFIG_INVALID` for an unknown flag (with a suggestion), a missing value, a value
 * outside the choices, a flag given before the one it belongs to, or a wrong number of positionals
 * @internal
 */
export function parseCommandLine<O>(command: Command<O>, args: readonly string[]): ParsedArgs {
  const flags = commandFlags(command)
  const shorts = new Map<string, string>()
  for (const [name, f] of Object.entries(flags)) if (f.short) shorts.set(f.short, name)
  const given: GivenFlag[] = []
  const positionals: string[] = []
  const unknown = (raw: string): never => {
    const near = didYouMean(raw.replace(/^-+/, ''), Object.keys(flags))
    throw usageError(`${command.name}: unknown option ${raw}${near ? `; did you mean --${near}?` : ''}`, command.name)
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') {
      positionals.push(...args.slice(i + 1))
      break
    }
    let name: string
    let inline: string | undefined
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq)
      if (eq >= 0) inline = arg.slice(eq + 1)
    } else if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      const long = shorts.get(arg.slice(1, 2))
      if (!long || arg.length > 2) unknown(arg)
      name = long!
    } else {
      positionals.push(arg)
      continue
    }
    const flag = flags[name]
    if (!flag) return unknown(arg.startsWith('--') ? `--${name}` : arg)
    if (flag.after && !given.some((g) => g.name === flag.after)) {
      throw usageError(`--${name} applies to the --${flag.after} before it; give --${flag.after} first`, command.name)
    }
    if (!flag.multiple && !flag.after && given.some((g) => g.name === name)) {
      throw usageError(`--${name} was given twice`, command.name)
    }
    if (flag.after) {
      // Once per owner: `--plugin a.wasm --phase AUTHN --phase AUTHZ` is a mistake.
      const owner = given.map((g) => g.name).lastIndexOf(flag.after)
      if (given.slice(owner + 1).some((g) => g.name === name)) throw usageError(`--${name} was given twice for one --${flag.after}`, command.name)
    }
    if (flag.type === 'boolean') {
      if (inline !== undefined) throw usageError(`--${name} takes no value, got --${name}=${inline}`, command.name)
      given.push({ name, value: true })
      continue
    }
    let value = inline
    if (value === undefined) {
      const next = args[i + 1]
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw usageError(`--${name} needs a value ${flag.value ?? '<value>'}`, command.name)
      value = next
      i++
    }
    given.push({ name, value: checkChoice(command.name, name, flag, value) })
  }
  const p = command.positionals ?? { min: 0, max: 0, name: '' }
  if (positionals.length < p.min || positionals.length > p.max) {
    if (p.max === 0) throw usageError(`${command.name} takes no arguments, got ${positionals.map((a) => JSON.stringify(a)).join(' ')}`, command.name)
    const want = p.min === p.max ? `exactly ${p.min}` : `${p.min} to ${p.max}`
    throw usageError(`${command.name} takes ${want} ${p.name}, got ${positionals.length}`, command.name)
  }
  return new ParsedArgs(command.name, flags, given, positionals)
}

/** The `--help` text of a command, from its flag tables. */
export function commandHelp<O>(command: Command<O>): string {
  const lines = [`Usage: proxy-wasm-host ${command.name} ${command.synopsis}`, '']
  if (command.description) lines.push(command.description, '')
  const help: FlagGroup<O> = { title: 'Other', flags: { help: { type: 'boolean', short: 'h', help: 'this text' } } }
  const groups = [...command.groups, help]
  const label = (name: string, f: Flag) => `${f.short ? `-${f.short}, ` : '    '}--${name}${f.type === 'string' ? ` ${f.value ?? '<value>'}` : ''}`
  const labels = groups.flatMap((g) => Object.entries(g.flags).map(([n, f]) => label(n, f).length))
  const column = Math.min(34, Math.max(...labels)) + 4
  for (const g of groups) {
    lines.push(`${g.title}:`)
    for (const [name, f] of Object.entries(g.flags)) {
      const extra: string[] = []
      if (f.choices) extra.push(`one of ${f.choices.join(', ')}`)
      if (f.default !== undefined) extra.push(`default ${f.default}`)
      if (f.multiple) extra.push('repeatable')
      const text = f.help.split('\n')
      if (extra.length) {
        const tail = `(${extra.join('; ')})`
        if (column + text[text.length - 1]!.length + tail.length + 1 <= 100) text[text.length - 1] += ` ${tail}`
        else text.push(tail)
      }
      const head = `  ${label(name, f)}`
      if (head.length + 2 > column) lines.push(head)
      else lines.push(head.padEnd(column) + text.shift())
      for (const t of text) lines.push(' '.repeat(column) + t)
    }
    if (g.notes) for (const n of g.notes.split('\n')) lines.push(`  ${n}`)
    lines.push('')
  }
  return lines.join('\n')
}
