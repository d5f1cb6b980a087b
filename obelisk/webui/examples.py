"""A JSON example for a WIT type, prefilled in submit forms so that people edit a value rather than guess a shape.

The example always passes ``check_value`` for its type (tested), so submitting an untouched form never fails on
the encoding; only resources have no JSON form and get ``null``.
"""

from __future__ import annotations

from obelisk.concepts.json_values import JsonValue
from obelisk.concepts.wit_types import (
    PrimitiveKind,
    WitEnum,
    WitFlags,
    WitList,
    WitOption,
    WitPrimitive,
    WitRecord,
    WitResult,
    WitTuple,
    WitType,
    WitVariant,
)

_PRIMITIVE_EXAMPLES: dict[PrimitiveKind, JsonValue] = {
    PrimitiveKind.BOOL: False,
    PrimitiveKind.CHAR: "a",
    PrimitiveKind.STRING: "",
    PrimitiveKind.F32: 0.0,
    PrimitiveKind.F64: 0.0,
}

_MAX_DEPTH = 12


def example_value(wit_type: WitType, depth: int = 0) -> JsonValue:
    if depth > _MAX_DEPTH:
        return None
    nested = depth + 1
    match wit_type:
        case WitPrimitive(kind):
            return _PRIMITIVE_EXAMPLES.get(kind, 0)
        case WitList(element):
            return [example_value(element, nested)]
        case WitTuple(elements):
            return [example_value(e, nested) for e in elements]
        case WitRecord(fields):
            return {f.name: example_value(f.type, nested) for f in fields}
        case WitVariant(cases):
            first = cases[0]
            if first.payload is None:
                return first.name
            return {first.name: example_value(first.payload, nested)}
        case WitEnum(cases):
            return cases[0]
        case WitFlags(names):
            return list(names[:1])
        case WitOption():
            return None
        case WitResult(ok, _):
            return {"ok": None if ok is None else example_value(ok, nested)}
    return None
