"""Exception routing between host functions and guest callers, per thread, and error classification."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import wasmtime
from wasmtime.component import Component, Linker

from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.host_calls import (
    GuestInstantiationError,
    GuestInterrupted,
    GuestTrap,
    call_guest,
    instantiate_guest,
    store_data,
)

from .runtime_fixtures import hostcall_wasm

CALLS_PER_THREAD = 600


class AlphaError(Exception):
    pass


class BetaError(Exception):
    pass


@pytest.fixture(scope="module")
def engine() -> Iterator[WasmEngine]:
    wasm_engine = WasmEngine()
    wasm_engine.start()
    yield wasm_engine
    wasm_engine.stop()


@pytest.fixture(scope="module")
def component(engine: WasmEngine) -> Component:
    return Component.from_file(engine.engine, str(hostcall_wasm()))


def make_linker(engine: WasmEngine, fail: Callable[[Any, int], int]) -> Linker:
    linker = Linker(engine.engine)
    with linker.root() as root, root.add_instance("test:runtime/host") as host:
        host.add_func("fail", fail)
    return linker


@dataclass
class Guest:
    store: wasmtime.Store
    funcs: dict[str, Any]

    def __call__(self, name: str, *args: Any) -> Any:
        return call_guest(self.funcs[name], self.store, *args)


def instantiate(engine: WasmEngine, linker: Linker, component: Component, data: Any = None) -> Guest:
    store = engine.new_store(deadline_seconds=10, data=data)
    instance = instantiate_guest(linker, store, component, what="hostcall fixture")
    guest = instance.get_export_index(store, "test:runtime/guest")
    funcs = {
        n: instance.get_func(store, instance.get_export_index(store, n, guest)) for n in ("call-host", "spin", "trap")
    }
    return Guest(store, funcs)


def raising(_ctx: Any, token: int) -> int:
    if token == 0:
        return 41
    if token % 2:
        raise AlphaError(token)
    raise BetaError(token)


def test_result_passes_through(engine: WasmEngine, component: Component) -> None:
    guest = instantiate(engine, make_linker(engine, raising), component)
    assert guest("call-host", 0) == 42


def test_host_exception_reaches_the_caller_unchanged(engine: WasmEngine, component: Component) -> None:
    guest = instantiate(engine, make_linker(engine, raising), component)
    with pytest.raises(AlphaError) as info:
        guest("call-host", 7)
    assert info.value.args == (7,)
    assert any(frame.name == "raising" for frame in info.traceback), "the host function's frame is kept"


def test_trap_is_classified_with_reason_and_backtrace(engine: WasmEngine, component: Component) -> None:
    guest = instantiate(engine, make_linker(engine, raising), component)
    with pytest.raises(GuestTrap) as info:
        guest("trap")
    assert "unreachable" in info.value.reason
    assert "wasm backtrace" in info.value.backtrace
    assert info.value.exit_code is None
    # The instance is poisoned: entering it again is refused, also as a GuestTrap.
    with pytest.raises(GuestTrap, match="cannot enter component instance"):
        guest("call-host", 0)


def test_interrupt_is_not_a_trap(engine: WasmEngine, component: Component) -> None:
    guest = instantiate(engine, make_linker(engine, raising), component)
    engine.extend_deadline(guest.store, 0.05)
    with pytest.raises(GuestInterrupted) as info:
        guest("spin", 10**15)
    assert not isinstance(info.value, GuestTrap)
    assert "wasm backtrace" in info.value.backtrace


def test_two_threads_each_get_their_own_exceptions(engine: WasmEngine, component: Component) -> None:
    """wasmtime-py's global LAST_EXCEPTION mixed up ~5% of these (measured); the routing must mix up none."""
    linker = make_linker(engine, raising)
    outcomes: dict[str, dict[str, int]] = {}
    barrier = threading.Barrier(2)

    def worker(name: str, parity: int, expected: type[Exception]) -> None:
        counts = {"own": 0, "foreign": 0, "other": 0}
        barrier.wait()
        for i in range(CALLS_PER_THREAD):
            token = 2 * i + 2 + parity  # never 0; odd tokens raise AlphaError, even BetaError
            guest = instantiate(engine, linker, component)
            try:
                guest("call-host", token)
            except (AlphaError, BetaError) as exc:
                own = isinstance(exc, expected) and exc.args == (token,)
                counts["own" if own else "foreign"] += 1
            except Exception:
                counts["other"] += 1
        outcomes[name] = counts

    threads = [
        threading.Thread(target=worker, args=("alpha", 1, AlphaError)),
        threading.Thread(target=worker, args=("beta", 0, BetaError)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clean = {"own": CALLS_PER_THREAD, "foreign": 0, "other": 0}
    assert outcomes == {"alpha": clean, "beta": clean}


def test_nested_guest_failure_surfaces_in_the_outer_caller(engine: WasmEngine, component: Component) -> None:
    """A host function that itself calls a guest which fails: the inner exception travels outward once."""
    inner = instantiate(engine, make_linker(engine, raising), component)

    def calls_inner(_ctx: Any, token: int) -> int:
        result: int = inner("call-host", token)
        return result

    outer = instantiate(engine, make_linker(engine, calls_inner), component)
    with pytest.raises(BetaError) as info:
        outer("call-host", 4)
    assert info.value.args == (4,)
    # The slot was consumed: a following clean call in a fresh instance is unaffected.
    fresh = instantiate(engine, make_linker(engine, raising), component)
    assert fresh("call-host", 0) == 42


def test_store_data_routes_a_shared_linker_to_its_store(engine: WasmEngine, component: Component) -> None:
    linker = make_linker(engine, lambda ctx, token: store_data(ctx)["base"] + token)
    first = instantiate(engine, linker, component, data={"base": 100})
    second = instantiate(engine, linker, component, data={"base": 200})
    assert first("call-host", 1) == 102
    assert second("call-host", 1) == 202


def test_missing_import_names_the_component(engine: WasmEngine, component: Component) -> None:
    with pytest.raises(GuestInstantiationError, match=r"cannot instantiate hostcall fixture: .*test:runtime/host"):
        instantiate(engine, Linker(engine.engine), component)


def test_a_host_function_type_is_read_once_not_per_call(
    engine: WasmEngine, component: Component, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fast_host_calls`` (installed by the engine) converts a host function's type on its first call only."""
    from wasmtime.component import _types

    original = _types.FuncType._from_ptr
    conversions: list[object] = []

    def counting(ptr: Any, owner: Any = None) -> Any:
        conversions.append(ptr)
        return original(ptr, owner)

    monkeypatch.setattr(_types.FuncType, "_from_ptr", counting)
    guest = instantiate(engine, make_linker(engine, lambda _ctx, token: token + 1), component)
    # the guest adds one to what the host returns
    assert [guest("call-host", token) for token in (1, 2, 3, 40)] == [3, 4, 5, 42]
    # wasmtime-py's Func.__call__ reads the export's type on each of the 4 guest calls; the host function's type
    # is read once (it was read on each of its calls before).
    assert len(conversions) == 4 + 1
