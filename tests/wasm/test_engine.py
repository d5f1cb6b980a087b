"""WasmEngine: the epoch ticker turns deadlines in seconds into interrupts of running guests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import wasmtime
from wasmtime.component import Component, Linker

from obelisk.wasm.engine import NO_DEADLINE_TICKS, EngineConfigError, EngineOptions, WasmEngine
from obelisk.wasm.host_calls import GuestInterrupted, call_guest

from .runtime_fixtures import hostcall_wasm


@pytest.fixture
def engine() -> Iterator[WasmEngine]:
    wasm_engine = WasmEngine()
    yield wasm_engine
    wasm_engine.stop()


def _spin_func(engine: WasmEngine, store: wasmtime.Store) -> Any:
    component = Component.from_file(engine.engine, str(hostcall_wasm()))
    linker = Linker(engine.engine)
    with linker.root() as root, root.add_instance("test:runtime/host") as host:
        host.add_func("fail", lambda _ctx, token: token)
    instance = linker.instantiate(store, component)
    guest = instance.get_export_index(store, "test:runtime/guest")
    spin = instance.get_export_index(store, "spin", guest)
    assert spin is not None
    return instance.get_func(store, spin)


def test_deadline_ticks_is_a_lower_bound_of_the_budget() -> None:
    engine = WasmEngine(tick_seconds=0.01)
    assert engine.deadline_ticks(0.5) == 51
    assert engine.deadline_ticks(0.001) == 2
    assert engine.deadline_ticks(0) == 1
    assert engine.deadline_ticks(None) == NO_DEADLINE_TICKS
    assert engine.deadline_ticks(float("inf")) == NO_DEADLINE_TICKS
    with pytest.raises(EngineConfigError, match="non-negative"):
        engine.deadline_ticks(-1)
    with pytest.raises(EngineConfigError, match="tick_seconds"):
        WasmEngine(tick_seconds=0)


def test_start_and_stop_the_ticker(engine: WasmEngine) -> None:
    before = {t.name for t in threading.enumerate()}
    assert "wasm-epoch-ticker" not in before
    engine.start()
    engine.start()  # idempotent: still one thread
    assert engine.ticking
    assert [t.name for t in threading.enumerate()].count("wasm-epoch-ticker") == 1
    engine.stop()
    assert not engine.ticking
    assert "wasm-epoch-ticker" not in {t.name for t in threading.enumerate()}
    engine.stop()  # idempotent
    engine.start()  # restartable
    assert engine.ticking


def test_deadline_interrupts_a_spinning_guest_on_time(engine: WasmEngine) -> None:
    engine.start()
    store = engine.new_store(deadline_seconds=0.3)
    spin = _spin_func(engine, store)
    started = time.monotonic()
    with pytest.raises(GuestInterrupted) as info:
        call_guest(spin, store, 10**15)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed <= 0.5, elapsed
    assert info.value.reason == "wasm trap: interrupt"


def test_no_deadline_lets_a_guest_finish(engine: WasmEngine) -> None:
    engine.start()
    store = engine.new_store(deadline_seconds=None)
    spin = _spin_func(engine, store)
    assert call_guest(spin, store, 1000) != 0


def test_extend_deadline_gives_a_fresh_budget(engine: WasmEngine) -> None:
    engine.start()
    store = engine.new_store(deadline_seconds=0.05)
    spin = _spin_func(engine, store)
    time.sleep(0.15)  # the first budget has passed while idle
    engine.extend_deadline(store, 5.0)
    assert call_guest(spin, store, 1000) != 0


def test_store_without_deadline_traps_on_first_entry(engine: WasmEngine) -> None:
    """Why ``new_store`` exists: under epoch interruption a Store's default deadline is already due, so the
    first wasm to run traps (for componentize-py guests that is instantiation itself)."""
    store = wasmtime.Store(engine.engine)
    spin = _spin_func(engine, store)  # this WAT guest runs no code while instantiating
    with pytest.raises(GuestInterrupted):
        call_guest(spin, store, 1)


def test_config_tag_names_the_codegen_options() -> None:
    default = WasmEngine()
    assert default.config_tag == WasmEngine().config_tag
    assert len(default.config_tag) == 12
    assert WasmEngine(EngineOptions(cranelift_opt_level="none")).config_tag != default.config_tag
    # parallel_compilation changes how code is compiled, not the code: artifacts stay shareable.
    assert WasmEngine(EngineOptions(parallel_compilation=False)).config_tag == default.config_tag
