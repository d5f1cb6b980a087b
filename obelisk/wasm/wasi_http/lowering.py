"""Shaping host-function results into the form wasmtime-py lowers.

wasmtime-py represents an option/result/variant either *tagged* (``Variant(case, payload)``) or *untagged* (the bare
payload), depending on whether its cases can be told apart by Python class, and it refuses the other form. The
Python WASI layer always returns the tagged form (``Variant("ok", x)``, ``Variant("none")``, ...), so its code does
not depend on that rule; ``shaper`` builds, once per function type, the converter that untags where wasmtime wants
it, recursively through tuples, lists and payloads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wasmtime import component as C

Shaper = Callable[[Any], Any]


def _is_tagged(t: Any) -> bool:
    return bool(t._tagged())


def shaper(t: Any) -> Shaper | None:
    """The converter for values of wasmtime type ``t``; ``None`` when values pass unchanged."""
    if isinstance(t, C.ResultType | C.OptionType | C.VariantType):
        cases: list[tuple[str, Any]] = t._cases()
        payload_shapers = {name: (shaper(ty) if ty is not None else None) for name, ty in cases}
        tagged = _is_tagged(t)

        def shape_case(value: Any) -> Any:
            if not isinstance(value, C.Variant):
                raise TypeError(f"the Python WASI layer must return Variant for {type(t).__name__}, got {value!r}")
            inner = payload_shapers.get(value.tag)
            payload = inner(value.payload) if inner is not None and value.payload is not None else value.payload
            if tagged:
                return C.Variant(value.tag, payload)
            return payload

        return shape_case
    if isinstance(t, C.TupleType):
        element_shapers = [shaper(e) for e in t.elements]
        if all(s is None for s in element_shapers):
            return None
        return lambda value: tuple(s(v) if s is not None else v for s, v in zip(element_shapers, value, strict=True))
    if isinstance(t, C.ListType):
        element = shaper(t.element)
        if element is None:
            return None
        return lambda value: [element(v) for v in value]
    return None
