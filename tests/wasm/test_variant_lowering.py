"""``variant_lowering`` picks the same case as wasmtime-py's own lowering, for every value, valid or not; and a
host function whose result cannot be lowered fails its caller with wasmtime-py's error, on the caller's thread."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wasmtime import _ffi as ffi
from wasmtime.component import Component, ComponentInstanceType, FuncType, Linker, ValType, Variant, _enter

from obelisk.wasm import variant_lowering
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.host_calls import call_guest
from tests.wasm_access import export_func, record
from tests.wat_fixtures import build_wat_fixture

WAT_CACHE = Path(__file__).resolve().parents[2] / "build" / "test-cache" / "wat"


VALUES: list[Any] = [
    None,
    0,
    7,
    -1,
    "s",
    "",
    b"\x01\x02",
    b"",
    ["a", "b"],
    [],
    record(x=1, y=2),
    record(x="x", y=2),
    Variant("left", 3),
    Variant("right", 4),
    Variant("nope", 1),
    Variant("none"),
    1.5,
    True,
    object(),
]


@pytest.fixture(scope="module")
def engine() -> Iterator[WasmEngine]:
    with WasmEngine() as wasm_engine:
        yield wasm_engine


@pytest.fixture(scope="module")
def host_types(engine: WasmEngine) -> dict[str, ValType]:
    """The parameter and result types of the relay fixture's host functions: option, result, untagged and tagged
    variants, nested ones, with records, lists, strings and bytes inside."""
    component = Component.from_file(engine.engine, str(build_wat_fixture("relay", WAT_CACHE)))
    host = component.type.imports(engine.engine)["testing:relay/host"].ty
    assert isinstance(host, ComponentInstanceType)
    found = {}
    for name, extern in host.exports(engine.engine).items():
        func = extern.ty
        if not isinstance(func, FuncType):
            continue  # the interface's type exports (point, shape, pair)
        for param_name, ty in func.params:
            found[f"{name}.{param_name}"] = ty
        assert func.result is not None, f"{name} returns nothing"  # every host function of the fixture returns
        found[f"{name}.result"] = func.result
    return found


def _outcome(lower: Any, ty: Any, store: Any, value: Any) -> tuple[str, str]:
    try:
        name, raw = lower(ty, store, value)
    except Exception as exc:  # the same error, type and text, is part of the contract
        return ("raises", f"{type(exc).__name__}: {exc}")
    if raw:
        ffi.wasmtime_component_val_delete(raw)
    return ("case", name)


def test_every_value_lowers_to_the_same_case_as_wasmtime_py(engine: WasmEngine, host_types: dict[str, ValType]) -> None:
    store = engine.new_store(deadline_seconds=None)
    checked = 0
    for label, ty in host_types.items():
        if not isinstance(ty, variant_lowering._VariantLike):
            continue
        for value in VALUES:
            ours = _outcome(variant_lowering._lower, ty, store, value)
            theirs = _outcome(variant_lowering._original_lower, ty, store, value)
            assert ours == theirs, f"{label} <- {value!r}"
            checked += 1
    assert checked >= 8 * len(VALUES)


def test_install_is_idempotent_and_in_place() -> None:
    variant_lowering.install()
    variant_lowering.install()
    assert variant_lowering._VariantLike._lower is variant_lowering._lower
    assert variant_lowering._VariantLike._lift is variant_lowering._lift


def test_a_result_the_host_cannot_lower_fails_the_caller_with_its_error(engine: WasmEngine) -> None:
    component = Component.from_file(engine.engine, str(build_wat_fixture("relay", WAT_CACHE)))
    linker = Linker(engine.engine)
    with linker.root() as root, root.add_instance("testing:relay/host") as host:
        # Not wrapped in host_function: the error is raised by wasmtime-py's conversion after the function returned.
        host.add_func("option-step", lambda context, o: "not an option")
        host.add_func("pair-step", lambda context, p: p.payload)
    linker.define_unknown_imports_as_traps(component)
    for name, args, error in [
        ("option-step", (1,), ValueError),
        ("pair-step", (Variant("left", 1),), TypeError),
    ]:
        store = engine.new_store(deadline_seconds=None)
        instance = linker.instantiate(store, component)
        func = export_func(store, instance, "testing:relay/relay", name)
        with pytest.raises(error):
            call_guest(func, store, *args)
        assert _enter.LAST_EXCEPTION is None


def test_lifting_returns_wasmtime_py_forms(engine: WasmEngine, host_types: dict[str, ValType]) -> None:
    """Lowered then lifted through the patched pair: untagged values come back bare, tagged ones as ``Variant``."""
    store = engine.new_store(deadline_seconds=None)
    cases = [
        ("option-step.result", 5, 5),
        ("option-step.result", None, None),
        ("result-step.result", "err", "err"),
        ("pair-step.result", Variant("right", 2), Variant("right", 2)),
        ("nested-step.result", "e", "e"),
        ("bytes-step.result", b"ab", b"ab"),
    ]
    for label, value, expected in cases:
        ty = host_types[label]
        raw = ffi.wasmtime_component_val_t()
        ty.convert_to_c(store, value, ctypes.pointer(raw))
        assert ty.convert_from_c(raw) == expected, label
