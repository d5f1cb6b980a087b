"""Identifiers, FFQNs and the event codec."""

import json

import pytest

from obelisk.concepts.errors import ParseError
from obelisk.concepts.events import (
    Event,
    JoinSetResponseBody,
    ScheduleAtTime,
    ScheduleIn,
    ScheduleNow,
    event_from_json,
    event_to_json,
    resolve_schedule,
    response_from_json,
    response_to_json,
)
from obelisk.concepts.ffqn import Ffqn, IfcFqn
from obelisk.concepts.ids import (
    DeterministicIds,
    ExecutionId,
    decode_ulid,
    encode_ulid,
)
from obelisk.concepts.results import (
    FallibleError,
    FinishedResult,
    Ok,
    ReturnValue,
    classify_return,
    result_from_json,
    result_to_json,
)
from tests.concepts.union_samples import EVENTS, RESPONSES, RESULTS


def test_ffqn_splits_at_the_last_dot_so_versioned_interfaces_work() -> None:
    ffqn = Ffqn.parse("docs:adder/add@0.1.0.add")
    assert ffqn.ifc_fqn == "docs:adder/add@0.1.0"
    assert ffqn.function_name == "add"
    assert ffqn.ifc.version == "0.1.0"
    assert str(ffqn.ifc.extension()) == "docs:adder-obelisk-ext/add@0.1.0"
    assert (
        str(Ffqn.parse("testing:fibo-workflow/workflow.fiboa-concurrent"))
        == "testing:fibo-workflow/workflow.fiboa-concurrent"
    )


@pytest.mark.parametrize("text", ["fibo", "testing:fibo.fibo", "testing/fibo.fibo", "testing:fibo/fibo.", "a:b/c.Fibo"])
def test_malformed_ffqns_are_rejected_with_the_text(text: str) -> None:
    with pytest.raises(ParseError, match="invalid"):
        Ffqn.parse(text)


def test_extension_interface_round_trip() -> None:
    ifc = IfcFqn.parse("testing:fibo/fibo")
    assert ifc.extension().is_extension
    assert ifc.extension().without_extension() == ifc


def test_ulid_round_trip_and_ordering() -> None:
    text = encode_ulid(1_700_000_000_000, 12345)
    assert decode_ulid(text) == (1_700_000_000_000, 12345)
    assert encode_ulid(1, 0) < encode_ulid(2, 0)


def test_execution_ids_parse_and_derive_children() -> None:
    top = ExecutionId.generate()
    child = top.child(3).child(0)
    assert ExecutionId.parse(child) == child
    assert child.parent_id == top.child(3)
    assert child.top_level == top
    with pytest.raises(ParseError):
        ExecutionId.parse(f"{top}.x")
    with pytest.raises(ParseError):
        ExecutionId.parse("JoinSet_01M89BPGBZEWXCVNE7D93J6S3G")


TOP = "E_01J0000000000000000000000Z"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (f"{TOP}.\u00b2", "not a number"),  # superscript two: str.isdigit() accepts it
        (f"{TOP}.\u0663", "not a number"),  # Arabic-Indic three: int() accepts it
        (f"{TOP}.\uff11", "not a number"),  # fullwidth one
        (f"{TOP}.01", "not a number"),  # one child, two names
        (f"{TOP}.", "not a number"),
        (f"{TOP}.{2**64}", "not a number"),  # child indexes are u64
        (f"{TOP}.-1", "not a number"),
        (f"{TOP}.+1", "not a number"),
        (f"{TOP}. 1", "not a number"),
        (TOP[:-1] + "\u212a", "ASCII"),  # the Kelvin sign matches "k" case-insensitively
        (TOP[:-1] + "\u017f", "ASCII"),  # the long s matches "s" case-insensitively
        ("E_" + "\uff10" * 26, "ASCII"),  # fullwidth zeros
        ("E_01J000000000000000000000", "26 characters"),
        ("E_81J0000000000000000000000Z", "out of range"),
    ],
)
def test_execution_ids_are_ascii_and_parsed_strictly(text: str, why: str) -> None:
    with pytest.raises(ParseError) as raised:
        ExecutionId.parse(text)
    assert why in str(raised.value) and repr(text) in str(raised.value)


def test_the_largest_child_index_parses_and_only_top_level_ids_may_be_submitted() -> None:
    assert ExecutionId.parse(f"{TOP}.{2**64 - 1}.0").parent_id == f"{TOP}.{2**64 - 1}"
    assert ExecutionId.parse_top_level(TOP) == TOP and not ExecutionId(TOP).is_child
    for child in (f"{TOP}.0", f"{TOP}.3.1"):
        assert ExecutionId.parse(child).is_child
        with pytest.raises(ParseError, match=r"child execution id .* only the engine creates those"):
            ExecutionId.parse_top_level(child)


def test_deterministic_ids_repeat_per_execution_and_differ_between_executions() -> None:
    exe = ExecutionId.generate()
    first, second = DeterministicIds(exe), DeterministicIds(exe)
    assert [first.join_set_id(), first.delay_id(), first.execution_id()] == [
        second.join_set_id(),
        second.delay_id(),
        second.execution_id(),
    ]
    assert DeterministicIds(exe.child(0)).join_set_id() != DeterministicIds(exe.child(1)).join_set_id()


@pytest.mark.parametrize("event", EVENTS, ids=repr)
def test_every_event_round_trips_through_json(event: Event) -> None:
    encoded = event_to_json(event)
    assert encoded["type"] == type(event).__name__
    assert event_from_json(json.loads(json.dumps(encoded))) == event


@pytest.mark.parametrize("response", RESPONSES, ids=repr)
def test_every_response_round_trips_through_json(response: JoinSetResponseBody) -> None:
    assert response_from_json(json.loads(json.dumps(response_to_json(response)))) == response


@pytest.mark.parametrize("result", RESULTS, ids=repr)
def test_every_result_round_trips_through_json(result: FinishedResult) -> None:
    assert result_from_json(json.loads(json.dumps(result_to_json(result)))) == result


def test_schedule_resolution_and_result_classification() -> None:
    assert resolve_schedule(ScheduleNow(), 10) == 10
    assert resolve_schedule(ScheduleIn(5), 10) == 15
    assert resolve_schedule(ScheduleAtTime(3), 10) == 3
    assert classify_return(ReturnValue({"err": "x"})) == FallibleError(ReturnValue({"err": "x"}))
    assert classify_return(ReturnValue({"ok": "x"})) == Ok(ReturnValue({"ok": "x"}))
    assert classify_return(None) == Ok(None)
