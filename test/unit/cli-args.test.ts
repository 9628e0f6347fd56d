// The CLI parser on its own: flag tables, values, flags that belong to the one before them,
// "did you mean", and help generated from the same tables.
import { describe, expect, it } from 'vitest'
import { commandHelp, didYouMean, parseCommandLine, type Command } from '../../src/cli/args.js'
import { serveCommand } from '../../src/cli/command-serve.js'

interface Opts {
  port?: number
  level?: string
}

const cmd: Command<Opts> = {
  name: 'demo',
  summary: 'a test command',
  synopsis: '[options] <file>',
  positionals: { min: 0, max: 1, name: 'file' },
  groups: [
    {
      title: 'Main',
      flags: {
        port: { type: 'string', value: '<n>', short: 'p', help: 'a port', default: '80' },
        item: { type: 'string', multiple: true, help: 'an item' },
        weight: { type: 'string', after: 'item', help: 'weight of the item before' },
        mode: { type: 'string', choices: ['FAIL_CLOSE', 'FAIL_OPEN'], help: 'a mode' },
        quiet: { type: 'boolean', help: 'no output' },
      },
      apply(args, o) {
        o.port = args.integer('port', 0, 65535)
      },
    },
  ],
  init: () => ({}),
  run: async () => {},
}

const err = (args: string[]) => {
  try {
    parseCommandLine(cmd, args)
  } catch (e) {
    return e as { code: string; message: string }
  }
  throw new Error(`no error for ${args.join(' ')}`)
}

describe('CLI parser', () => {
  it('reads values, =values, short flags, repeats and positionals', () => {
    const a = parseCommandLine(cmd, ['--port=81', 'x.wasm', '--item', 'a', '--weight', '2', '--item', 'b', '--quiet', '--mode', 'fail_open'])
    expect(a.string('port')).toBe('81')
    expect(a.integer('port', 0, 65535)).toBe(81)
    expect(a.list('item')).toEqual(['a', 'b'])
    expect(a.flag('quiet')).toBe(true)
    // A choice comes back spelled as declared.
    expect(a.string('mode')).toBe('FAIL_OPEN')
    expect(a.positionals).toEqual(['x.wasm'])
    expect(a.given.map((g) => g.name)).toEqual(['port', 'item', 'weight', 'item', 'quiet', 'mode'])
    expect(parseCommandLine(cmd, ['-p', '90']).integer('port', 0, 65535)).toBe(90)
    // The default from the table.
    expect(parseCommandLine(cmd, []).integer('port', 0, 65535)).toBe(80)
    expect(parseCommandLine(cmd, ['--', '--port']).positionals).toEqual(['--port'])
  })

  it('suggests the flag or value meant', () => {
    expect(err(['--prot', '1']).message).toMatch(/unknown option --prot; did you mean --port\?/)
    expect(err(['--mode', 'FAIL_CLOSED']).message).toMatch(/--mode must be one of FAIL_CLOSE, FAIL_OPEN, got "FAIL_CLOSED"; did you mean FAIL_CLOSE\?/)
    expect(err(['--zzzzzz']).message).not.toMatch(/did you mean/)
    expect(err(['--zzzzzz']).code).toBe('PWH_ERR_CONFIG_INVALID')
    expect(didYouMean('priorty', ['phase', 'priority', 'plugin'])).toBe('priority')
    expect(didYouMean('fail_strategy', ['fail-strategy'])).toBe('fail-strategy')
    expect(didYouMean('warning', ['debug', 'warn'])).toBe('warn')
    expect(didYouMean('watch', ['port'])).toBeUndefined()
  })

  it('refuses what does not make sense', () => {
    expect(err(['--weight', '1']).message).toMatch(/--weight applies to the --item before it/)
    expect(err(['--item', 'a', '--weight', '1', '--weight', '2']).message).toMatch(/--weight was given twice for one --item/)
    expect(err(['--port', '1', '--port', '2']).message).toMatch(/--port was given twice/)
    expect(err(['--port']).message).toMatch(/--port needs a value <n>/)
    expect(err(['--quiet=yes']).message).toMatch(/--quiet takes no value/)
    expect(err(['a', 'b']).message).toMatch(/demo takes 0 to 1 file, got 2/)
    expect(err(['-x']).message).toMatch(/unknown option -x/)
  })

  it('prints help from the tables', () => {
    const help = commandHelp(cmd)
    expect(help).toMatch(/^Usage: proxy-wasm-host demo \[options\] <file>$/m)
    expect(help).toMatch(/^ {2}-p, --port <n> +a port \(default 80\)$/m)
    expect(help).toMatch(/^ {6}--mode <value> +a mode \(one of FAIL_CLOSE, FAIL_OPEN\)$/m)
    expect(help).toMatch(/^ {2}-h, --help +this text$/m)
  })

  it('declares every serve flag once, with help text', () => {
    const names = serveCommand.groups.flatMap((g) => Object.keys(g.flags))
    expect(new Set(names).size).toBe(names.length)
    for (const g of serveCommand.groups) for (const f of Object.values(g.flags)) expect(f.help.length).toBeGreaterThan(5)
    expect(commandHelp(serveCommand)).toMatch(/--plugin <file\.wasm\[=config\]>/)
  })
})

describe('serve: limit flags', () => {
  const apply = async (args: string[]) => {
    const parsed = parseCommandLine(serveCommand, args)
    const opts = serveCommand.init({ cwd: '/', print: () => {}, printError: () => {} })
    for (const g of serveCommand.groups) await g.apply?.(parsed, opts, { cwd: '/', print: () => {}, printError: () => {} })
    return opts
  }
  it('--cpu-limit-ms, --max-memory-mb and --strict-hostcalls reach the host options; without them the host (or --config file) decides', async () => {
    expect((await apply([])).hostOptions?.limits).toBeUndefined()
    expect((await apply(['--max-memory-mb', '64'])).hostOptions?.limits).toEqual({ maxMemoryBytes: 64 * 1024 * 1024 })
    const o = await apply(['--cpu-limit-ms', '250', '--max-memory-mb', '64', '--strict-hostcalls'])
    expect(o.hostOptions).toMatchObject({ limits: { callbackTimeoutMs: 250, maxMemoryBytes: 64 * 1024 * 1024 }, strictHostcalls: true })
    expect((await apply(['--cpu-limit-ms', '0'])).hostOptions?.limits?.callbackTimeoutMs).toBe(0)
    await expect(apply(['--cpu-limit-ms', '-1'])).rejects.toMatchObject({ code: 'PWH_ERR_CONFIG_INVALID' })
    expect(commandHelp(serveCommand)).toContain('--cpu-limit-ms <ms>')
  })
})
