/**
 * Proxy-Wasm ABI enumerations, named as in the spec (v0.2.1) and the Higress extensions.
 * @module
 */

/** Status returned by every `proxy_*` hostcall (spec `proxy_status_t`). */
export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  BadExpression: 5,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  ResultMismatch: 9,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
} as const
/** A {@link WasmResult} value. */
export type WasmResult = (typeof WasmResult)[keyof typeof WasmResult]

/** Log levels of `proxy_log` (spec `proxy_log_level_t`). */
export const LogLevel = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, critical: 5 } as const
/** A {@link LogLevel} value, 0 (trace) to 5 (critical). */
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel]
/** Names of the log levels, indexed by value. */
export const LOG_LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'critical'] as const
/** A log level name. */
export type LogLevelName = (typeof LOG_LEVEL_NAMES)[number]

/** Header map types (spec `proxy_map_type_t`). */
export const MapType = {
  HttpRequestHeaders: 0,
  HttpRequestTrailers: 1,
  HttpResponseHeaders: 2,
  HttpResponseTrailers: 3,
  GrpcReceiveInitialMetadata: 4,
  GrpcReceiveTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const

/** Buffer types (spec `proxy_buffer_type_t`, plus Higress `RedisCallResponse`). */
export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  DownstreamData: 2,
  UpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcReceiveBuffer: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  CallData: 8,
  RedisCallResponse: 9,
} as const

/** Stream types of `proxy_continue_stream` / `proxy_close_stream` (ABI 0.2.0+). */
export const StreamType = { HttpRequest: 0, HttpResponse: 1, Downstream: 2, Upstream: 3 } as const

/** Values a header callback may return (Envoy `FilterHeadersStatus`). */
export const HeaderAction = {
  Continue: 0,
  StopIteration: 1,
  ContinueAndEndStream: 2,
  StopAllIterationAndBuffer: 3,
  StopAllIterationAndWatermark: 4,
} as const

/** Values a body callback may return (Envoy `FilterDataStatus`). */
export const DataAction = {
  Continue: 0,
  StopIterationAndBuffer: 1,
  StopIterationAndWatermark: 2,
  StopIterationNoBuffer: 3,
} as const

/** Values a trailers callback may return (Envoy `FilterTrailersStatus`). */
export const TrailersAction = { Continue: 0, StopIteration: 1 } as const

/** ABI versions this host recognises, keyed by their marker export. */
export const ABI_MARKERS = {
  proxy_abi_version_0_1_0: '0.1.0',
  proxy_abi_version_0_2_0: '0.2.0',
  proxy_abi_version_0_2_1: '0.2.1',
  proxy_abi_version_0_2_100: '0.2.100',
} as const
/** An ABI version string recognised by the host. */
export type AbiVersion = (typeof ABI_MARKERS)[keyof typeof ABI_MARKERS]

/** WASI errno values used by the sandboxed WASI (preview1). */
export const WasiErrno = {
  SUCCESS: 0,
  BADF: 8,
  NOTDIR: 20,
  FAULT: 21,
  INVAL: 28,
  NOENT: 44,
  NOSYS: 52,
  NOTSUP: 58,
} as const
