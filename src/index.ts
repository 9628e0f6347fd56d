/**
 * proxy-wasm-host: run proxy-wasm plugins (Envoy, Istio, Higress/MSE, Kong) inside any Node.js server.
 * @module
 */
export { WasmPluginHost } from './host/host.js'
export type { HostOptions, PluginOptions, WasmSource, CompiledPlugin } from './host/host.js'
export { Plugin } from './host/plugin.js'
export type { PluginPhase, FailStrategy, ForeignFunction } from './host/plugin.js'
export { HeaderMap } from './host/header-map.js'
export type { HeadersInit } from './host/header-map.js'
export { createConsoleLogger } from './host/logger.js'
export type { PluginLogger, LogSource } from './host/logger.js'
export type { PropertyValue } from './host/properties.js'
export type { StreamInfo, LocalResponse } from './host/context.js'
export type { WasiOption, WasiProvider, WasiInstance } from './host/wasi-provider.js'
export { PluginPipeline, orderPlugins, PHASE_ORDER } from './pipeline/pipeline.js'
export type { PipelineOptions, ExchangeRequest, PlanQuery, FilterChain, KongChains } from './pipeline/pipeline.js'
export { Exchange } from './pipeline/exchange.js'
export type { PhaseResult, FinalResponse, ExchangeSink } from './pipeline/exchange.js'
export { ProxyWasmHostError, PluginFailureError, ErrorCodes, isProxyWasmHostError } from './errors.js'
export type { ErrorCode } from './errors.js'
export { WasmResult, LogLevel, MapType, BufferType, StreamType, HeaderAction, DataAction, ABI_MARKERS } from './abi/enums.js'
export type { AbiVersion, LogLevelName } from './abi/enums.js'
