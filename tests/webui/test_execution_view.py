"""The execution page's views over every sample of every event, response, result and pending state (pure: no
server). Each type must be worded on its own and placed on its side of every split (join sets, attempts)."""

from __future__ import annotations

from typing import Any

import pytest

from obelisk.concepts.events import (
    Created,
    Event,
    ExecutionEvent,
    Finished,
    FinishedState,
    JoinSetRequest,
    JoinSetResponseEvent,
    Locked,
    PendingAt,
    PendingState,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
)
from obelisk.concepts.results import FinishedResult
from obelisk.storage.interface import ExecutionLog
from obelisk.webui.execution_view import attempts, join_sets, timeline
from obelisk.webui.formatting import badge, result_view, short_result
from tests.concepts.union_samples import (
    CHILD_ID,
    DELAY_ID,
    EVENTS,
    EXECUTION_ID,
    JOIN_SET_ID,
    PENDING_STATES,
    RESPONSES,
    RESULTS,
)

CREATED = next(e for e in EVENTS if isinstance(e, Created))
LOCKED = next(e for e in EVENTS if isinstance(e, Locked))


def _url(execution_id: str) -> str:
    return f"/execution/{execution_id}"


def _log(*events: Event) -> ExecutionLog:
    responses = [JoinSetResponseEvent(c, 2_000 + c, JOIN_SET_ID, r) for c, r in enumerate(RESPONSES)]
    return ExecutionLog(
        EXECUTION_ID,
        [ExecutionEvent(version, 1_000 + version, event) for version, event in enumerate(events)],
        responses,
        PendingAt(0),
    )


def test_every_event_type_has_a_timeline_row_of_its_own() -> None:
    rows = timeline(_log(*EVENTS), _url)
    assert [row.version for row in rows] == [str(v) for v in range(len(EVENTS))]
    kinds: dict[Any, set[str]] = {}
    for event, row in zip(EVENTS, rows, strict=True):
        key = (type(event), type(event.request)) if isinstance(event, JoinSetRequest) else type(event)
        kinds.setdefault(key, set()).add(row.kind)
        assert row.text
    assert all(len(kind) == 1 for kind in kinds.values()), kinds
    assert len({kind for (kind,) in kinds.values()}) == len(kinds), kinds


def test_every_request_is_listed_with_its_response() -> None:
    (view,) = join_sets(_log(*EVENTS), _url)
    assert view.join_set_id == JOIN_SET_ID
    assert view.awaited == 2 and view.closing
    delay, child = view.requests
    assert DELAY_ID in delay.label and delay.response is not None and "expired" in delay.response
    assert CHILD_ID in child.label and child.response is not None


@pytest.mark.parametrize("event", EVENTS[1:], ids=repr)
def test_every_event_ends_a_run_or_not(event: Event) -> None:
    found = attempts(_log(CREATED, LOCKED, event))
    ends = isinstance(event, TemporarilyFailed | TemporarilyTimedOut | Unlocked | Finished)
    assert (found[-1].outcome != "running") == ends
    assert len(found) == (2 if isinstance(event, Locked) else 1)


@pytest.mark.parametrize("state", PENDING_STATES, ids=repr)
def test_every_pending_state_has_a_badge(state: PendingState) -> None:
    shown = badge(state, now_us=0)
    assert shown.label and shown.css
    assert shown.finished == isinstance(state, FinishedState)


@pytest.mark.parametrize("result", RESULTS, ids=repr)
def test_every_result_has_a_view_and_a_short_form(result: FinishedResult) -> None:
    view = result_view(result)
    assert view.kind is result.kind and view.headline
    assert short_result(result)
