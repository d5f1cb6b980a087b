"""Metadata of the synthesized -obelisk-ext functions (docs/compatibility.md#extension-functions), without any wasm."""

from __future__ import annotations

import pytest

from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.wit_types import (
    STRING,
    U8,
    U32,
    U64,
    Case,
    Field,
    FunctionExtension,
    FunctionMetadata,
    WitBorrow,
    WitRecord,
    WitResult,
    WitTuple,
    WitVariant,
)
from obelisk.wit.extensions import (
    ExtensionError,
    extension_functions,
    extensions_of,
    original_of,
)

FIBO = FunctionMetadata.of("testing:fibo/fibo.fibo", [("n", U8)], U64, submittable=True)
SLEEP = FunctionMetadata.of("testing:sleep/sleep.sleep", [("millis", U32)], None, submittable=True)
ADD = FunctionMetadata.of("docs:adder/add@0.1.0.add", [("x", U32), ("y", U32)], U32, submittable=True)

# The obelisk:types structures written out independently of the module under test.
EXECUTION_ID = WitRecord((Field("id", STRING),))
EXECUTION_ERROR = WitVariant(
    (Case("permanent-failure", STRING), Case("permanent-timeout", None), Case("nondeterminism", None))
)
DATETIME = WitRecord((Field("seconds", U64), Field("nanoseconds", U32)))
DURATION = WitVariant(
    (Case("milliseconds", U64), Case("seconds", U64), Case("minutes", U32), Case("hours", U32), Case("days", U32))
)
SCHEDULE_AT = WitVariant((Case("now", None), Case("at", DATETIME), Case("in", DURATION)))


def test_ext_functions_of_a_function_with_a_result() -> None:
    submit, await_next, schedule = extension_functions(FIBO)
    assert [str(f.ffqn) for f in (submit, await_next, schedule)] == [
        "testing:fibo-obelisk-ext/fibo.fibo-submit",
        "testing:fibo-obelisk-ext/fibo.fibo-await-next",
        "testing:fibo-obelisk-ext/fibo.fibo-schedule",
    ]
    assert submit.param_types == (WitBorrow(), U8)
    assert submit.result == EXECUTION_ID
    assert await_next.param_types == (WitBorrow(),)
    assert await_next.result == WitResult(WitTuple((EXECUTION_ID, U64)), WitTuple((EXECUTION_ID, EXECUTION_ERROR)))
    assert schedule.param_types == (SCHEDULE_AT, U8)
    assert schedule.result == EXECUTION_ID
    assert [p.name for p in submit.params] == ["join-set-id", "n"]
    assert [p.name for p in schedule.params] == ["schedule-at", "n"]
    assert submit.to_wit_signature() == "func(join-set-id: borrow<join-set-id>, n: u8) -> execution-id"
    assert await_next.to_wit_signature() == (
        "func(join-set-id: borrow<join-set-id>) -> "
        "result<tuple<execution-id, u64>, tuple<execution-id, execution-error>>"
    )
    assert schedule.to_wit_signature() == "func(schedule-at: schedule-at, n: u8) -> execution-id"
    assert submit.params[0].type == WitBorrow()
    borrow = submit.params[0].type
    assert isinstance(borrow, WitBorrow) and borrow.resource is not None
    assert str(borrow.resource) == "obelisk:types/execution.join-set-id"


def test_submittable_are_the_export_and_schedule_only() -> None:
    submit, await_next, schedule = extension_functions(FIBO)
    assert (submit.submittable, await_next.submittable, schedule.submittable) == (False, False, True)
    assert [f.extension for f in (submit, await_next, schedule)] == [
        FunctionExtension.SUBMIT,
        FunctionExtension.AWAIT_NEXT,
        FunctionExtension.SCHEDULE,
    ]


def test_await_next_of_a_function_without_result() -> None:
    _, await_next, schedule = extension_functions(SLEEP)
    assert await_next.result == WitResult(EXECUTION_ID, WitTuple((EXECUTION_ID, EXECUTION_ERROR)))
    assert await_next.to_wit_signature() == (
        "func(join-set-id: borrow<join-set-id>) -> result<execution-id, tuple<execution-id, execution-error>>"
    )
    assert schedule.param_types == (SCHEDULE_AT, U32)


def test_versioned_interface_keeps_its_version() -> None:
    functions = extension_functions(ADD)
    assert [str(f.ffqn) for f in functions] == [
        "docs:adder-obelisk-ext/add@0.1.0.add-submit",
        "docs:adder-obelisk-ext/add@0.1.0.add-await-next",
        "docs:adder-obelisk-ext/add@0.1.0.add-schedule",
    ]
    assert functions[0].ffqn.ifc.version == "0.1.0"
    assert original_of(functions[1].ffqn) == (ADD.ffqn, FunctionExtension.AWAIT_NEXT)
    assert original_of(ADD.ffqn) is None


def test_a_param_named_like_the_leading_host_param_is_renamed() -> None:
    odd = FunctionMetadata.of("a:b/c.f", [("join-set-id", U8), ("schedule-at", U8)], None)
    submit, _, schedule = extension_functions(odd)
    assert [p.name for p in submit.params] == ["join-set-id", "join-set-id-param", "schedule-at"]
    assert [p.name for p in schedule.params] == ["schedule-at", "join-set-id", "schedule-at-param"]


def test_ext_functions_have_no_extensions_and_wasi_exports_none() -> None:
    submit = extension_functions(FIBO)[0]
    with pytest.raises(ExtensionError, match="fibo-submit is an extension function itself"):
        extension_functions(submit)
    handler = FunctionMetadata.of("wasi:http/incoming-handler.handle", [], None)
    assert [str(f.ffqn) for f in extensions_of([handler, SLEEP])] == [
        "testing:sleep-obelisk-ext/sleep.sleep-submit",
        "testing:sleep-obelisk-ext/sleep.sleep-await-next",
        "testing:sleep-obelisk-ext/sleep.sleep-schedule",
    ]
    assert Ffqn.parse("testing:sleep-obelisk-ext/sleep.sleep-schedule") in {f.ffqn for f in extensions_of([SLEEP])}
