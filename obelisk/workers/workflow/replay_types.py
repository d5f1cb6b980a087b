"""What the replay machine hands to its host layer: await outcomes, pending writes and typed errors.

Kept apart from the machine itself so the host layer (wasm linking, storage) can import the vocabulary without the
matching logic, and so error messages describe events the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, assert_never

from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.events import (
    ChildExecutionRequest,
    Created,
    DelayRequest,
    Event,
    Finished,
    HistoryEvent,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    JoinSetRequestBody,
    JoinSetResponseEvent,
    Locked,
    Paused,
    Schedule,
    ScheduleAt,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
    Unpaused,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, JoinSetId


class NondeterminismError(ObeliskError):
    """A replayed run made a host call that the recorded history does not have at that point.

    Fatal: the execution finishes as ``NondeterminismDetected`` with this message, which names the call, the
    version and the recorded event.
    """


class WorkflowError(ObeliskError):
    """The guest misused the workflow API (awaiting a join set with nothing to wait for, an unknown join set)."""


class ReplayProtocolError(ObeliskError):
    """The host layer drove the machine out of order (a host call while an await is blocked, a resume without one).

    This is a bug in the host layer, never in the guest; it is typed so that it still names what went wrong.
    """


# ---------------------------------------------------------------------------------------------- await outcomes
@dataclass(frozen=True, slots=True)
class Ready:
    """The awaited join set had a response; the workflow clock has advanced to its ``created_at``."""

    response: JoinSetResponseEvent


@dataclass(frozen=True, slots=True)
class Blocked:
    """No response yet: the host flushes pending writes, waits, feeds the response and calls ``resume()``."""

    join_set_id: JoinSetId
    closing: bool = False


AwaitResult = Ready | Blocked


# ---------------------------------------------------------------------------------------------- pending writes
@dataclass(frozen=True, slots=True)
class ChildCreation:
    """A child execution to create in the same transaction as the parent's ``JoinSetRequest``."""

    child_id: ExecutionId
    ffqn: Ffqn
    params: list[Any]
    join_set_id: JoinSetId


@dataclass(frozen=True, slots=True)
class ScheduledCreation:
    """A new top-level execution to create in the same transaction as the parent's ``Schedule`` event."""

    execution_id: ExecutionId
    ffqn: Ffqn
    params: list[Any]
    schedule_at: ScheduleAt


@dataclass(frozen=True, slots=True)
class PendingWrites:
    """Everything one flush must write atomically; ``version`` is where ``events[0]`` is appended."""

    version: int
    events: list[Event] = field(default_factory=list)
    children: list[ChildCreation] = field(default_factory=list)
    scheduled: list[ScheduledCreation] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.events and not self.children and not self.scheduled


# ---------------------------------------------------------------------------------------------- descriptions
def describe_event(event: Event) -> str:
    """A short, stable rendering of a history event for nondeterminism messages (other events: their type)."""
    match event:
        case JoinSetCreated(join_set_id):
            return f"JoinSetCreated({join_set_id})"
        case JoinSetRequest(join_set_id, request):
            return f"JoinSetRequest({join_set_id}, {_describe_request(request)})"
        case JoinNext(join_set_id, _, closing):
            return f"JoinNext({join_set_id}{', closing' if closing else ''})"
        case Schedule(execution_id, schedule_at):
            return f"Schedule({execution_id}, {schedule_at})"
        case (
            Created()
            | Locked()
            | Unlocked()
            | TemporarilyFailed()
            | TemporarilyTimedOut()
            | Finished()
            | Paused()
            | Unpaused()
        ):
            return type(event).__name__  # not history: a replay never sees them (Paused/Unpaused included)
        case _:
            assert_never(event)


def _describe_request(request: JoinSetRequestBody) -> str:
    match request:
        case ChildExecutionRequest(child_id):
            return f"child {child_id}"
        case DelayRequest(delay_id, expires_at):
            return f"delay {delay_id} expiring at {expires_at}"
        case _:
            assert_never(request)


def is_history_event(event: Event) -> bool:
    return isinstance(event, HistoryEvent)


__all__ = [
    "AwaitResult",
    "Blocked",
    "ChildCreation",
    "HistoryEvent",
    "NondeterminismError",
    "PendingWrites",
    "Ready",
    "ReplayProtocolError",
    "ScheduledCreation",
    "WorkflowError",
    "describe_event",
    "is_history_event",
]
