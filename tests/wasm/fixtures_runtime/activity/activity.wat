;; Core module for test:activity/activity: a bump allocator serves the host's lowering of strings and lists.
(module
  (import "wasi:cli/environment@0.2.0" "get-environment" (func $get_env (param i32)))
  (import "wasi:cli/stdout@0.2.0" "get-stdout" (func $get_stdout (result i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush"
    (func $write_flush (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream" (func $drop_stream (param i32)))
  (import "obelisk:log/log" "info" (func $log_info (param i32 i32)))
  (memory (export "memory") 1)
  ;; 0..16: return area; heap from 1024 upwards.
  (global $heap (mut i32) (i32.const 1024))

  (func $realloc (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32)
    (param $size i32) (result i32)
    (local $ptr i32) (local $end i32)
    (local.set $ptr
      (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
               (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        (if (i32.lt_s
              (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end)
                                                       (i32.mul (memory.size) (i32.const 65536)))
                                               (i32.const 16))
                                    (i32.const 1)))
              (i32.const 0))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (if (i32.ne (local.get $old_size) (i32.const 0))
      (then (memory.copy (local.get $ptr) (local.get $old) (local.get $old_size))))
    (local.get $ptr))

  (func (export "test:activity/probe#env") (result i32)
    (call $get_env (i32.const 0))
    (i32.const 0))

  (func (export "test:activity/probe#print") (param $ptr i32) (param $len i32)
    (local $stream i32)
    (local.set $stream (call $get_stdout))
    (call $write_flush (local.get $stream) (local.get $ptr) (local.get $len) (i32.const 0))
    (call $drop_stream (local.get $stream)))

  (func (export "test:activity/probe#log-info") (param $ptr i32) (param $len i32)
    (call $log_info (local.get $ptr) (local.get $len)))

  (func (export "test:activity/probe#spin") (param $n i64) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31)) (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $acc)))
