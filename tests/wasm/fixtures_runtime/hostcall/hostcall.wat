;; Core module of the test:runtime/hostcall world: scalar signatures only, so no memory or realloc.
(module
  (import "test:runtime/host" "fail" (func $fail (param i32) (result i32)))
  (func (export "test:runtime/guest#call-host") (param $token i32) (result i32)
    (i32.add (call $fail (local.get $token)) (i32.const 1)))
  (func (export "test:runtime/guest#spin") (param $n i64) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31)) (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $acc))
  (func (export "test:runtime/guest#trap")
    unreachable))
