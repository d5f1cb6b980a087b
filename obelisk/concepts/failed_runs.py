"""How the latest runs of an execution ended without progress: the rule that stops a fault that cannot heal.

The original engine retries a workflow for ever after a timeout, and any engine must retry an execution whose
server died under it. A fault that recurs on every run (a guest in an endless loop, a parameter too large to
replay within the lock, an attempt that crashes the server) would then be retried without end. Counting the
runs that ended that way *since the execution last recorded progress* tells a recurring fault from bad luck.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import assert_never

from obelisk.concepts.events import (
    Created,
    Event,
    Finished,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    Locked,
    Paused,
    Schedule,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
    Unpaused,
)


@dataclass(frozen=True, slots=True)
class FailedRunsInARow:
    crashes: int = 0
    """Runs the server died in (``Unlocked`` marked ``after_crash`` by the next start)."""
    timeouts: int = 0
    """Runs that used their whole lock (``TemporarilyTimedOut``)."""


NO_FAILED_RUNS = FailedRunsInARow()


def count_failed_runs(events_newest_first: Iterable[Event]) -> FailedRunsInARow:
    """Walk back from the newest event to the last progress: any event but ``Locked`` (a run started or extended
    its lock), ``Unlocked`` (a release, after a crash or not) and ``TemporarilyTimedOut``."""
    crashes = timeouts = 0
    for event in events_newest_first:
        match event:
            case TemporarilyTimedOut():
                timeouts += 1
            case Unlocked(after_crash=after_crash):
                crashes += after_crash
            case Locked() | Paused() | Unpaused():
                pass  # an operator's pause or resume is neither progress nor a failed run
            case (
                Created()
                | TemporarilyFailed()
                | Finished()
                | JoinSetCreated()
                | JoinSetRequest()
                | JoinNext()
                | Schedule()
            ):
                break
            case _:
                assert_never(event)
    return FailedRunsInARow(crashes, timeouts)
