"""The machine's speed right now, in the unit W1 is made of: one fresh activity instance, one call, freed.

This VM's speed moves by a factor of two from one quarter hour to the next (other tenants), so a figure alone
says little. Every W1 step runs one attempt of ``fibo_activity`` in a fresh Store and Instance, and
nothing the engine does can make that cheaper; measured in the same minute as the workloads, it is the floor a
serial step cannot go below, and "W1 per step / floor" is comparable across runs when the seconds are not.

Run as ``python -m bench.floor`` (a process of its own, like the server: the benchmark client has no wasmtime).
It prints one JSON object: the median and min of the step, and its parts. Then the same attempts again beside a
thread of the same process that keeps the other CPU busy in native code (the server always has such threads: the
database's, the event loop), with the TLB shootdowns per attempt of both: alone, an attempt's page-table changes
interrupt no other CPU; beside a running sibling, each of them does (docs/decisions.md, "An attempt beside running
threads"). That second figure is context, not the floor: the floor stays what an attempt costs alone.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/floor.py` without installing

from bench.shootdowns import ShootdownCount
from obelisk.wasm.activity_wasi import build_activity_linker, new_activity_store
from obelisk.wasm.compile_cache import ComponentLoader
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.host_calls import call_guest, instantiate_guest

REPO = Path(__file__).resolve().parent.parent
STEPS = 300
WARM_UP = 30

Parts = tuple[float, float, float]
"""Seconds to instantiate, to call ``fibo(10)``, to free the store."""


@contextmanager
def busy_sibling() -> Iterator[None]:
    """A thread of this process hashing a buffer until the block ends: ``hashlib`` releases the GIL for large
    inputs, so it runs on the other CPU while the attempts run here."""
    stop = threading.Event()
    block = bytes(1 << 20)

    def spin() -> None:
        while not stop.is_set():
            hashlib.sha256(block).digest()

    thread = threading.Thread(target=spin, name="busy-sibling", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def measure(component_path: Path, cache_dir: Path) -> dict[str, float]:
    engine = WasmEngine()
    engine.start()
    try:
        component = ComponentLoader(engine, cache_dir).load(component_path).component
        linker = build_activity_linker(engine, component)
        alone, shootdowns = attempts(engine, linker, component, WARM_UP + STEPS)
        with busy_sibling():
            beside, busy_shootdowns = attempts(engine, linker, component, STEPS)
    finally:
        engine.stop()
    measured = alone[WARM_UP:]
    totals = [sum(p) for p in measured]
    return {
        "step_ms": statistics.median(totals) * 1000,
        "step_min_ms": min(totals) * 1000,
        "instantiate_ms": statistics.median(p[0] for p in measured) * 1000,
        "call_ms": statistics.median(p[1] for p in measured) * 1000,
        "free_ms": statistics.median(p[2] for p in measured) * 1000,
        "beside_busy_step_ms": statistics.median(sum(p) for p in beside) * 1000,
        "shootdowns_per_attempt": shootdowns,
        "beside_busy_shootdowns_per_attempt": busy_shootdowns,
    }


def attempts(engine: WasmEngine, linker: object, component: object, count: int) -> tuple[list[Parts], float]:
    """``count`` fresh attempts: the parts of each, and the machine's TLB shootdowns per attempt (-1: unread)."""
    parts: list[Parts] = []
    shootdowns = ShootdownCount()
    for _ in range(count):
        started = time.perf_counter()
        store = new_activity_store(engine, component_id="floor", execution_id="E", env={}, deadline_seconds=10)
        instance = instantiate_guest(linker, store, component, what="fibo_activity")
        instantiated = time.perf_counter()
        export = instance.get_export_index(store, "testing:fibo/fibo")
        func = instance.get_func(store, instance.get_export_index(store, "fibo", export))
        if call_guest(func, store, 10) != 55:
            raise RuntimeError("fibo(10) != 55")
        called = time.perf_counter()
        del func, instance
        store.close()
        parts.append((instantiated - started, called - instantiated, time.perf_counter() - called))
    per_attempt = shootdowns.stop().per(count)
    return parts, -1.0 if per_attempt is None else per_attempt


if __name__ == "__main__":
    print(
        json.dumps(
            measure(REPO / "build" / "components" / "fibo_activity.wasm", REPO / "build" / "bench-cache" / "codegen")
        )
    )
