"""The count of failed runs since an execution's last progress (pure: no database)."""

from __future__ import annotations

import pytest

from obelisk.concepts.events import (
    Event,
    JoinSetCreated,
    Locked,
    Paused,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
    Unpaused,
)
from obelisk.concepts.failed_runs import FailedRunsInARow, count_failed_runs
from obelisk.concepts.ids import ExecutorId, JoinSetId, RunId
from tests.concepts.union_samples import EVENTS

LOCKED = Locked("workflow:w:0123456789abcdef", ExecutorId.generate(), RunId.generate(), 1)
CRASH = Unlocked(1, "server restarted", after_crash=True)
STOP = Unlocked(1, "server stopped")
TIMEOUT = TemporarilyTimedOut(1)


def _count(*oldest_first: Event) -> FailedRunsInARow:
    return count_failed_runs(reversed(oldest_first))


def test_crashes_and_timeouts_since_the_last_progress_are_counted() -> None:
    assert _count(LOCKED, CRASH, LOCKED, TIMEOUT, LOCKED, CRASH, LOCKED) == FailedRunsInARow(crashes=2, timeouts=1)


def test_progress_ends_the_series() -> None:
    progress = JoinSetCreated(JoinSetId.generate())
    assert _count(LOCKED, TIMEOUT, LOCKED, progress, LOCKED, TIMEOUT) == FailedRunsInARow(crashes=0, timeouts=1)
    assert _count(LOCKED, CRASH, TemporarilyFailed(1, "trap"), LOCKED) == FailedRunsInARow()


def test_a_clean_stop_is_neither_progress_nor_a_crash() -> None:
    assert _count(LOCKED, CRASH, LOCKED, STOP, LOCKED, CRASH) == FailedRunsInARow(crashes=2, timeouts=0)


@pytest.mark.parametrize("event", EVENTS, ids=repr)
def test_every_event_but_a_lock_a_release_a_timeout_or_a_pause_is_progress(event: Event) -> None:
    # A pause and a resume are an operator's, not the execution's: a loop that times out still ends.
    if isinstance(event, Locked | Unlocked | TemporarilyTimedOut | Paused | Unpaused):
        expected = 2 + isinstance(event, TemporarilyTimedOut)  # the walk goes on past it
    else:
        expected = 1  # it stops at the event
    assert _count(TIMEOUT, event, TIMEOUT).timeouts == expected
