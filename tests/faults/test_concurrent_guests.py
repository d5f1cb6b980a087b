"""Concurrent guests: many instances on many threads convert option, result and variant values (with records,
lists, strings and bytes inside) in both directions at once; every value must arrive intact, and every failure
must reach the thread whose call caused it, as the exception that explains it.

The ``relay`` WAT fixture passes each export's arguments to the host function of the same name and returns the
host's result, so one call lowers a value twice (the export's parameter, the host function's result) and lifts it
twice. wasmtime-py 50 lowered untagged option/result/variant values through a set shared by every thread, and
carried host exceptions through a process-wide global; before the wasm layer made both per-thread, the value test
failed every run (13-17 calls of 14,400 raised ``TypeError: expected list value`` or ``ValueError: value not valid
for this variant``) and the failure test saw exceptions of other threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime.component import Component, Func, Linker, Record, Variant, _enter

from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.host_calls import GuestTrap, call_guest, store_data
from tests.faults.conftest import scaled, scaled_timeout
from tests.wasm_access import export_func, record, record_fields
from tests.wat_fixtures import build_wat_fixture

WAT_CACHE = Path(__file__).resolve().parents[2] / "build" / "test-cache" / "wat"
RELAY = "testing:relay/relay"
FUNCTIONS = ("option-step", "result-step", "shape-step", "pair-step", "names-step", "bytes-step", "nested-step")
THREADS = 16
ROUNDS = 150
"""Per thread; each round makes one call of every function. More threads find the race more often than more rounds:
each of them is another candidate to run while a converting thread waits in a ctypes call."""
JOIN_SECONDS = scaled_timeout(120.0)


def _plain(value: Any) -> Any:
    """A comparable form: ``Record.__eq__`` checks the fields of one side only."""
    if isinstance(value, Record):
        return ("record", sorted((k, _plain(v)) for k, v in vars(value).items()))
    if isinstance(value, Variant):
        return ("variant", value.tag, _plain(value.payload))
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# ---- the host: each function maps its argument to a value of the same type --------------------------------------


@dataclass
class Behaviour:
    """A store's data: tells the shared host functions what this thread's calls must do."""

    bad_result: str | None = None
    """``option-step`` returns a value that is not an ``option<u64>`` (a ``ValueError`` of wasmtime-py's lowering),
    ``pair-step`` one that is not a tagged ``Variant`` (a ``TypeError``); the name says which."""
    raise_marker: int | None = None
    """``result-step`` raises ``MarkerError(raise_marker)``."""


class MarkerError(Exception):
    def __init__(self, marker: int):
        super().__init__(f"marker {marker}")
        self.marker = marker


def _option_step(context: Any, o: int | None) -> Any:
    if store_data(context).bad_result == "option":
        return "not an option<u64>"
    return None if o is None else o + 1


def _result_step(context: Any, r: int | str) -> int | str:
    marker = store_data(context).raise_marker
    if marker is not None:
        raise MarkerError(marker)
    return r + 1 if isinstance(r, int) else r[::-1]


def _shape_step(context: Any, s: int | Record | None) -> int | Record | None:
    if s is None:
        return None
    if isinstance(s, int):
        return s * 2
    fields = record_fields(s)
    return record(x=fields["y"], y=fields["x"])


def _pair_step(context: Any, p: Variant) -> Any:
    if store_data(context).bad_result == "pair":
        return p.payload
    assert isinstance(p.payload, int)  # both cases of `pair` carry a u32
    return Variant("right" if p.tag == "left" else "left", p.payload + 1)


def _names_step(context: Any, names: list[str], tag: str | None) -> list[str] | str:
    return f"no tag for {len(names)}" if tag is None else [f"{tag}:{name}" for name in names]


def _bytes_step(context: Any, b: bytes | None) -> bytes | None:
    return None if b is None else b[::-1]


def _nested_step(context: Any, v: int | str | None) -> int | str | None:
    if v is None:
        return None
    return v * 2 if isinstance(v, int) else v + "!"


HOST: dict[str, Callable[..., Any]] = {
    "option-step": _option_step,
    "result-step": _result_step,
    "shape-step": _shape_step,
    "pair-step": _pair_step,
    "names-step": _names_step,
    "bytes-step": _bytes_step,
    "nested-step": _nested_step,
}


def _calls(thread: int, round_: int) -> list[tuple[str, tuple[Any, ...], Any]]:
    """(function, arguments, expected result) of one round: every case of every type, values unique per call."""
    n = thread * 1_000_000 + round_
    tag = f"t{thread}"
    data = n.to_bytes(8, "little")
    return [
        ("option-step", (n if round_ % 2 else None,), n + 1 if round_ % 2 else None),
        ("result-step", (n if round_ % 3 else f"s{n}",), n + 1 if round_ % 3 else f"s{n}"[::-1]),
        (
            "shape-step",
            ([n, record(x=thread, y=-round_), None][round_ % 3],),
            [2 * n, record(x=-round_, y=thread), None][round_ % 3],
        ),
        ("pair-step", (Variant(["left", "right"][round_ % 2], n),), Variant(["right", "left"][round_ % 2], n + 1)),
        (
            "names-step",
            ([f"a{n}", "b"], tag if round_ % 2 else None),
            [f"{tag}:a{n}", f"{tag}:b"] if round_ % 2 else "no tag for 2",
        ),
        ("bytes-step", (data if round_ % 2 else None,), data[::-1] if round_ % 2 else None),
        ("nested-step", ([None, n, f"e{n}"][round_ % 3],), [None, 2 * n, f"e{n}!"][round_ % 3]),
    ]


# ---- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> Iterator[WasmEngine]:
    with WasmEngine() as wasm_engine:
        yield wasm_engine


@pytest.fixture(scope="module")
def component(engine: WasmEngine) -> Component:
    return Component.from_file(engine.engine, str(build_wat_fixture("relay", WAT_CACHE)))


@pytest.fixture(scope="module")
def linker(engine: WasmEngine) -> Linker:
    """One Linker for every thread, as the engine shares one per component."""
    linker = Linker(engine.engine)
    with linker.root() as root, root.add_instance("testing:relay/host") as host:
        for name, func in HOST.items():
            host.add_func(name, func)
    return linker


@dataclass
class Guest:
    """One instance on one thread; replaced after a failed call (a trapped instance cannot be entered again)."""

    engine: WasmEngine
    component: Component
    linker: Linker
    behaviour: Behaviour
    store: wasmtime.Store = field(init=False)
    funcs: dict[str, Func] = field(init=False)

    def __post_init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self.store = self.engine.new_store(deadline_seconds=None, data=self.behaviour)
        instance = self.linker.instantiate(self.store, self.component)
        self.funcs = {name: export_func(self.store, instance, RELAY, name) for name in (*FUNCTIONS, "trap")}

    def call(self, name: str, *args: Any) -> Any:
        try:
            return call_guest(self.funcs[name], self.store, *args)
        except BaseException:
            self.renew()
            raise


def _run_threads(count: int, work: Callable[[int], list[str]]) -> list[str]:
    """Runs ``work(thread)`` on ``count`` threads started together; returns every problem they reported."""
    problems: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(count)

    def body(thread: int) -> None:
        start.wait()
        try:
            found = work(thread)
        except BaseException as exc:  # a harness failure must fail the test, not vanish with the thread
            found = [f"thread {thread} crashed: {exc!r}"]
        with lock:
            problems.extend(found)

    threads = [threading.Thread(target=body, args=(t,), name=f"guest-{t}") for t in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a guest thread did not finish"
    return problems


# ---- tests ------------------------------------------------------------------------------------------------------


def test_every_value_survives_concurrent_guests(
    engine: WasmEngine, component: Component, linker: Linker, fault_scale: float
) -> None:
    rounds = scaled(ROUNDS, fault_scale)

    def work(thread: int) -> list[str]:
        guest = Guest(engine, component, linker, Behaviour())
        problems = []
        for round_ in range(rounds):
            for name, args, expected in _calls(thread, round_):
                try:
                    got = guest.call(name, *args)
                except Exception as exc:
                    problems.append(f"{name}{args!r} on thread {thread} raised {type(exc).__name__}: {exc}")
                    continue
                if _plain(got) != _plain(expected):
                    problems.append(f"{name}{args!r} on thread {thread} returned {got!r}, expected {expected!r}")
        return problems

    problems = _run_threads(THREADS, work)
    calls = THREADS * rounds * len(FUNCTIONS)
    assert not problems, f"{len(problems)} of {calls} calls went wrong, e.g.:\n" + "\n".join(problems[:10])
    assert _enter.LAST_EXCEPTION is None


def test_each_failure_reaches_its_own_thread(
    engine: WasmEngine, component: Component, linker: Linker, fault_scale: float
) -> None:
    """Threads of five kinds run together: correct calls, a host function whose result wasmtime-py cannot lower
    (untagged: ``ValueError``; tagged: ``TypeError``), a host function raising an exception that names its thread,
    and a guest that traps. Each must see exactly its own outcome."""
    rounds = scaled(ROUNDS, fault_scale)
    kinds = ("good", "bad-option", "bad-pair", "raises", "traps")

    def work(thread: int) -> list[str]:
        kind = kinds[thread % len(kinds)]
        behaviour = Behaviour(
            bad_result={"bad-option": "option", "bad-pair": "pair"}.get(kind),
            raise_marker=thread if kind == "raises" else None,
        )
        guest = Guest(engine, component, linker, behaviour)
        problems = []
        for round_ in range(rounds):
            calls = {name: (args, expected) for name, args, expected in _calls(thread, round_)}
            try:
                if kind == "good":
                    args, expected = calls["names-step"]
                    got = guest.call("names-step", *args)
                    if got != expected:
                        problems.append(f"thread {thread} ({kind}): names-step returned {got!r}, expected {expected!r}")
                    continue
                if kind == "bad-option":
                    guest.call("option-step", 5)
                elif kind == "bad-pair":
                    guest.call("pair-step", Variant("left", round_))
                elif kind == "raises":
                    guest.call("result-step", round_)
                else:
                    guest.call("trap")
                problems.append(f"thread {thread} ({kind}): the call succeeded")
            except ValueError as exc:
                if kind != "bad-option" or "value not valid for this variant" not in str(exc):
                    problems.append(f"thread {thread} ({kind}): ValueError {exc}")
            except TypeError as exc:
                if kind != "bad-pair" or "expected Variant type" not in str(exc):
                    problems.append(f"thread {thread} ({kind}): TypeError {exc}")
            except MarkerError as exc:
                if kind != "raises" or exc.marker != thread:
                    problems.append(f"thread {thread} ({kind}): MarkerError of thread {exc.marker}")
            except GuestTrap as exc:
                if kind != "traps" or "unreachable" not in exc.reason:
                    problems.append(f"thread {thread} ({kind}): GuestTrap {exc.reason}")
            except Exception as exc:
                problems.append(f"thread {thread} ({kind}): {type(exc).__name__} {exc}")
        return problems

    problems = _run_threads(THREADS, work)
    assert not problems, f"{len(problems)} calls ended wrongly, e.g.:\n" + "\n".join(problems[:10])
    assert _enter.LAST_EXCEPTION is None
