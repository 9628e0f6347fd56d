import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { higressConfig, loadPipelineConfig, readPipelineConfig } from '../../src/pipeline/config.js'
import { PluginPipeline } from '../../src/pipeline/pipeline.js'
import { fixture, hostsClosedAfterEach, run } from '../helpers.js'

const cfg = (name: string) => fileURLToPath(new URL(`../fixtures-config/${name}`, import.meta.url))
const STAMP = fixture('go', 'stamp')

const closedAfterEach = hostsClosedAfterEach()
const newHost = () => closedAfterEach('warn')

/** Runs `fn`, expecting it to reject; returns the error. */
async function failure(fn: () => Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await fn()
  } catch (err) {
    return err as { code: string; message: string }
  }
  throw new Error('expected a rejection')
}

describe('higressConfig', () => {
  it('builds defaultConfig plus _rules_ as the Higress controller does', () => {
    const out = higressConfig({ name: 'global', local: 0 }, [
      { ingress: ['api', 'ns/other'], config: { name: 'api-rule' } },
      { domain: ['*.example.com'], config: { name: 'domain-rule' } },
      { ingress: ['old'], configDisable: true, config: { name: 'off' } },
      { service: ['orders.default.svc.cluster.local:8080'], ingress: ['svc-route'] },
      { route_prefix: ['v2-'], domain: [], config: { name: 'prefix' } },
    ])
    expect(out).toEqual({
      name: 'global',
      local: 0,
      _rules_: [
        { name: 'api-rule', _match_route_: ['api', 'ns/other'] },
        { name: 'domain-rule', _match_domain_: ['*.example.com'] },
        { _match_route_: ['svc-route'], _match_service_: ['orders.default.svc.cluster.local:8080'] },
        { name: 'prefix', _match_route_prefix_: ['v2-'] },
      ],
    })
  })

  it('leaves the default config out when it is disabled, and gives undefined when nothing is left', () => {
    expect(higressConfig({ name: 'global' }, [{ domain: ['a.com'], config: { name: 'a' } }], true))
      .toEqual({ _rules_: [{ name: 'a', _match_domain_: ['a.com'] }] })
    expect(higressConfig({ name: 'global' }, [{ domain: ['a.com'], configDisable: true }], true)).toBeUndefined()
    expect(higressConfig({ name: 'global' }, [])).toEqual({ name: 'global' })
  })

  it('rejects a rule without a match condition, naming file, plugin and matchRules[i]', () => {
    expect.assertions(3)
    try {
      higressConfig({ name: 'g' }, [{ ingress: ['a'] }, { config: { name: 'x' } }], false, { file: 'gw.yaml', plugin: 'plugin "stamp"' })
    } catch (err) {
      expect((err as { code: string }).code).toBe('PWH_ERR_CONFIG_INVALID')
      expect((err as Error).message).toContain('gw.yaml: plugin "stamp": matchRules[1]')
      expect((err as Error).message).toContain('no match condition')
    }
  })

  it('rejects a match list that is not a list of strings', () => {
    expect(() => higressConfig({}, [{ ingress: 'api' as unknown as string[] }])).toThrow(expect.objectContaining({ code: 'PWH_ERR_CONFIG_INVALID' }))
  })
})

describe('pipeline file', () => {
  it('orders by phase, then larger priority, ties in declaration order; MSE stage names are aliases', async () => {
    const { host } = newHost()
    const pipeline = await PluginPipeline.fromConfig(host, cfg('pipeline.yaml'))
    const names = pipeline.plan({ route: 'any', host: 'example.com' }).map((p) => p.name)
    expect(names).toEqual(['authn-high', 'authn-low', 'authz', 'authz-tie', 'stats', 'default-high', 'default-low', 'default-tie'])
    expect(pipeline.plan().map((p) => p.phase)).toEqual(['AUTHN', 'AUTHN', 'AUTHZ', 'AUTHZ', 'STATS', 'UNSPECIFIED', 'UNSPECIFIED', 'UNSPECIFIED'])
    expect(pipeline.plan()[0]!.failStrategy).toBe('FAIL_OPEN')
    expect(pipeline.responseOrder).toBe('reverse')

    // The plan is what really runs: each stamp adds its name on the way in and (reversed) on the way out.
    const r = await run(pipeline, { path: '/', authority: 'example.com' })
    expect(r.upstream?.headers.getAll('x-stamp')).toEqual(names)
    expect(r.response.headers.getAll('x-stamp')).toEqual([...names].reverse())
  })

  it('reads the pipeline settings and lets options override them', async () => {
    const decl = await readPipelineConfig(cfg('pipeline.yaml'))
    expect(decl.shape).toBe('pipeline')
    expect(decl.settings).toEqual({ responseOrder: 'reverse', pauseTimeoutMs: 5000 })
    expect(decl.plugins[5]!.options.config).toBe('{"name":"default-high"}')
    const over = await readPipelineConfig(cfg('pipeline.yaml'), { responseOrder: 'forward', pauseTimeoutMs: 10 })
    expect(over.settings).toEqual({ responseOrder: 'forward', pauseTimeoutMs: 10 })
  })

  it('accepts an object, with paths relative to baseDir and file:// URLs', async () => {
    const { host } = newHost()
    const pipeline = await PluginPipeline.fromConfig(host, {
      plugins: [
        { name: 'b', wasm: pathToFileURL(STAMP).href, config: { name: 'b' } },
        { name: 'a', wasm: 'go/stamp.wasm', priority: 5, config: { name: 'a' } },
      ],
    }, { baseDir: fileURLToPath(new URL('../../fixtures/build', import.meta.url)) })
    expect(pipeline.plan().map((p) => p.name)).toEqual(['a', 'b'])
    const r = await run(pipeline, { authority: 'example.com' })
    expect(r.upstream?.headers.getAll('x-stamp')).toEqual(['a', 'b'])
  })
})

describe('WasmPlugin resources', () => {
  it('loads several documents, ordered by phase and priority', async () => {
    const { host } = newHost()
    const pipeline = await PluginPipeline.fromConfig(host, cfg('wasmplugins.yaml'))
    expect(pipeline.plan({ route: 'api' }).map((p) => p.name)).toEqual(['auth', 'stamp'])
    expect(pipeline.plan().map((p) => `${p.phase}/${p.priority}/${p.failStrategy}`)).toEqual(['AUTHN/1/FAIL_OPEN', 'UNSPECIFIED/10/FAIL_CLOSE'])
  })

  it('delivers defaultConfig and matchRules as _rules_ JSON; configDisable rules are left out', async () => {
    const decl = await readPipelineConfig(cfg('wasmplugins.yaml'))
    expect(decl.shape).toBe('wasm-plugin')
    expect(decl.plugins.find((p) => p.options.name === 'stamp')!.options.config).toEqual({
      name: 'global',
      _rules_: [
        { name: 'api-rule', _match_route_: ['api'] },
        { name: 'domain-rule', _match_domain_: ['*.example.com'] },
        { name: 'service-rule', _match_service_: ['orders.default.svc.cluster.local'] },
        { name: 'prefix-rule', _match_route_prefix_: ['v2-'] },
      ],
    })
  })

  it('the plugin picks the route, domain, service or prefix rule per request, else the default config', async () => {
    const { host } = newHost()
    const pipeline = await PluginPipeline.fromConfig(host, cfg('wasmplugins.yaml'))
    const stampOf = async (req: Parameters<typeof run>[1]) => {
      const r = await run(pipeline, { path: '/', ...req })
      return { up: r.upstream?.headers.getAll('x-stamp'), down: r.response.headers.getAll('x-stamp') }
    }
    expect(await stampOf({ route: 'api', authority: 'other.org' })).toEqual({ up: ['auth', 'api-rule'], down: ['api-rule', 'auth'] })
    expect((await stampOf({ route: 'web', authority: 'a.example.com' })).up).toEqual(['auth', 'domain-rule'])
    expect((await stampOf({ route: 'web', authority: 'a.example.com:8080' })).up).toEqual(['auth', 'domain-rule'])
    expect((await stampOf({ authority: 'other.org', service: 'orders.default.svc.cluster.local' })).up).toEqual(['auth', 'service-rule'])
    expect((await stampOf({ route: 'v2-users', authority: 'other.org' })).up).toEqual(['auth', 'prefix-rule'])
    // The route rule comes first in _rules_, so it wins over the domain rule.
    expect((await stampOf({ route: 'api', authority: 'a.example.com' })).up).toEqual(['auth', 'api-rule'])
    // configDisable: the "old" rule is not delivered, so the default config applies.
    expect((await stampOf({ route: 'old', authority: 'other.org' })).up).toEqual(['auth', 'global'])
    expect((await stampOf({ authority: 'example.com' })).up).toEqual(['auth', 'global'])
  })

  it('reads a kind: List (JSON) of Istio resources with pluginConfig, pluginName and vmConfig.env', async () => {
    const { host } = newHost()
    const decl = await readPipelineConfig(cfg('wasmplugin-list.json'))
    expect(decl.plugins.map((p) => p.options.env)).toEqual([{ MODE: 'test' }, undefined])
    const pipeline = await PluginPipeline.fromConfig(host, cfg('wasmplugin-list.json'))
    const plan = pipeline.plan()
    expect(plan.map((p) => p.name)).toEqual(['authz-plugin', 'stats-plugin'])
    expect(plan.map((p) => [p.rootId, p.failStrategy, p.configuration])).toEqual([
      ['root-1', 'FAIL_RELOAD', '{"name":"authz"}'],
      ['', 'FAIL_CLOSE', '{"name":"stats"}'],
    ])
    const r = await run(pipeline, { authority: 'example.com' })
    expect(r.upstream?.headers.getAll('x-stamp')).toEqual(['authz', 'stats'])
  })

  it('does not install a plugin whose default config is disabled and whose rules are all disabled', async () => {
    const decl = await readPipelineConfig([
      { apiVersion: 'extensions.higress.io/v1alpha1', kind: 'WasmPlugin', metadata: { name: 'off' },
        spec: { url: STAMP, defaultConfigDisable: true, defaultConfig: { name: 'x' }, matchRules: [{ ingress: ['a'], configDisable: true }] } },
      { apiVersion: 'extensions.higress.io/v1alpha1', kind: 'WasmPlugin', metadata: { name: 'on' },
        spec: { url: STAMP, defaultConfigDisable: true, defaultConfig: { name: 'x' }, matchRules: [{ ingress: ['a'], config: { name: 'a' } }] } },
    ])
    expect(decl.plugins.map((p) => [p.options.name, p.options.config])).toEqual([['on', { _rules_: [{ name: 'a', _match_route_: ['a'] }] }]])
  })

  it('checks spec.sha256 against the binary before anything runs', async () => {
    const digest = createHash('sha256').update(await readFile(STAMP)).digest('hex')
    const resource = (sha256: unknown) => ({ apiVersion: 'extensions.higress.io/v1alpha1', kind: 'WasmPlugin', metadata: { name: 'stamp' },
      spec: { url: STAMP, sha256, defaultConfig: { name: 'ok' } } })
    const { host } = newHost()
    const ok = await loadPipelineConfig(host, [resource(digest.toUpperCase())])
    expect((await run(new PluginPipeline(host, ok), { authority: 'a' })).upstream?.headers.get('x-stamp')).toBe('ok')

    const wrong = await failure(() => loadPipelineConfig(host, [resource('0'.repeat(64))]))
    expect(wrong.code).toBe('PWH_ERR_PLUGIN_CHECKSUM')
    expect(wrong.message).toContain(digest)
    const bad = await failure(() => readPipelineConfig([resource('abc')]))
    expect(bad.code).toBe('PWH_ERR_CONFIG_INVALID')
    expect(bad.message).toContain('spec.sha256 must be 64 hex digits')
  })
})

describe('Kong filter chains', () => {
  it('plans the service chain then the route chain; same filter twice, each with its own config; disabled entries skipped', async () => {
    const { host } = newHost()
    const pipeline = await PluginPipeline.fromConfig(host, cfg('kong.yaml'))
    expect(pipeline.responseOrder).toBe('forward')
    const plan = pipeline.plan({ service: 'orders', route: 'orders-api' })
    expect(plan.map((p) => p.name)).toEqual(['stamp', 'stamp', 'stamp'])
    // A string config reaches the filter byte for byte; an object is serialized to JSON.
    expect(plan.map((p) => p.configuration)).toEqual(['{ "name" :  "svc-1" }', '{"name":"svc-2"}', '{"name":"route-1"}'])
    expect(pipeline.plan({ route: 'orders-api' }).map((p) => p.configuration)).toEqual(['{"name":"route-1"}'])
    expect(pipeline.plan({ route: 'legacy' })).toEqual([])
    expect(pipeline.plan({ service: 'unknown' })).toEqual([])

    const r = await run(pipeline, { authority: 'shop.example.com', service: 'orders', route: 'orders-api' })
    expect(r.upstream?.headers.getAll('x-stamp')).toEqual(['svc-1', 'svc-2', 'route-1'])
    // Kong runs response phases in the same order as request phases.
    expect(r.response.headers.getAll('x-stamp')).toEqual(['svc-1', 'svc-2', 'route-1'])
  })

  it('response order can be overridden; filtersDir overrides wasm_filters_path', async () => {
    const { host } = newHost()
    const pipeline = await PluginPipeline.fromConfig(host, {
      wasm_filters_path: './nowhere',
      filter_chains: [{ name: 'c', service: 'svc', filters: [{ name: 'stamp', config: { name: 'one' } }, { name: 'stamp', config: { name: 'two' } }] }],
    }, { filtersDir: fileURLToPath(new URL('../../fixtures/build/go', import.meta.url)), responseOrder: 'reverse' })
    const r = await run(pipeline, { authority: 'example.com', service: 'svc' })
    expect(r.upstream?.headers.getAll('x-stamp')).toEqual(['one', 'two'])
    expect(r.response.headers.getAll('x-stamp')).toEqual(['two', 'one'])
  })

  it('loads disabled filters and chains, so their enabled flags can be flipped later', async () => {
    const { host } = newHost()
    const options = await loadPipelineConfig(host, cfg('kong.yaml'))
    const pipeline = new PluginPipeline(host, options)
    expect(pipeline.plan({ route: 'legacy' })).toEqual([])
    options.chains!.routes!.legacy!.enabled = true
    options.chains!.services!.orders!.filters[1]!.enabled = true
    expect(pipeline.plan({ route: 'legacy' }).map((p) => p.configuration)).toEqual(['{"name":"legacy"}'])
    expect(pipeline.plan({ service: 'orders' }).map((p) => p.configuration)).toEqual(['{ "name" :  "svc-1" }', '{"name":"svc-off"}', '{"name":"svc-2"}'])
  })

  it('rejects two chains on the same route', async () => {
    const err = await failure(() => readPipelineConfig({
      wasm_filters_path: '.',
      filter_chains: [{ route: 'r', filters: [{ name: 'a' }] }, { route: 'r', filters: [{ name: 'b' }] }],
    }))
    expect(err.code).toBe('PWH_ERR_CONFIG_INVALID')
    expect(err.message).toContain('filter_chains[1]: route "r" already has filter chain')
  })
})

describe('JSON Schema', () => {
  it('accepts a valid config (default config and each rule over it)', async () => {
    const { host } = newHost()
    const pipeline = await PluginPipeline.fromConfig(host, cfg('schema-ok.yaml'))
    const r = await run(pipeline, { route: 'api', authority: 'example.com' })
    expect(r.upstream?.headers.get('x-stamp')).toBe('api-rule')
  })

  it('rejects a bad config before any plugin is loaded, naming file, plugin and JSON path', async () => {
    const { host } = newHost()
    const err = await failure(() => PluginPipeline.fromConfig(host, cfg('schema-bad.yaml')))
    expect(err.code).toBe('PWH_ERR_CONFIG_SCHEMA')
    expect(err.message).toContain('schema-bad.yaml: plugin "stamp": config/name must be string')
    expect(host.plugins).toHaveLength(0)
  })

  it('checks each match rule, reporting matchRules/i/config', async () => {
    const err = await failure(() => readPipelineConfig(cfg('schema-bad-rule.yaml')))
    expect(err.code).toBe('PWH_ERR_CONFIG_SCHEMA')
    expect(err.message).toContain('plugin "stamp": matchRules/0/config/name must match pattern')
  })

  it('gives WasmPlugin resources a schema through options.schemas', async () => {
    const err = await failure(() => readPipelineConfig(cfg('wasmplugins.yaml'), {
      schemas: { auth: { type: 'object', required: ['secret'] } },
    }))
    expect(err.code).toBe('PWH_ERR_CONFIG_SCHEMA')
    expect(err.message).toContain('WasmPlugin "auth": defaultConfig must have required property \'secret\'')
  })

  it('reports a missing schema file as PWH_ERR_CONFIG_FILE', async () => {
    const err = await failure(() => readPipelineConfig({ plugins: [{ wasm: STAMP, schema: './no-such.schema.json', config: {} }] }))
    expect(err.code).toBe('PWH_ERR_CONFIG_FILE')
    expect(err.message).toContain('no-such.schema.json')
  })
})

describe('errors', () => {
  it('bad YAML: PWH_ERR_CONFIG_FILE with the file and line', async () => {
    const err = await failure(() => readPipelineConfig(cfg('bad.yaml')))
    expect(err.code).toBe('PWH_ERR_CONFIG_FILE')
    expect(err.message).toMatch(/bad\.yaml: invalid YAML.*line \d+/)
  })

  it('bad JSON: PWH_ERR_CONFIG_FILE with the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pwh-config-'))
    try {
      await writeFile(join(dir, 'gw.json'), '{\n  "plugins": [\n    { "wasm": "x.wasm", }\n  ]\n}\n')
      const err = await failure(() => readPipelineConfig(join(dir, 'gw.json')))
      expect(err.code).toBe('PWH_ERR_CONFIG_FILE')
      expect(err.message).toContain('gw.json: invalid JSON')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a file that does not exist: PWH_ERR_CONFIG_FILE', async () => {
    const err = await failure(() => readPipelineConfig(cfg('nope.yaml')))
    expect(err.code).toBe('PWH_ERR_CONFIG_FILE')
    expect(err.message).toContain('nope.yaml: cannot read the file')
  })

  it('unknown shape: PWH_ERR_CONFIG_FILE naming the three accepted shapes', async () => {
    const err = await failure(() => readPipelineConfig(cfg('unknown-shape.yaml')))
    expect(err.code).toBe('PWH_ERR_CONFIG_FILE')
    expect(err.message).toContain('unknown-shape.yaml: unknown configuration shape')
    expect(err.message).toMatch(/plugins.*WasmPlugin.*filter_chains/)
  })

  it('oci:// and https:// urls: PWH_ERR_CONFIG_INVALID saying only local files are supported', async () => {
    const err = await failure(() => readPipelineConfig(cfg('oci.yaml')))
    expect(err.code).toBe('PWH_ERR_CONFIG_INVALID')
    expect(err.message).toContain('WasmPlugin "request-block": spec.url')
    expect(err.message).toContain('only local files are supported')
    const err2 = await failure(() => readPipelineConfig({ plugins: [{ wasm: 'https://example.com/p.wasm' }] }))
    expect(err2.code).toBe('PWH_ERR_CONFIG_INVALID')
  })

  it('a missing .wasm file: PWH_ERR_PLUGIN_READ from the host; plugins loaded before it are closed', async () => {
    const { host } = newHost()
    const err = await failure(() => PluginPipeline.fromConfig(host, cfg('missing-wasm.yaml')))
    expect(err.code).toBe('PWH_ERR_PLUGIN_READ')
    expect(err.message).toContain('plugin "ghost"')
    expect(err.message).toContain('does-not-exist.wasm')
    // host.plugins lists open plugins only: the stamp plugin loaded before "ghost" was closed.
    expect(host.plugins).toEqual([])
  })

  it.each([
    ['no-wasm.yaml', 'plugin "stamp": wasm is missing'],
    ['bad-phase.yaml', 'plugin "stamp": phase: unknown phase "AUTHENTICATE"'],
    ['bad-fail-strategy.yaml', 'WasmPlugin "stamp": spec.failStrategy must be one of FAIL_CLOSE, FAIL_OPEN, FAIL_RELOAD'],
    ['bad-rule.yaml', 'WasmPlugin "stamp": matchRules[1] has no match condition'],
  ])('%s: PWH_ERR_CONFIG_INVALID naming file, plugin and field', async (file, text) => {
    const err = await failure(() => readPipelineConfig(cfg(file)))
    expect(err.code).toBe('PWH_ERR_CONFIG_INVALID')
    expect(err.message).toContain(`${file}: ${text}`)
  })

  it('a misspelt field is reported, not ignored', async () => {
    const err = await failure(() => readPipelineConfig({ plugins: [{ wasm: STAMP, priorty: 3 }] }))
    expect(err.code).toBe('PWH_ERR_CONFIG_INVALID')
    expect(err.message).toContain('priorty is not a known field')
  })
})
