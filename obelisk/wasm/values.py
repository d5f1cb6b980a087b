"""Conversion between checked JSON values and the Python objects wasmtime-py 50 lowers and lifts.

wasmtime-py's representation (read from ``wasmtime/component/_types.py``): records are ``Record`` objects whose
attributes carry the WIT field names verbatim (kebab-case, set with ``setattr``), tuples are ``tuple``,
``list<u8>`` is ``bytes`` and other lists ``list``, flags a ``set`` of names, enums a ``str``.
Variants, options and results are *untagged* (the bare payload, ``None`` for a case without one) unless two
cases map to overlapping Python classes; then, and only then, they are ``Variant(tag, payload)``. The same
rule is replicated here on our own type model (``python_classes``/``is_tagged``) so the right shape is built
without a live wasmtime type.

wasmtime-py picks the case of an untagged value by trying the cases in order with ``isinstance``. Because
``bool`` is a subclass of ``int`` and a payload-less case or an untagged option accepts ``object``, some
values would be lowered as an earlier, wrong case. ``to_wasm`` refuses those with a typed error instead of
letting a different value reach the guest.
"""

from __future__ import annotations

from typing import Any

from wasmtime.component import Record, ResourceAny, ResourceHost, Variant

from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.json_values import JsonValue
from obelisk.concepts.wit_types import (
    Case,
    PrimitiveKind,
    WitBorrow,
    WitEnum,
    WitFlags,
    WitList,
    WitOption,
    WitOwn,
    WitPrimitive,
    WitRecord,
    WitResult,
    WitTuple,
    WitType,
    WitVariant,
)


class ValueConversionError(ObeliskError):
    """A value cannot cross between JSON and wasmtime for the given WIT type."""


_U8 = WitPrimitive(PrimitiveKind.U8)


def python_classes(t: WitType | None) -> frozenset[type]:
    """The Python classes wasmtime-py produces/accepts for ``t`` (``object`` for a missing payload)."""
    if t is None:
        return frozenset({object})
    if isinstance(t, WitPrimitive):
        if t.kind is PrimitiveKind.BOOL:
            return frozenset({bool})
        if t.is_integer:
            return frozenset({int})
        if t.is_float:
            return frozenset({float})
        return frozenset({str})
    if isinstance(t, WitList):
        return frozenset({bytes}) if t.element == _U8 else frozenset({list})
    if isinstance(t, WitTuple):
        return frozenset({tuple})
    if isinstance(t, WitRecord):
        return frozenset({Record})
    if isinstance(t, WitEnum):
        return frozenset({str})
    if isinstance(t, WitFlags):
        return frozenset({set})
    if isinstance(t, WitOwn | WitBorrow):
        return frozenset({ResourceAny, ResourceHost})
    cases = _cases(t)
    if _tagged(cases):
        return frozenset({Variant})
    out: set[type] = set()
    for case in cases:
        out |= python_classes(case.payload)
    return frozenset(out)


def _cases(t: WitType) -> tuple[Case, ...]:
    if isinstance(t, WitVariant):
        return t.cases
    if isinstance(t, WitOption):
        return (Case("none", None), Case("some", t.payload))
    if isinstance(t, WitResult):
        return (Case("ok", t.ok), Case("err", t.err))
    raise AssertionError(f"{t!r} is not variant-like")


def _tagged(cases: tuple[Case, ...]) -> bool:
    seen: set[type] = set()
    for case in cases:
        classes = python_classes(case.payload)
        if classes & seen:
            return True
        seen |= classes
    return False


def is_tagged(t: WitType) -> bool:
    """Whether wasmtime-py represents this variant/option/result as ``Variant`` rather than a bare payload."""
    return isinstance(t, WitVariant | WitOption | WitResult) and _tagged(_cases(t))


# --- JSON -> wasmtime ---------------------------------------------------------------------------------------


def to_wasm(value: JsonValue, t: WitType) -> Any:
    """The Python object wasmtime-py expects for a value already checked by ``check_value``."""
    if isinstance(t, WitPrimitive):
        if t.kind is PrimitiveKind.BOOL:
            return bool(value)
        if t.is_integer:
            return int(value)  # type: ignore[arg-type]
        if t.is_float:
            return float(value)  # type: ignore[arg-type]
        return str(value)
    if isinstance(t, WitList):
        items = _as_list(value, t)
        if t.element == _U8:
            return bytes(int(v) for v in items)  # type: ignore[arg-type]
        return [to_wasm(v, t.element) for v in items]
    if isinstance(t, WitTuple):
        return tuple(to_wasm(v, et) for v, et in zip(_as_list(value, t), t.elements, strict=True))
    if isinstance(t, WitRecord):
        if not isinstance(value, dict):
            raise ValueConversionError(f"expected an object for {t.to_wit()}, got {value!r}")
        record = Record()
        for f in t.fields:
            setattr(record, f.name, to_wasm(value[f.name], f.type))
        return record
    if isinstance(t, WitEnum):
        return str(value)
    if isinstance(t, WitFlags):
        return {str(v) for v in _as_list(value, t)}
    if isinstance(t, WitOption):
        if value is None:
            return _lower_case(t, "none", None)
        return _lower_case(t, "some", to_wasm(value, t.payload))
    if isinstance(t, WitResult | WitVariant):
        name, payload = _split_case(value, t)
        case = next((c for c in _cases(t) if c.name == name), None)
        if case is None:
            raise ValueConversionError(f"unknown case {name!r} of {t.to_wit()}")
        return _lower_case(t, name, None if case.payload is None else to_wasm(payload, case.payload))
    raise ValueConversionError(f"values of type {t.to_wit()} cannot be converted from JSON")


def _as_list(value: JsonValue, t: WitType) -> list[JsonValue]:
    if not isinstance(value, list):
        raise ValueConversionError(f"expected an array for {t.to_wit()}, got {value!r}")
    return value


def _split_case(value: JsonValue, t: WitType) -> tuple[str, JsonValue]:
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict) and len(value) == 1:
        ((name, payload),) = value.items()
        return name, payload
    raise ValueConversionError(f"expected a case of {t.to_wit()}, got {value!r}")


def _lower_case(t: WitType, name: str, payload: Any) -> Any:
    cases = _cases(t)
    if _tagged(cases):
        return Variant(name, payload)
    picked = _case_wasmtime_lowers(cases, payload)
    if picked != name:
        raise ValueConversionError(
            f"wasmtime-py 50 cannot pass case {name} of {t.to_wit()} with payload {payload!r}: it would be "
            f"sent as case {picked} (its untagged case selection cannot tell these cases apart)"
        )
    return payload


def _case_wasmtime_lowers(cases: tuple[Case, ...], payload: Any) -> str | None:
    """The case wasmtime-py's ``VariantLikeType._lower`` selects for an untagged value."""
    for case in cases:
        if case.payload is None:
            if payload is None:
                return case.name
        elif isinstance(payload, tuple(python_classes(case.payload))):
            return case.name
    return None


# --- wasmtime -> JSON ---------------------------------------------------------------------------------------


def from_wasm(value: Any, t: WitType) -> JsonValue:
    """Turn a value lifted by wasmtime-py into its JSON encoding (docs/compatibility.md#values)."""
    if isinstance(t, WitPrimitive):
        if t.kind is PrimitiveKind.BOOL:
            return bool(value)
        if t.is_integer:
            return int(value)
        if t.is_float:
            return float(value)
        return str(value)
    if isinstance(t, WitList):
        if t.element == _U8 and isinstance(value, bytes | bytearray):
            return list(value)
        return [from_wasm(v, t.element) for v in value]
    if isinstance(t, WitTuple):
        return [from_wasm(v, et) for v, et in zip(value, t.elements, strict=True)]
    if isinstance(t, WitRecord):
        return {f.name: from_wasm(getattr(value, f.name), f.type) for f in t.fields}
    if isinstance(t, WitEnum):
        return str(value)
    if isinstance(t, WitFlags):
        present = {str(v) for v in value}
        return [n for n in t.names if n in present]
    if isinstance(t, WitOption | WitResult | WitVariant):
        name, payload = _lift_case(value, t)
        case = next(c for c in _cases(t) if c.name == name)
        if isinstance(t, WitOption):
            return None if name == "none" else from_wasm(payload, t.payload)
        converted = None if case.payload is None else from_wasm(payload, case.payload)
        if isinstance(t, WitResult):
            return {name: converted}
        return name if case.payload is None else {name: converted}
    raise ValueConversionError(f"values of type {t.to_wit()} cannot be converted to JSON")


def _lift_case(value: Any, t: WitType) -> tuple[str, Any]:
    cases = _cases(t)
    if _tagged(cases):
        if not isinstance(value, Variant):
            raise ValueConversionError(f"expected a Variant for {t.to_wit()}, got {value!r}")
        return value.tag, value.payload
    # Untagged: the payload's class identifies the case (exact class first, so bool is not taken for int).
    if value is None:
        for case in cases:
            if case.payload is None or object in python_classes(case.payload):
                return case.name, None
    for case in cases:
        if case.payload is not None and type(value) in python_classes(case.payload):
            return case.name, value
    for case in cases:
        classes = python_classes(case.payload) - {object}
        if case.payload is not None and isinstance(value, tuple(classes)):
            return case.name, value
    raise ValueConversionError(f"cannot tell which case of {t.to_wit()} the value {value!r} is")


# --- host function returns ------------------------------------------------------------------------------------


def adapt_return(value: Any, t: WitType | None) -> Any:
    """Shape a host function's natural Python return for wasmtime-py's lowering of the declared result type.

    A host implementation returns the ok payload of a ``result`` (or ``None`` for ``result<_, E>``), a payload or
    ``None`` for an ``option``, and raises to fail. wasmtime-py however insists on ``Variant`` for results and
    options whose cases are not distinguishable by Python class (``result``, ``result<u64, u64>``,
    ``option<option<T>>``): a plain value there is rejected with ``TypeError: expected Variant type`` inside
    the callback. An explicit ``Variant`` is passed through unchanged.
    """
    if t is None or isinstance(value, Variant) or not is_tagged(t):
        return value
    if isinstance(t, WitResult):
        return Variant("ok", value)
    if isinstance(t, WitOption):
        return Variant("none") if value is None else Variant("some", value)
    raise ValueConversionError(
        f"a host function returning {t.to_wit()} must return wasmtime.component.Variant(case, payload)"
    )
