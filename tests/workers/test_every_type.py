"""What the workflow worker makes of every sample of every event and result: nondeterminism messages and the
child results a workflow sees (pure: no guest)."""

from __future__ import annotations

import pytest

from obelisk.concepts.events import (
    HISTORY_EVENT_TYPES,
    ChildExecutionFinished,
    ChildExecutionRequest,
    DelayRequest,
    Event,
    JoinSetRequest,
    JoinSetResponseEvent,
)
from obelisk.concepts.results import FallibleError, FinishedResult, Ok
from obelisk.workers.workflow.child_results import ChildExecutionError, await_next_json, direct_call_value
from obelisk.workers.workflow.replay_types import describe_event, is_history_event
from tests.concepts.union_samples import CHILD_ID, EVENTS, JOIN_SET_ID, RESULTS


@pytest.mark.parametrize("event", EVENTS, ids=repr)
def test_every_history_event_is_described_with_its_fields_and_every_other_by_its_type(event: Event) -> None:
    text = describe_event(event)
    if is_history_event(event):
        assert text.startswith(type(event).__name__ + "(")
    else:
        assert text == type(event).__name__


def test_each_request_kind_is_described_in_its_own_words() -> None:
    words = {
        type(e.request): describe_event(e).split(", ")[1].split()[0] for e in EVENTS if isinstance(e, JoinSetRequest)
    }
    assert words == {ChildExecutionRequest: "child", DelayRequest: "delay"}


@pytest.mark.parametrize("event", EVENTS, ids=repr)
def test_history_events_are_recognised(event: Event) -> None:
    assert is_history_event(event) == isinstance(event, HISTORY_EVENT_TYPES)


@pytest.mark.parametrize("result", RESULTS, ids=repr)
def test_every_child_result_is_a_value_or_an_execution_error(result: FinishedResult) -> None:
    response = JoinSetResponseEvent(1, 1_000, JOIN_SET_ID, ChildExecutionFinished(CHILD_ID, result))
    returned = isinstance(result, Ok | FallibleError)
    shown = await_next_json(response, has_value=True)
    assert set(shown) == ({"ok"} if returned else {"err"})
    assert shown[next(iter(shown))][0] == {"id": str(CHILD_ID)}
    if returned:
        direct_call_value(response)
    else:
        with pytest.raises(ChildExecutionError):
            direct_call_value(response)
