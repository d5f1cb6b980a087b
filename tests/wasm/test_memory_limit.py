"""``max_memory_size``: wasmtime's store limit makes ``memory.grow`` fail inside the guest (-1) rather than trap,
and a failure that shows a refused allocation is told apart from other failures."""

from __future__ import annotations

import wasmtime

from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.memory_limit import memory_limit_failure

PAGE = 64 * 1024
# Grows one page at a time until memory.grow returns -1; returns the number of pages it got.
GROW_UNTIL_REFUSED = """
(module
  (memory (export "memory") 1)
  (func (export "grow") (result i32)
    (local $n i32)
    (block $refused
      (loop $again
        (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $again)))
    (local.get $n)))
"""


def _grow(engine: WasmEngine, memory_limit: int | None, pages_cap: int | None = None) -> int:
    store = engine.new_store(deadline_seconds=10, memory_limit=memory_limit)
    text = GROW_UNTIL_REFUSED if pages_cap is None else GROW_UNTIL_REFUSED.replace("1)\n", f"1 {pages_cap})\n", 1)
    instance = wasmtime.Instance(store, wasmtime.Module(engine.engine, text), [])
    grow = instance.exports(store)["grow"]
    assert isinstance(grow, wasmtime.Func)
    result = grow(store)
    assert isinstance(result, int)
    return result


def test_a_grow_past_the_limit_returns_minus_one_to_the_guest() -> None:
    engine = WasmEngine()
    assert _grow(engine, memory_limit=2 * 1024 * 1024) == 2 * 1024 * 1024 // PAGE - 1
    assert _grow(engine, memory_limit=None, pages_cap=100) == 99, "without a limit only the module's maximum stops it"


def test_only_a_store_with_a_limit_and_a_sign_of_a_refused_allocation_is_a_resource_limit_failure() -> None:
    limit = 64 * 1024 * 1024
    reason = memory_limit_failure("activity_wasm:x:sha256:ab", limit, "trap: unreachable", "...\nMemoryError\n")
    assert reason == (
        "resource limit exceeded: activity_wasm:x:sha256:ab reached its memory limit of 67108864 bytes (64 MiB)"
        " (max_memory_size): memory.grow was refused and the guest failed to allocate"
    )
    assert memory_limit_failure("c", limit, "memory allocation of 1048576 bytes failed") is not None
    assert memory_limit_failure("c", limit, "memory minimum size of 300 pages exceeds memory limits") is not None
    assert memory_limit_failure("c", limit, "trap: unreachable", "ValueError: boom") is None
    assert memory_limit_failure("c", None, "MemoryError") is None
