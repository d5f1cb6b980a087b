"""The samples that tests run every codec and view over hold every member of every union, nested ones too."""

from __future__ import annotations

from typing import Any, get_args

from obelisk.concepts.events import (
    HISTORY_EVENT_TYPES,
    ActiveState,
    ChildExecutionFinished,
    Event,
    Finished,
    FinishedState,
    HistoryEvent,
    JoinSetRequest,
    JoinSetRequestBody,
    JoinSetResponseBody,
    PausedState,
    PendingState,
    Schedule,
    ScheduleAt,
)
from obelisk.concepts.results import FinishedResult, ResultKind
from tests.concepts.union_samples import ACTIVE_STATES, EVENTS, PENDING_STATES, REQUESTS, RESPONSES, RESULTS, SCHEDULES


def _types(values: list[Any]) -> set[type]:
    return {type(value) for value in values}


def _members(union: Any) -> set[type]:
    return set(get_args(union))


def test_every_member_of_every_union_has_a_sample() -> None:
    assert _types(EVENTS) == _members(Event)
    assert _types(REQUESTS) == _members(JoinSetRequestBody)
    assert _types(RESPONSES) == _members(JoinSetResponseBody)
    assert _types(RESULTS) == _members(FinishedResult)
    assert _types(SCHEDULES) == _members(ScheduleAt)
    assert _types(PENDING_STATES) == _members(PendingState)
    assert _types(ACTIVE_STATES) == _members(ActiveState)
    assert {result.kind for result in RESULTS} == set(ResultKind)


def test_the_events_carry_every_request_result_and_schedule() -> None:
    assert [e.request for e in EVENTS if isinstance(e, JoinSetRequest)] == REQUESTS
    assert [e.result for e in EVENTS if isinstance(e, Finished)] == RESULTS
    assert [e.schedule_at for e in EVENTS if isinstance(e, Schedule)] == SCHEDULES
    assert [r.result for r in RESPONSES if isinstance(r, ChildExecutionFinished)] == RESULTS
    assert {s.result_kind for s in PENDING_STATES if isinstance(s, FinishedState)} == set(ResultKind)
    assert [s.state for s in PENDING_STATES if isinstance(s, PausedState)] == ACTIVE_STATES


def test_history_event_types_are_the_history_event_union() -> None:
    assert set(HISTORY_EVENT_TYPES) == _members(HistoryEvent)
    assert _members(HistoryEvent) < _members(Event)
