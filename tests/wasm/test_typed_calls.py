"""``TypedFunc`` with a signature read once gives what wasmtime-py's ``Func.__call__`` gives, for every export of
the relay fixture (values that lower and values that do not, a trap, a function without a result), on instances
other than the one the signature was read from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wasmtime.component import Component, Linker, Variant

from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.host_calls import GuestTrap, call_guest
from obelisk.wasm.typed_calls import ExportSignatures, TypedFunc
from tests.wasm_access import export_func, record
from tests.wat_fixtures import build_wat_fixture

WAT_CACHE = Path(__file__).resolve().parents[2] / "build" / "test-cache" / "wat"
RELAY = "testing:relay/relay"

CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("option-step", (7,)),
    ("option-step", (None,)),
    ("option-step", ("not a u64",)),
    ("pair-step", (Variant("left", 3),)),
    ("pair-step", (Variant("nope", 1),)),
    ("shape-step", (Variant("rectangle", record(x=1, y=-2)),)),
    ("shape-step", (Variant("empty"),)),
    ("names-step", (["a", "b"], "t")),
    ("names-step", ([], None)),
    ("names-step", (["a"],)),
    ("bytes-step", (b"\x00\x01\xff",)),
    ("bytes-step", (b"",)),
    ("nested-step", (5,)),
    ("trap", ()),
]


@pytest.fixture(scope="module")
def engine() -> Iterator[WasmEngine]:
    with WasmEngine() as wasm_engine:
        yield wasm_engine


@pytest.fixture(scope="module")
def relay(engine: WasmEngine) -> tuple[Linker, Component]:
    component = Component.from_file(engine.engine, str(build_wat_fixture("relay", WAT_CACHE)))
    linker = Linker(engine.engine)
    with linker.root() as root, root.add_instance("testing:relay/host") as host:
        for name in ("option-step", "result-step", "shape-step", "pair-step", "bytes-step", "nested-step"):
            host.add_func(name, lambda context, value: value)
        host.add_func("names-step", lambda context, names, tag: [*names, tag] if tag is not None else names)
    return linker, component


def _outcome(func: Any, store: Any, args: tuple[Any, ...]) -> tuple[str, str]:
    """The value returned, or the kind of failure (wasmtime-py's conversion errors by type; their texts differ)."""
    try:
        return "ok", repr(call_guest(func, store, *args))
    except GuestTrap:
        return "trap", ""
    except (TypeError, ValueError) as error:
        return type(error).__name__, ""


def test_typed_calls_give_what_func_call_gives(engine: WasmEngine, relay: tuple[Linker, Component]) -> None:
    linker, component = relay
    signatures = ExportSignatures()
    compared = 0
    for name, args in CALLS:
        plain_store = engine.new_store(deadline_seconds=None)
        plain = export_func(plain_store, linker.instantiate(plain_store, component), RELAY, name)
        expected = _outcome(plain, plain_store, args)

        # The signature is read from one instance and used on another, as a worker does from its first call on.
        first_store = engine.new_store(deadline_seconds=None)
        signature = signatures.of(
            name, export_func(first_store, linker.instantiate(first_store, component), RELAY, name), first_store
        )
        store = engine.new_store(deadline_seconds=None)
        typed = TypedFunc(export_func(store, linker.instantiate(store, component), RELAY, name), signature)
        assert _outcome(typed, store, args) == expected, (name, args)
        compared += expected[0] == "ok"
    assert compared >= 8  # most calls succeed: the comparison is not only of failures


def test_a_signature_is_read_once_per_export(engine: WasmEngine, relay: tuple[Linker, Component]) -> None:
    linker, component = relay
    signatures = ExportSignatures()
    read = []
    for _ in range(3):
        store = engine.new_store(deadline_seconds=None)
        func = export_func(store, linker.instantiate(store, component), RELAY, "names-step")
        read.append(signatures.of("names-step", func, store))
    assert read[0] is read[1] is read[2]
    assert len(read[0].params) == 2 and read[0].result is not None
