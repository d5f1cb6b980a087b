"""Every event, request, schedule, response, result and pending state has its own protobuf message, and every
message of the API's oneofs is produced by one of them (pure conversion: no server)."""

from __future__ import annotations

from typing import Any

from obelisk.api import convert
from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.concepts.events import (
    Event,
    ExecutionEvent,
    JoinSetRequest,
    JoinSetResponseEvent,
    Schedule,
)
from obelisk.concepts.results import ResultKind
from tests.concepts.union_samples import EVENTS, JOIN_SET_ID, PENDING_STATES, RESPONSES, RESULTS

NEVER_SENT = {"persist"}
"""The original's ``Persist`` history event, which this project does not have (docs/compatibility.md)."""


def _which(message: Any, oneof: str) -> str:
    which = message.WhichOneof(oneof)
    assert which is not None, f"{type(message).__name__}.{oneof} is not set"
    return str(which)


def _fields(message_type: Any, oneof: str) -> set[str]:
    return {field.name for field in message_type.DESCRIPTOR.oneofs_by_name[oneof].fields} - NEVER_SENT


def _one_message_each(produced: dict[Any, set[str]]) -> set[str]:
    """Each domain type always gives the same message, no two give the same one; returns the messages."""
    assert all(len(messages) == 1 for messages in produced.values()), produced
    messages = [message for (message,) in produced.values()]
    assert len(set(messages)) == len(messages), produced
    return set(messages)


def _event_message(event: Event) -> tuple[Any, str]:
    """The domain type (with the type it carries) and the path of oneof fields that the event is sent as."""
    message = convert.execution_event(ExecutionEvent(1, 1_000, event))
    key: Any = type(event)
    path = _which(message, "event")
    if path == "history_variant":
        history = message.history_variant
        which = _which(history, "event")
        path += "." + which
        if isinstance(event, JoinSetRequest):
            key = (key, type(event.request))
            path += "." + _which(history.join_set_request, "join_set_request")
        elif isinstance(event, Schedule):
            key = (key, type(event.schedule_at))
            path += "." + _which(history.schedule.scheduled_at, "variant")
    return key, path


def _expected_event_paths() -> set[str]:
    history = pb.ExecutionEvent.HistoryEvent
    nested = {
        "join_set_request": _fields(history.JoinSetRequest, "join_set_request"),
        "schedule": _fields(history.Schedule.ScheduledAt, "variant"),
    }
    paths = _fields(pb.ExecutionEvent, "event") - {"history_variant"}
    for field in _fields(history, "event"):
        inner = nested.get(field)
        paths |= {f"history_variant.{field}"} if inner is None else {f"history_variant.{field}.{i}" for i in inner}
    return paths


def test_every_event_type_is_sent_as_its_own_message() -> None:
    produced: dict[Any, set[str]] = {}
    for event in EVENTS:
        key, path = _event_message(event)
        produced.setdefault(key, set()).add(path)
    assert _one_message_each(produced) == _expected_event_paths()


def test_every_result_type_is_sent_as_its_own_message() -> None:
    produced: dict[Any, set[str]] = {}
    for result in RESULTS:
        produced.setdefault(type(result), set()).add(_which(convert.result_detail(result), "value"))
    assert _one_message_each(produced) == _fields(pb.ResultDetail, "value")


def test_every_response_type_is_sent_as_its_own_message() -> None:
    produced: dict[Any, set[str]] = {}
    for cursor, response in enumerate(RESPONSES):
        message = convert.response_with_cursor(JoinSetResponseEvent(cursor, 1_000, JOIN_SET_ID, response))
        assert message.cursor == cursor
        produced.setdefault(type(response), set()).add(_which(message.event, "response"))
    assert _one_message_each(produced) == _fields(pb.JoinSetResponseEvent, "response")


def test_every_pending_state_is_sent_as_its_own_status() -> None:
    produced: dict[Any, set[str]] = {}
    for state in PENDING_STATES:
        produced.setdefault(type(state), set()).add(_which(convert.execution_status(state), "status"))
    assert _one_message_each(produced) == _fields(pb.ExecutionStatus, "status")


def test_every_result_kind_is_the_protobuf_kind_of_the_same_name() -> None:
    assert {kind.name: pb.ResultKind.Name(convert.result_kind_of(kind)) for kind in ResultKind} == {
        kind.name: kind.name for kind in ResultKind
    }
    assert {convert.result_kind_of(kind) for kind in ResultKind} == set(pb.ResultKind.values())
