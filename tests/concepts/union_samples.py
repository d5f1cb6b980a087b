"""An instance of every member of each union the project dispatches on, for tests that run a codec or a view
over all of them.

mypy reports a match that misses a member: every dispatch ends in ``assert_never``
(docs/architecture.md#event-log-and-pending-states). These samples catch at run time what mypy cannot see: a JSON
or protobuf decoder keyed by strings, a CLI that matches oneof names. ``test_union_samples`` fails when a union
gains a member that has no sample here, so a new type cannot skip those tests.
"""

from __future__ import annotations

from obelisk.concepts.events import (
    ActiveState,
    BlockedByJoinSet,
    ChildExecutionFinished,
    ChildExecutionRequest,
    Created,
    DelayFinished,
    DelayRequest,
    Event,
    Finished,
    FinishedState,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    JoinSetRequestBody,
    JoinSetResponseBody,
    Locked,
    LockedState,
    ParentRef,
    Paused,
    PausedState,
    PendingAt,
    PendingState,
    Schedule,
    ScheduleAt,
    ScheduleAtTime,
    ScheduleIn,
    ScheduleNow,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
    Unpaused,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import (
    Cancelled,
    ExecutionFailure,
    FallibleError,
    FinishedResult,
    NondeterminismDetected,
    Ok,
    ResultKind,
    ReturnValue,
    Timeout,
)

EXECUTION_ID = ExecutionId.generate()
JOIN_SET_ID = JoinSetId.generate()
DELAY_ID = DelayId.generate()
CHILD_ID = EXECUTION_ID.child(0)
FFQN = Ffqn.parse("testing:fibo/fibo.fibo")
COMPONENT_ID = "activity_wasm:fibo:abc"

RESULTS: list[FinishedResult] = [
    Ok(ReturnValue(55)),
    Ok(None),
    FallibleError(ReturnValue({"err": "x"})),
    Timeout(),
    NondeterminismDetected("mismatch"),
    ExecutionFailure("boom", "detail"),
    ExecutionFailure("boom", None),
    Cancelled("by an operator"),
]

SCHEDULES: list[ScheduleAt] = [ScheduleNow(), ScheduleAtTime(5), ScheduleIn(6)]

REQUESTS: list[JoinSetRequestBody] = [DelayRequest(DELAY_ID, 100), ChildExecutionRequest(CHILD_ID)]

RESPONSES: list[JoinSetResponseBody] = [
    *(ChildExecutionFinished(CHILD_ID, result) for result in RESULTS),
    DelayFinished(DELAY_ID),
    DelayFinished(DelayId.generate(), cancelled=True),  # a delay of its own: views key responses by delay
]

EVENTS: list[Event] = [
    Created(FFQN, [10], 5, COMPONENT_ID, 5, 100_000, ParentRef(EXECUTION_ID, JOIN_SET_ID), EXECUTION_ID),
    Created(FFQN, [10], 5, COMPONENT_ID, 5, 100_000),
    Locked(COMPONENT_ID, ExecutorId.generate(), RunId.generate(), 99),
    Unlocked(7, "server stopped"),
    Unlocked(7, "server restarted", after_crash=True),
    TemporarilyFailed(8, "trap", None),
    TemporarilyFailed(8, "trap", "wasm backtrace"),
    TemporarilyTimedOut(9),
    *(Finished(result) for result in RESULTS),
    Paused("an operator, through the gRPC API"),
    Unpaused("an operator, through the web UI"),
    JoinSetCreated(JOIN_SET_ID),
    *(JoinSetRequest(JOIN_SET_ID, request) for request in REQUESTS),
    JoinNext(JOIN_SET_ID, 100),
    JoinNext(JOIN_SET_ID, 100, closing=True),
    *(Schedule(ExecutionId.generate(), schedule_at) for schedule_at in SCHEDULES),
]
"""Every event type, each with every request, result and schedule it can carry."""

PENDING_STATES: list[PendingState] = [
    PendingAt(5),
    LockedState(ExecutorId.generate(), RunId.generate(), 99),
    BlockedByJoinSet(JOIN_SET_ID, 99, closing=False),
    BlockedByJoinSet(JOIN_SET_ID, 99, closing=True),
    *(FinishedState(10, kind) for kind in ResultKind),
]
ACTIVE_STATES: list[ActiveState] = [
    state for state in PENDING_STATES if isinstance(state, PendingAt | LockedState | BlockedByJoinSet)
]
PENDING_STATES += [PausedState(state) for state in ACTIVE_STATES]
