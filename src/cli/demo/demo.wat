;; demo.wat — the demo plugin `proxy-wasm-host serve` loads when no --plugin / --config is given.
;; Built into dist/demo/demo.wasm by scripts/build-demo.mjs (@bytecodealliance/jco parse, then
;; WebAssembly.validate).
;;
;; A complete, minimal proxy-wasm plugin written by hand against ABI 0.2.1 (proxy-wasm-abi.md):
;;   * marker export `proxy_abi_version_0_2_1` (§1.1);
;;   * exports `memory` and a bump allocator `proxy_on_memory_allocate` (§5.1);
;;   * root context: `proxy_on_context_create`, `proxy_on_vm_start`, `proxy_on_configure` (§3.2);
;;   * stream context: request/response header and body callbacks, `proxy_on_log`, `proxy_on_done`,
;;     `proxy_on_delete` (§3.3).
;;
;; Behaviour:
;;   * request headers: logs `hello from wasm: <method> <path>` at info, adds request header
;;     `x-proxy-wasm-demo: hello from wasm`, continues;
;;   * response headers: adds response header `x-proxy-wasm-demo: hello from wasm`, continues;
;;   * bodies pass through untouched.
;;
;; Memory map: 16/20 = ret ptr / ret size slots, 256.. = constant strings (one per 32-byte slot),
;; 1024..2047 = log line scratch, 65536.. = bump heap.
(module
  (import "env" "proxy_log" (func $proxy_log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value"
    (func $proxy_add_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value"
    (func $proxy_get_header_map_value (param i32 i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 2)

  (data (i32.const 256) "x-proxy-wasm-demo")   ;; len 17
  (data (i32.const 288) "hello from wasm")     ;; len 15
  (data (i32.const 320) ":method")             ;; len 7
  (data (i32.const 352) ":path")               ;; len 5
  (data (i32.const 384) "hello from wasm: ")   ;; len 17

  ;; ---- ABI marker (§1.1) -------------------------------------------------------------------
  (func (export "proxy_abi_version_0_2_1"))

  ;; ---- allocator (§5.1): bump allocator, 8-byte aligned, grows memory when needed ----------
  (global $heap (mut i32) (i32.const 65536))
  (func $alloc (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $have i32)
    (if (i32.gt_u (local.get $size) (i32.const 0x40000000)) (then (return (i32.const 0))))
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.and (i32.add (i32.add (local.get $ptr) (local.get $size)) (i32.const 7))
                             (i32.const -8)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $end) (local.get $have))
                                                     (i32.const 65535))
                                            (i32.const 16)))
                    (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  ;; ---- helpers -----------------------------------------------------------------------------
  ;; Copies $len bytes from $src to $dst (no bulk-memory instructions needed); returns $dst + $len.
  (func $copy (param $dst i32) (param $src i32) (param $len i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (i32.store8 (i32.add (local.get $dst) (local.get $i))
                    (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.add (local.get $dst) (local.get $len)))

  ;; Appends the value of request header $name (at most 480 bytes) at $dst; returns the new end.
  (func $append_header (param $dst i32) (param $name i32) (param $name_len i32) (result i32)
    (local $len i32)
    (i32.store (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 0))
    (if (i32.ne (call $proxy_get_header_map_value (i32.const 0) (local.get $name) (local.get $name_len)
                                                  (i32.const 16) (i32.const 20))
                (i32.const 0))
      (then (return (local.get $dst))))
    (local.set $len (i32.load (i32.const 20)))
    (if (i32.gt_u (local.get $len) (i32.const 480)) (then (local.set $len (i32.const 480))))
    (call $copy (local.get $dst) (i32.load (i32.const 16)) (local.get $len)))

  ;; ---- lifecycle (§3.2) --------------------------------------------------------------------
  (func (export "proxy_on_context_create") (param $ctx i32) (param $parent i32))
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32) (i32.const 1))
  (func (export "proxy_on_done") (param $ctx i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param $ctx i32))
  (func (export "proxy_on_delete") (param $ctx i32))

  ;; ---- HTTP callbacks, 0.2.x shape (ctx, num_headers, end_of_stream) -> action (§3.3) -------
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $num i32) (param $eos i32) (result i32)
    (local $end i32)
    ;; "hello from wasm: <method> <path>" at info (level 2)
    (local.set $end (call $copy (i32.const 1024) (i32.const 384) (i32.const 17)))
    (local.set $end (call $append_header (local.get $end) (i32.const 320) (i32.const 7)))
    (i32.store8 (local.get $end) (i32.const 32))
    (local.set $end (call $append_header (i32.add (local.get $end) (i32.const 1)) (i32.const 352) (i32.const 5)))
    (drop (call $proxy_log (i32.const 2) (i32.const 1024) (i32.sub (local.get $end) (i32.const 1024))))
    ;; x-proxy-wasm-demo: hello from wasm (request header map = 0)
    (drop (call $proxy_add_header_map_value
      (i32.const 0) (i32.const 256) (i32.const 17) (i32.const 288) (i32.const 15)))
    (i32.const 0))

  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (i32.const 0))

  (func (export "proxy_on_response_headers") (param $ctx i32) (param $num i32) (param $eos i32) (result i32)
    ;; x-proxy-wasm-demo: hello from wasm (response header map = 2)
    (drop (call $proxy_add_header_map_value
      (i32.const 2) (i32.const 256) (i32.const 17) (i32.const 288) (i32.const 15)))
    (i32.const 0))

  (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (i32.const 0))
)
