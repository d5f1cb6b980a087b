"""The machine's speed right now, in the unit W1 is made of: one fresh activity instance, one call, freed.

This VM's speed moves by a factor of two from one quarter hour to the next (other tenants), so a figure alone
says little. Every W1 step runs one attempt of ``fibo_activity`` in a fresh Store and Instance, and
nothing the engine does can make that cheaper; measured in the same minute as the workloads, it is the floor a
serial step cannot go below, and "W1 per step / floor" is comparable across runs when the seconds are not.

Run as ``python -m bench.floor`` (a process of its own, like the server: the benchmark client has no wasmtime).
It prints one JSON object: the median and min of the step, and its parts.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/floor.py` without installing

from obelisk.wasm.activity_wasi import build_activity_linker, new_activity_store
from obelisk.wasm.compile_cache import ComponentLoader
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.host_calls import call_guest, instantiate_guest

REPO = Path(__file__).resolve().parent.parent
STEPS = 300
WARM_UP = 30


def measure(component_path: Path, cache_dir: Path) -> dict[str, float]:
    engine = WasmEngine()
    engine.start()
    try:
        component = ComponentLoader(engine, cache_dir).load(component_path).component
        linker = build_activity_linker(engine, component)
        parts: list[tuple[float, float, float]] = []
        for step in range(WARM_UP + STEPS):
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
            if step >= WARM_UP:
                parts.append((instantiated - started, called - instantiated, time.perf_counter() - called))
    finally:
        engine.stop()
    totals = [sum(p) for p in parts]
    return {
        "step_ms": statistics.median(totals) * 1000,
        "step_min_ms": min(totals) * 1000,
        "instantiate_ms": statistics.median(p[0] for p in parts) * 1000,
        "call_ms": statistics.median(p[1] for p in parts) * 1000,
        "free_ms": statistics.median(p[2] for p in parts) * 1000,
    }


if __name__ == "__main__":
    print(
        json.dumps(
            measure(REPO / "build" / "components" / "fibo_activity.wasm", REPO / "build" / "bench-cache" / "codegen")
        )
    )
