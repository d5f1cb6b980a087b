"""Type-checking of JSON values against WIT types (the encoding of docs/compatibility.md#values).

Every parameter list and every result is checked here before anything is written, so a bad submission is
refused at the edge with a message that points at the exact spot: the parameter (name and index), the path
inside the value, the WIT type expected there and what was given.

The checked value is returned normalized: integral floats given for integer types become ``int`` and a
payload-less variant case written as ``{"case": null}`` becomes ``"case"``; everything else is unchanged.
"""

from __future__ import annotations

import json
import math
from typing import NoReturn, TypeAlias

from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.wit_types import (
    INTEGER_RANGES,
    FunctionMetadata,
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

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None

_F32_MAX = 3.4028234663852886e38
_GIVEN_MAX_CHARS = 80


class ValueTypeError(ObeliskError, ValueError):
    """A JSON value does not fit the WIT type it is meant for."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        expected: str | None = None,
        given: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.given = given


class ParamCountError(ValueTypeError):
    """The params array has the wrong length for the function."""


def short_json(value: object) -> str:
    """A bounded, JSON-looking rendering of what the caller gave, for error messages."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _GIVEN_MAX_CHARS:
        text = text[: _GIVEN_MAX_CHARS - 3] + "..."
    return text


def check_params(params: object, metadata: FunctionMetadata) -> list[JsonValue]:
    """Check a params array against a function's signature; return the normalized values."""
    where = f"parameters of {metadata.ffqn}"
    if not isinstance(params, list):
        raise ValueTypeError(
            f"{where}: expected a JSON array of {len(metadata.params)} value(s) for "
            f"{metadata.to_wit_signature()}, got {short_json(params)}",
            path="params",
            expected=metadata.to_wit_signature(),
            given=short_json(params),
        )
    if len(params) != len(metadata.params):
        raise ParamCountError(
            f"{where}: expected {len(metadata.params)} parameter(s), {len(params)} given; "
            f"signature: {metadata.to_wit_signature()}",
            path="params",
            expected=metadata.to_wit_signature(),
            given=short_json(params),
        )
    checked: list[JsonValue] = []
    for index, (value, param) in enumerate(zip(params, metadata.params, strict=True)):
        try:
            checked.append(check_value(value, param.type, f"params[{index}] ({param.name})"))
        except ValueTypeError as e:
            raise ValueTypeError(f"{where}: {e}", path=e.path, expected=e.expected, given=e.given) from None
    return checked


def check_value(value: object, wit_type: WitType, path: str = "value") -> JsonValue:
    """Check one JSON value against a WIT type; ``path`` names the value in error messages."""
    return _Checker().check(value, wit_type, path)


class _Checker:
    def check(self, value: object, t: WitType, path: str) -> JsonValue:
        if isinstance(t, WitPrimitive):
            return self._primitive(value, t, path)
        if isinstance(t, WitList):
            items = self._array(value, t, path)
            return [self.check(v, t.element, f"{path}[{i}]") for i, v in enumerate(items)]
        if isinstance(t, WitTuple):
            items = self._array(value, t, path)
            if len(items) != len(t.elements):
                self._fail(path, t, value, f"a tuple of {len(t.elements)} elements, {len(items)} given")
            return [self.check(v, et, f"{path}[{i}]") for i, (v, et) in enumerate(zip(items, t.elements, strict=True))]
        if isinstance(t, WitRecord):
            return self._record(value, t, path)
        if isinstance(t, WitVariant):
            return self._variant(value, t, path)
        if isinstance(t, WitEnum):
            if not isinstance(value, str):
                self._fail(path, t, value, "an enum is written as a string")
            if value not in t.cases:
                self._fail(path, t, value, f"unknown case, expected one of: {', '.join(t.cases)}")
            return value
        if isinstance(t, WitFlags):
            return self._flags(value, t, path)
        if isinstance(t, WitOption):
            return None if value is None else self.check(value, t.payload, path)
        if isinstance(t, WitResult):
            return self._result(value, t, path)
        if isinstance(t, WitOwn | WitBorrow):
            self._fail(path, t, value, "resource handles cannot be given as JSON")
        raise AssertionError(f"unhandled WIT type {t!r}")

    @staticmethod
    def _fail(path: str, t: WitType, value: object, reason: str | None = None) -> NoReturn:
        expected, given = t.to_wit(), short_json(value)
        suffix = f" ({reason})" if reason else ""
        raise ValueTypeError(
            f"{path}: expected {expected}, got {given}{suffix}", path=path, expected=expected, given=given
        )

    def _array(self, value: object, t: WitType, path: str) -> list[object]:
        if not isinstance(value, list):
            self._fail(path, t, value)
        return value

    def _primitive(self, value: object, t: WitPrimitive, path: str) -> JsonValue:
        kind = t.kind
        if kind is PrimitiveKind.BOOL:
            if not isinstance(value, bool):
                self._fail(path, t, value)
            return value
        if kind in INTEGER_RANGES:
            return self._integer(value, t, path)
        if kind in (PrimitiveKind.F32, PrimitiveKind.F64):
            if isinstance(value, bool) or not isinstance(value, int | float):
                self._fail(path, t, value)
            if kind is PrimitiveKind.F32 and math.isfinite(value) and abs(value) > _F32_MAX:
                self._fail(path, t, value, "out of range for f32")
            return value
        if not isinstance(value, str):
            self._fail(path, t, value)
        if kind is PrimitiveKind.CHAR and len(value) != 1:
            self._fail(path, t, value, "a char is a string of exactly one Unicode code point")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self._fail(path, t, value, "contains a lone surrogate, which is not a Unicode scalar value")
        return value

    def _integer(self, value: object, t: WitPrimitive, path: str) -> int:
        if isinstance(value, bool):
            self._fail(path, t, value, "a bool is not an integer")
        if isinstance(value, float):
            if not value.is_integer():
                self._fail(path, t, value, "not an integer")
            value = int(value)
        if not isinstance(value, int):
            self._fail(path, t, value)
        low, high = INTEGER_RANGES[t.kind]
        if not low <= value <= high:
            self._fail(path, t, value, f"out of range {low}..{high}")
        return value

    def _record(self, value: object, t: WitRecord, path: str) -> JsonValue:
        if not isinstance(value, dict):
            self._fail(path, t, value, "a record is written as a JSON object")
        names = [f.name for f in t.fields]
        unknown = [k for k in value if k not in names]
        if unknown:
            self._fail(path, t, value, f"unknown field(s) {', '.join(map(str, unknown))}")
        missing = [n for n in names if n not in value]
        if missing:
            self._fail(path, t, value, f"missing field(s) {', '.join(missing)}")
        return {f.name: self.check(value[f.name], f.type, f"{path}.{f.name}") for f in t.fields}

    def _variant(self, value: object, t: WitVariant, path: str) -> JsonValue:
        cases = ", ".join(c.name for c in t.cases)
        if isinstance(value, str):
            case = t.case(value)
            if case is None:
                self._fail(path, t, value, f"unknown case, expected one of: {cases}")
            if case.payload is not None:
                self._fail(path, t, value, f"case {value} needs a payload: {{{json.dumps(value)}: ...}}")
            return value
        if not isinstance(value, dict) or len(value) != 1:
            self._fail(path, t, value, 'a variant is written as "case" or {"case": payload}')
        ((name, payload),) = value.items()
        name = str(name)
        case = t.case(name)
        if case is None:
            self._fail(path, t, value, f"unknown case {name}, expected one of: {cases}")
        if case.payload is None:
            if payload is not None:
                self._fail(path, t, value, f"case {name} has no payload")
            return name
        return {name: self.check(payload, case.payload, f"{path}.{name}")}

    def _flags(self, value: object, t: WitFlags, path: str) -> JsonValue:
        items = self._array(value, t, path)
        checked: list[JsonValue] = []
        for item in items:
            if not isinstance(item, str) or item not in t.names:
                self._fail(path, t, value, f"unknown flag {short_json(item)}, known: {', '.join(t.names)}")
            assert isinstance(item, str)
            if item in checked:
                self._fail(path, t, value, f"flag {item} given twice")
            checked.append(item)
        return checked

    def _result(self, value: object, t: WitResult, path: str) -> JsonValue:
        if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ("ok", "err"):
            self._fail(path, t, value, 'a result is written as {"ok": value} or {"err": value}')
        ((name, payload),) = value.items()
        payload_type = t.ok if name == "ok" else t.err
        if payload_type is None:
            if payload is not None:
                self._fail(path, t, value, f"{name} has no payload, write {{{json.dumps(name)}: null}}")
            return {name: None}
        return {name: self.check(payload, payload_type, f"{path}.{name}")}
