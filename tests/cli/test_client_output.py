"""The client shows every event, result and state the server sends with a case of its own.

The client matches on the names of protobuf oneof fields, which mypy cannot check against the server's types; so
every sample of every type goes through the server's conversion and then the client's rendering here (pure: no
server, no subprocess).
"""

from __future__ import annotations

from typing import Any

import pytest

from obelisk.api import convert
from obelisk.cli import client_output as out
from obelisk.concepts.events import (
    ChildExecutionRequest,
    DelayRequest,
    Event,
    ExecutionEvent,
    Finished,
    JoinSetRequest,
    PendingState,
)
from obelisk.concepts.results import FinishedResult
from tests.concepts.union_samples import EVENTS, PENDING_STATES, RESULTS


@pytest.mark.parametrize("event", EVENTS, ids=repr)
def test_every_event_is_shown_under_its_own_type(event: Event) -> None:
    message = convert.execution_event(ExecutionEvent(3, 1_000, event))
    body = out.event_json(message)
    assert body["type"] == type(event).__name__
    assert body["version"] == 3
    if isinstance(event, JoinSetRequest):
        assert ("delay_id" in body) == isinstance(event.request, DelayRequest)
        assert ("child_execution_id" in body) == isinstance(event.request, ChildExecutionRequest)
    assert out.event_line(message).split("\t")[:3] == ["3", body["created_at"], type(event).__name__]


def test_every_result_type_is_shown_by_its_own_case() -> None:
    tags: dict[type, set[str]] = {}
    for result in RESULTS:
        detail = convert.result_detail(result)
        shown: dict[str, Any] = out.result_json(detail)
        assert shown != {"unknown": None}
        assert out.result_text(detail) != "unknown result"
        tags.setdefault(type(result), set()).update(shown)
    assert all(len(tag) == 1 for tag in tags.values()), tags
    assert len({tag for (tag,) in tags.values()}) == len(tags), tags


@pytest.mark.parametrize("result", RESULTS, ids=repr)
def test_every_result_reads_in_one_line_of_an_event_listing(result: FinishedResult) -> None:
    line = out.event_line(convert.execution_event(ExecutionEvent(2, 1_000, Finished(result))))
    assert "\n" not in line
    assert "unknown result" not in line


def test_every_pending_state_is_shown_by_its_own_case() -> None:
    names: dict[type, set[str]] = {}
    for state in PENDING_STATES:
        status = convert.execution_status(state)
        name = out.status_json(status)["state"]
        assert name is not None
        names.setdefault(type(state), set()).add(name)
    assert all(len(name) == 1 for name in names.values()), names
    assert len({name for (name,) in names.values()}) == len(names), names


@pytest.mark.parametrize("state", PENDING_STATES, ids=repr)
def test_every_pending_state_has_a_word(state: PendingState) -> None:
    text = out.status_text(convert.execution_status(state))
    assert text
    assert text.startswith("Finished: ") == (out.status_word(convert.execution_status(state)) is None)
