"""Round trips of JSON values through a real component: the rich fixture's ``echo`` takes and returns the same
lowered value, so wasmtime-py lowers what ``to_wasm`` built and lifts it back for ``from_wasm``."""

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime import component as C

from obelisk.concepts.json_values import JsonValue, check_value
from obelisk.concepts.wit_types import (
    BOOL,
    STRING,
    U8,
    U64,
    Case,
    FunctionMetadata,
    WitBorrow,
    WitOption,
    WitOwn,
    WitResult,
    WitType,
    WitVariant,
)
from obelisk.wasm.introspect import ComponentInterfaces, _Converter, _ResourceTable, inspect_component
from obelisk.wasm.values import (
    ValueConversionError,
    adapt_return,
    from_wasm,
    is_tagged,
    python_classes,
    to_wasm,
)

RICH = Path(__file__).parent / "fixtures" / "rich" / "rich.wasm"


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine()


@pytest.fixture(scope="module")
def component(engine: wasmtime.Engine) -> C.Component:
    return C.Component(engine, RICH.read_bytes())


@pytest.fixture(scope="module")
def interfaces(engine: wasmtime.Engine, component: C.Component) -> ComponentInterfaces:
    return inspect_component(engine, component)


class Guest:
    def __init__(self, engine: wasmtime.Engine, component: C.Component, interfaces: ComponentInterfaces):
        linker = C.Linker(engine)
        linker.define_unknown_imports_as_traps(component)
        self.store = wasmtime.Store(engine)
        self.instance = linker.instantiate(self.store, component)
        ifc = self.instance.get_export_index(self.store, "testing:rich/types")
        assert ifc is not None
        self.ifc = ifc
        self.meta = {f.ffqn.function_name: f for f in interfaces.exports}

    def call_json(self, function: str, *params: JsonValue) -> JsonValue:
        """Check, lower, call, lift: the path an activity's params and result take."""
        meta: FunctionMetadata = self.meta[function]
        index = self.instance.get_export_index(self.store, function, self.ifc)
        assert index is not None
        func = self.instance.get_func(self.store, index)
        assert func is not None
        args = [to_wasm(check_value(p, param.type), param.type) for p, param in zip(params, meta.params, strict=True)]
        out = func(self.store, *args)
        assert meta.result is not None
        return from_wasm(out, meta.result)


@pytest.fixture
def guest(engine: wasmtime.Engine, component: C.Component, interfaces: ComponentInterfaces) -> Guest:
    return Guest(engine, component, interfaces)


EVERYTHING: dict[str, JsonValue] = {
    "flag": True,
    "small": 255,
    "s-small": -128,
    "medium": 65535,
    "s-medium": -32768,
    "word": 4294967295,
    "s-word": -2147483648,
    "big": 2**64 - 1,
    "s-big": -(2**63),
    "single": 1.5,
    "double": -0.1,
    "letter": "🦀",
    "text": "žluťoučký kůň",
    "names": ["a", "", "c"],
    "raw-bytes": [0, 1, 255],
    "pair": [7, "seven"],
    "origin": {"x": -1, "y": 2},
    "shape": {"circle": 2.5},
    "shapes": [{"rect": {"x": 1, "y": 2}}, "empty", {"circle": 0.0}],
    "color": "green",
    "perms": ["read", "exec"],
    "maybe": 5,
    "maybe-maybe": 3,
    "outcome": {"ok": "fine"},
    "bare": {"ok": None},
    "ok-only": {"ok": 42},
    "same": {"err": 9},
    "num": {"int": 17},
}


def variants() -> Iterator[dict[str, JsonValue]]:
    yield EVERYTHING
    changes: list[dict[str, JsonValue]] = [
        {"maybe": None, "maybe-maybe": None, "outcome": {"err": 4}, "bare": {"err": None}},
        {"ok-only": {"err": None}, "same": {"ok": 1}, "shape": "empty", "shapes": [], "perms": []},
        {"names": [], "raw-bytes": [], "text": "", "single": 3, "double": 1e300},
        {"shape": {"rect": {"x": 0, "y": 0}}, "flag": False, "perms": ["exec", "write", "read"]},
    ]
    for change in changes:
        value = copy.deepcopy(EVERYTHING)
        value.update(change)
        yield value


@pytest.mark.parametrize("value", list(variants()))
def test_record_of_every_kind_round_trips_through_the_guest(guest: Guest, value: dict[str, JsonValue]) -> None:
    back = guest.call_json("echo", value)
    expected = dict(value)
    expected["perms"] = [p for p in ("read", "write", "exec") if p in value["perms"]]  # type: ignore[operator]
    assert back == expected


def test_scalars_round_trip_through_the_guest(guest: Guest) -> None:
    assert guest.call_json("echo-u8", 200) == 200
    assert guest.call_json("echo-s64", -(2**63)) == -(2**63)
    assert guest.call_json("echo-f32", 0.5) == 0.5
    assert guest.call_json("echo-f32", 2) == 2.0
    assert guest.call_json("echo-char", "é") == "é"


def test_wasmtime_representations(interfaces: ComponentInterfaces) -> None:
    everything = next(f for f in interfaces.exports if f.ffqn.function_name == "echo").params[0].type
    py: Any = to_wasm(EVERYTHING, everything)
    assert isinstance(py, C.Record)
    rec: Any = py
    assert getattr(rec, "s-small") == -128  # kebab-case attribute names, verbatim
    assert rec.pair == (7, "seven")
    assert getattr(rec, "raw-bytes") == b"\x00\x01\xff"
    assert rec.perms == {"read", "exec"}
    assert rec.color == "green"
    assert rec.maybe == 5
    assert rec.bare == C.Variant("ok", None)  # result<_, _>: both cases look alike, so tagged
    assert getattr(rec, "maybe-maybe") == C.Variant("some", 3)
    assert rec.same == C.Variant("err", 9)
    assert rec.outcome == "fine"
    assert rec.shape == 2.5


def test_bool_payload_after_int_case_is_refused() -> None:
    num = WitVariant((Case("int", U64), Case("flag", BOOL)))
    assert to_wasm({"int": 1}, num) == 1
    with pytest.raises(ValueConversionError, match="it would be sent as case int"):
        to_wasm({"flag": True}, num)
    assert from_wasm(True, num) == {"flag": True}
    assert from_wasm(1, num) == {"int": 1}


def test_resources_are_not_json(interfaces: ComponentInterfaces) -> None:
    for t in (WitOwn(), WitBorrow()):
        with pytest.raises(ValueConversionError, match="cannot be converted"):
            to_wasm(1, t)
        with pytest.raises(ValueConversionError, match="cannot be converted"):
            from_wasm(object(), t)


def _walk(t: Any) -> Iterator[Any]:
    yield t
    children: list[Any] = []
    if isinstance(t, C.ListType):
        children = [t.element]
    elif isinstance(t, C.OptionType):
        children = [t.payload]
    elif isinstance(t, C.TupleType):
        children = t.elements
    elif isinstance(t, C.RecordType):
        children = [ft for _, ft in t.fields]
    elif isinstance(t, C.ResultType | C.VariantType):
        children = [p for _, p in t._cases() if p is not None]
    for child in children:
        yield from _walk(child)


def test_tagging_rule_agrees_with_wasmtime(engine: wasmtime.Engine, component: C.Component) -> None:
    """Our replica of wasmtime-py's Variant-or-bare rule must agree with wasmtime-py on every type in the fixture."""
    converter = _Converter(_ResourceTable())
    instance = component.type.exports(engine)["testing:rich/types"].ty
    assert isinstance(instance, C.ComponentInstanceType)
    types = instance.exports(engine)
    checked = 0
    for ext in types.values():
        item = ext.ty
        roots = [item] if not isinstance(item, C.FuncType) else [t for _, t in item.params]
        for root in roots:
            for wt in _walk(root):
                ours = converter.convert(wt)
                theirs: set[type] = set()
                wt.add_classes(theirs)
                assert python_classes(ours) == theirs, ours.to_wit()
                if isinstance(wt, C.ResultType | C.VariantType | C.OptionType):
                    assert is_tagged(ours) == wt._tagged(), ours.to_wit()
                    checked += 1
    assert checked >= 8


def test_adapt_return_wraps_only_what_wasmtime_needs_wrapped() -> None:
    assert adapt_return(None, WitResult(None, None)) == C.Variant("ok", None)
    assert adapt_return(5, WitResult(U64, U64)) == C.Variant("ok", 5)
    assert adapt_return(C.Variant("err", 1), WitResult(U64, U64)) == C.Variant("err", 1)
    assert adapt_return("x", WitResult(STRING, U8)) == "x"  # untagged: the bare payload is right
    assert adapt_return(None, WitOption(WitOption(U8))) == C.Variant("none")
    assert adapt_return(3, WitOption(WitOption(U8))) == C.Variant("some", 3)
    assert adapt_return(3, None) == 3
    with pytest.raises(ValueConversionError, match=r"must return wasmtime\.component\.Variant"):
        adapt_return("a", WitVariant((Case("a", None), Case("b", None))))


def test_from_wasm_of_lifted_tagged_values() -> None:
    t: WitType = WitResult(None, None)
    assert from_wasm(C.Variant("ok"), t) == {"ok": None}
    assert from_wasm(C.Variant("err"), t) == {"err": None}
    assert from_wasm(C.Variant("some", None), WitOption(WitOption(U8))) is None
    assert from_wasm(C.Variant("some", 4), WitOption(WitOption(U8))) == 4
