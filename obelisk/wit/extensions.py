"""The ``-obelisk-ext`` functions the host synthesizes for each export (docs/compatibility.md#extension-functions).

For ``fn`` of ``ns:pkg/ifc[@v]`` the host offers, in ``ns:pkg-obelisk-ext/ifc[@v]``::

    fn-submit:     func(join-set-id: borrow<join-set-id>, <params>) -> execution-id
    fn-await-next: func(join-set-id: borrow<join-set-id>)
                       -> result<tuple<execution-id, R>, tuple<execution-id, execution-error>>
                       (no R: result<execution-id, tuple<execution-id, execution-error>>)
    fn-schedule:   func(schedule-at: schedule-at, <params>) -> execution-id

The types below are the structures of ``obelisk:types`` (names attached for printing only), so the metadata
built here compares equal to what introspection reports for a guest importing these functions.
"""

from __future__ import annotations

from collections.abc import Iterable

from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.ffqn import Ffqn, IfcFqn
from obelisk.concepts.wit_types import (
    STRING,
    U32,
    U64,
    Case,
    Field,
    FunctionExtension,
    FunctionMetadata,
    Param,
    ResourceRef,
    WitBorrow,
    WitRecord,
    WitResult,
    WitTuple,
    WitType,
    WitVariant,
)

EXECUTION_IFC = "obelisk:types/execution"
TIME_IFC = "obelisk:types/time"

JOIN_SET_ID = ResourceRef(EXECUTION_IFC, "join-set-id")
EXECUTION_ID = WitRecord((Field("id", STRING),), name="execution-id")
EXECUTION_ERROR = WitVariant(
    (Case("permanent-failure", STRING), Case("permanent-timeout", None), Case("nondeterminism", None)),
    name="execution-error",
)
DURATION = WitVariant(
    (Case("milliseconds", U64), Case("seconds", U64), Case("minutes", U32), Case("hours", U32), Case("days", U32)),
    name="duration",
)
DATETIME = WitRecord((Field("seconds", U64), Field("nanoseconds", U32)), name="datetime")
SCHEDULE_AT = WitVariant((Case("now", None), Case("at", DATETIME), Case("in", DURATION)), name="schedule-at")

JOIN_SET_PARAM = "join-set-id"
SCHEDULE_AT_PARAM = "schedule-at"

EXTENSION_ORDER = (FunctionExtension.SUBMIT, FunctionExtension.AWAIT_NEXT, FunctionExtension.SCHEDULE)


class ExtensionError(ObeliskError):
    """No extension functions can be made for this function (it is itself one, or its shape is not supported)."""


def extension_ffqn(original: Ffqn, extension: FunctionExtension) -> Ffqn:
    """``testing:fibo/fibo.fibo`` + SUBMIT -> ``testing:fibo-obelisk-ext/fibo.fibo-submit``."""
    return Ffqn.of(original.ifc.extension(), original.function_name + extension.suffix)


def original_of(ffqn: Ffqn) -> tuple[Ffqn, FunctionExtension] | None:
    """The exported function an ext FFQN stands for, and which extension it is; None for a non-ext FFQN."""
    ifc = ffqn.ifc
    extension = FunctionExtension.of_function_name(ffqn.function_name) if ifc.is_extension else None
    if extension is None:
        return None
    name = ffqn.function_name[: -len(extension.suffix)]
    return Ffqn.of(ifc.without_extension(), name), extension


def await_next_result(result: WitType | None) -> WitResult:
    failure = WitTuple((EXECUTION_ID, EXECUTION_ERROR))
    ok: WitType = EXECUTION_ID if result is None else WitTuple((EXECUTION_ID, result))
    return WitResult(ok, failure)


def _params_after(first: str, params: tuple[Param, ...]) -> tuple[Param, ...]:
    """The original's params; one named like the host's leading param is renamed so the WIT stays valid."""
    return tuple(Param(f"{p.name}-param" if p.name == first else p.name, p.type) for p in params)


def extension_function(original: FunctionMetadata, extension: FunctionExtension) -> FunctionMetadata:
    if original.extension is not None or IfcFqn.parse(original.ffqn.ifc_fqn).is_extension:
        raise ExtensionError(f"{original.ffqn} is an extension function itself; it has no extensions")
    ffqn = extension_ffqn(original.ffqn, extension)
    borrow = Param(JOIN_SET_PARAM, WitBorrow(JOIN_SET_ID))
    if extension is FunctionExtension.SUBMIT:
        params = (borrow, *_params_after(JOIN_SET_PARAM, original.params))
        return FunctionMetadata(ffqn, params, EXECUTION_ID, extension, submittable=False)
    if extension is FunctionExtension.AWAIT_NEXT:
        return FunctionMetadata(ffqn, (borrow,), await_next_result(original.result), extension, submittable=False)
    params = (Param(SCHEDULE_AT_PARAM, SCHEDULE_AT), *_params_after(SCHEDULE_AT_PARAM, original.params))
    return FunctionMetadata(ffqn, params, EXECUTION_ID, extension, submittable=True)


def extension_functions(original: FunctionMetadata) -> tuple[FunctionMetadata, FunctionMetadata, FunctionMetadata]:
    """``-submit``, ``-await-next`` and ``-schedule`` of one exported function, in that order."""
    submit, await_next, schedule = (extension_function(original, e) for e in EXTENSION_ORDER)
    return submit, await_next, schedule


def extensions_of(exports: Iterable[FunctionMetadata]) -> list[FunctionMetadata]:
    """The ext functions of every export, grouped per export; ``wasi:*`` exports (webhooks) have none."""
    found: list[FunctionMetadata] = []
    for export in exports:
        if export.ffqn.ifc.namespace == "wasi" or export.extension is not None:
            continue
        found.extend(extension_functions(export))
    return found
