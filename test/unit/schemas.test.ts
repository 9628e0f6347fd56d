// The JSON Schemas published at proxy-wasm-host/schema/*.json, for YAML editors: the repository's
// own configuration files pass, the typos the loader refuses are refused as you type.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import { parseAllDocuments } from 'yaml'
import { describe, expect, it } from 'vitest'
import { LOG_LEVEL_NAMES } from '../../src/abi/enums.js'
import { normalizePhase } from '../../src/host/host.js'
import { PIPELINE_KEYS, PLUGIN_KEYS } from '../../src/pipeline/config.js'
import { LIMIT_KEYS } from '../../src/pipeline/config-isolation.js'

const read = (p: string) => readFileSync(fileURLToPath(new URL(`../../${p}`, import.meta.url)), 'utf8')
const ajv = new Ajv({ allErrors: true, strict: false })
const schema = (name: string) => ajv.compile(JSON.parse(read(`schema/${name}.json`)) as object)
const pipeline = schema('pipeline')
const wasmplugin = schema('wasmplugin')
const kong = schema('kong')
const docs = (p: string) => parseAllDocuments(read(p)).map((d) => d.toJSON() as unknown)

describe('published JSON Schemas', () => {
  it('accept the example configurations', () => {
    expect(pipeline(docs('test/fixtures-config/pipeline.yaml')[0]), JSON.stringify(pipeline.errors)).toBe(true)
    for (const d of docs('test/fixtures-config/wasmplugins.yaml')) expect(wasmplugin(d), JSON.stringify(wasmplugin.errors)).toBe(true)
    expect(wasmplugin(JSON.parse(read('test/fixtures-config/wasmplugin-list.json'))), JSON.stringify(wasmplugin.errors)).toBe(true)
    expect(kong(docs('test/fixtures-config/kong.yaml')[0]), JSON.stringify(kong.errors)).toBe(true)
  })

  it('refuse the typos a new user makes', () => {
    expect(pipeline({ plugins: [{ wasm: 'a.wasm', priorty: 1 }] })).toBe(false)
    expect(pipeline.errors).toContainEqual(expect.objectContaining({ keyword: 'additionalProperties', params: { additionalProperty: 'priorty' } }))
    expect(pipeline({ plugins: [{ wasm: 'a.wasm', failStrategy: 'FAIL_CLOSED' }] })).toBe(false)
    expect(pipeline({ plugins: [{ wasm: 'a.wasm', phase: 'authentcation' }] })).toBe(false)
    expect(pipeline({ plugins: [{ name: 'no-wasm' }] })).toBe(false)
    expect(wasmplugin({ apiVersion: 'extensions.higress.io/v1alpha1', kind: 'WasmPlugin', metadata: { name: 'a' }, spec: { url: 'a.wasm', priorty: 1 } })).toBe(false)
    expect(kong({ filter_chains: [{ route: 'r', filters: [{ name: 'f', confg: {} }] }] })).toBe(false)
    expect(kong({ filter_chains: [{ route: 'r', service: 's', filters: [{ name: 'f' }] }] })).toBe(false)
  })

  it('pipeline.json has exactly the fields the loader reads: top level, plugin entries, limits', () => {
    const def = JSON.parse(read('schema/pipeline.json')) as { properties: Record<string, { properties?: object }>; definitions: { plugin: { properties: object } } }
    expect(Object.keys(def.properties).filter((k) => k !== '$schema').sort()).toEqual([...PIPELINE_KEYS].sort())
    expect(Object.keys(def.definitions.plugin.properties).sort()).toEqual([...PLUGIN_KEYS].sort())
    expect(Object.keys(def.properties.limits!.properties!).sort()).toEqual([...LIMIT_KEYS].sort())
    expect(pipeline(docs('test/fixtures-config/isolation.yaml')[0]), JSON.stringify(pipeline.errors)).toBe(true)
    expect(pipeline({ limits: { maxMemoryByte: 1 }, plugins: [] })).toBe(false)
    expect(pipeline({ plugins: [{ wasm: 'a.wasm', rebuildAfterRequests: 2.5 }] })).toBe(false)
  })

  it('list exactly the values the loader accepts', () => {
    const defs = JSON.parse(read('schema/pipeline.json')) as { definitions: Record<string, { enum: string[] }> }
    for (const p of defs.definitions.phase!.enum) expect(() => normalizePhase(p, 'schema')).not.toThrow()
    expect(defs.definitions.logLevel!.enum).toEqual([...LOG_LEVEL_NAMES])
    expect(defs.definitions.failStrategy!.enum).toEqual(['FAIL_CLOSE', 'FAIL_OPEN', 'FAIL_RELOAD'])
  })
})
