"""Option, result and variant values converted without wasmtime-py's shared scratch set.

wasmtime-py 50 picks the case of an *untagged* option/result/variant value (one whose cases it tells apart by
Python class) by filling a module-level set, ``_types.case_test_cache``, with one case's classes and testing the
value against it. Every thread shares that set, so a thread that clears or fills it between another thread's fill
and test makes that thread pick the wrong case or none: ``ValueError: value not valid for this variant`` or
``TypeError: expected list value`` from a host function's result or a guest's parameter. Under 64 concurrent
webhook requests up to 38 of 300 failed that way.

``install()`` replaces ``VariantLikeType._lower`` and ``_lift`` with versions that read a *plan* kept on the type
object: whether it is tagged, and each case's name, payload type and classes, in order. The plan depends on the type
alone, is built on first use without shared scratch state and published with one attribute assignment, so two
threads that build it at once build equal plans and either may win. Types are long-lived where it matters (a host
function's types are read once, see ``fast_host_calls``), so the plan also saves the ctypes calls that
``_cases()`` and ``_tagged()`` made on every conversion. The rules are wasmtime-py's own, unchanged: cases are
tried in order, an untagged case without payload matches only ``None``, a tagged value is matched by its tag.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import _types

_Variant = _types.Variant
_VariantLike = _types.VariantLikeType
_original_lower = _VariantLike._lower
_original_lift = _VariantLike._lift


class VariantLoweringUnavailable(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class _Case:
    name: str
    payload: Any
    """The payload's ``ValType``, or ``None`` for a case without one."""
    classes: tuple[type, ...]
    """The Python classes an untagged value of this case has (``add_classes`` of the payload)."""


@dataclass(frozen=True, slots=True)
class _Plan:
    tagged: bool
    cases: tuple[_Case, ...]
    by_name: dict[str, _Case]


def _plan(ty: Any) -> _Plan:
    plan: _Plan | None = ty.__dict__.get("_obelisk_plan")
    if plan is not None:
        return plan
    cases = []
    for name, payload in ty._cases():
        classes: set[type] = set()
        if payload is not None:
            payload.add_classes(classes)
        cases.append(_Case(name, payload, tuple(classes)))
    # ``_tagged`` uses only local sets; it decides as wasmtime-py does (two cases sharing a class need tags).
    plan = _Plan(tagged=ty._tagged(), cases=tuple(cases), by_name={case.name: case for case in cases})
    ty._obelisk_plan = plan
    return plan


def _lower(self: Any, store: Any, val: Any) -> tuple[str, Any]:
    plan = _plan(self)
    if plan.tagged:
        if not isinstance(val, _Variant):
            raise TypeError("expected Variant type")
        case = plan.by_name.get(val.tag)
        payload = val.payload
    else:
        case = None
        for candidate in plan.cases:
            if candidate.payload is None:
                if val is None:
                    case = candidate
                    break
            elif isinstance(val, candidate.classes):
                case = candidate
                break
        payload = val
    if case is None:
        raise ValueError("value not valid for this variant")
    if case.payload is None:
        return (case.name, None)
    raw = ffi.wasmtime_component_val_t()
    case.payload.convert_to_c(store, payload, ctypes.pointer(raw))
    return (case.name, ffi.wasmtime_component_val_new(ctypes.byref(raw)))


def _lift(self: Any, tag: str, ptr: Any) -> Any:
    plan = _plan(self)
    case = plan.by_name.get(tag)
    if case is None:
        raise ValueError(f"tag {tag} not found in variant cases")
    if case.payload is None:
        return _Variant(tag) if plan.tagged else None
    payload = case.payload.convert_from_c(ptr.contents)
    ptr.contents.kind = ffi.WASMTIME_COMPONENT_BOOL
    ptr.contents.of.boolean = False
    ffi.wasmtime_component_val_delete(ptr)
    return _Variant(tag, payload) if plan.tagged else payload


def install() -> None:
    """Idempotent; refuses to patch a wasmtime-py whose variant conversion is not the one this module mirrors."""
    if _VariantLike._lower is _lower:
        return
    if _VariantLike._lower is not _original_lower or _VariantLike._lift is not _original_lift:
        raise VariantLoweringUnavailable("wasmtime-py's VariantLikeType conversion was already replaced")
    if not hasattr(_types, "case_test_cache"):
        raise VariantLoweringUnavailable(
            "wasmtime-py no longer has the shared case_test_cache: check whether this patch is still needed"
        )
    _VariantLike._lower = _lower  # type: ignore[method-assign]
    _VariantLike._lift = _lift  # type: ignore[method-assign]
