"""The event log of an execution, its join-set responses, and its pending state.

Every change of an execution is an appended event; its version is its index in the log (version 0 is
``Created``). History events are the ones a workflow replay matches against its host calls. Join-set responses
(a child finished, a delay expired) live in their own append-only stream per execution, consumed per join set in
arrival order. The JSON codec here is what the storage writes; it is this project's own, readable format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, assert_never, get_args

from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import FinishedResult, ResultKind, result_from_json, result_to_json
from obelisk.concepts.trace_context import TraceContext

UNLIMITED_RETRIES = 2**32 - 1
"""``max_retries`` of workflows: retried forever, as in the original (``u32::MAX``)."""


# ---------------------------------------------------------------------------------------------- schedule-at
@dataclass(frozen=True, slots=True)
class ScheduleNow:
    pass


@dataclass(frozen=True, slots=True)
class ScheduleAtTime:
    at_us: int


@dataclass(frozen=True, slots=True)
class ScheduleIn:
    delay_us: int


ScheduleAt = ScheduleNow | ScheduleAtTime | ScheduleIn


def resolve_schedule(schedule: ScheduleAt, now_us: int) -> int:
    match schedule:
        case ScheduleNow():
            return now_us
        case ScheduleAtTime(at_us):
            return at_us
        case ScheduleIn(delay_us):
            return now_us + delay_us
        case _:
            assert_never(schedule)


def _schedule_to_json(schedule: ScheduleAt) -> Any:
    match schedule:
        case ScheduleNow():
            return "now"
        case ScheduleAtTime(at_us):
            return {"at": at_us}
        case ScheduleIn(delay_us):
            return {"in": delay_us}
        case _:
            assert_never(schedule)


def _schedule_from_json(data: Any) -> ScheduleAt:
    if data == "now":
        return ScheduleNow()
    if "at" in data:
        return ScheduleAtTime(data["at"])
    return ScheduleIn(data["in"])


# ---------------------------------------------------------------------------------------------- events
@dataclass(frozen=True, slots=True)
class ParentRef:
    """The workflow execution and join set that a child's result must be delivered to."""

    execution_id: ExecutionId
    join_set_id: JoinSetId


@dataclass(frozen=True, slots=True)
class Created:
    ffqn: Ffqn
    params: list[Any]
    scheduled_at: int
    component_id: str
    max_retries: int
    retry_exp_backoff_us: int
    parent: ParentRef | None = None
    scheduled_by: ExecutionId | None = None
    trace: TraceContext | None = None
    """The trace the execution's span belongs to (``obelisk.concepts.trace_context``); absent unless it was
    submitted with a ``traceparent`` or while traces were on, and then absent from the stored JSON too."""


@dataclass(frozen=True, slots=True)
class Locked:
    component_id: str
    executor_id: ExecutorId
    run_id: RunId
    lock_expires_at: int


@dataclass(frozen=True, slots=True)
class Unlocked:
    """The run gave its lock back without consuming a retry (server shutdown or restart, an interrupt)."""

    backoff_expires_at: int
    reason: str
    after_crash: bool = False
    """Released by the start of a server whose previous process died while it ran this execution: such releases
    in a row are counted, so that an execution that kills the server every time stops being retried."""


@dataclass(frozen=True, slots=True)
class TemporarilyFailed:
    backoff_expires_at: int
    reason: str
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class TemporarilyTimedOut:
    backoff_expires_at: int


@dataclass(frozen=True, slots=True)
class Finished:
    result: FinishedResult


# history events: what a workflow replay matches its host calls against
@dataclass(frozen=True, slots=True)
class JoinSetCreated:
    join_set_id: JoinSetId


@dataclass(frozen=True, slots=True)
class DelayRequest:
    delay_id: DelayId
    expires_at: int


@dataclass(frozen=True, slots=True)
class ChildExecutionRequest:
    child_execution_id: ExecutionId


JoinSetRequestBody = DelayRequest | ChildExecutionRequest
"""What a ``JoinSetRequest`` asks for."""


@dataclass(frozen=True, slots=True)
class JoinSetRequest:
    join_set_id: JoinSetId
    request: JoinSetRequestBody


@dataclass(frozen=True, slots=True)
class JoinNext:
    join_set_id: JoinSetId
    run_expires_at: int
    closing: bool = False


@dataclass(frozen=True, slots=True)
class Schedule:
    execution_id: ExecutionId
    schedule_at: ScheduleAt


HistoryEvent = JoinSetCreated | JoinSetRequest | JoinNext | Schedule
Event = Created | Locked | Unlocked | TemporarilyFailed | TemporarilyTimedOut | Finished | HistoryEvent
HISTORY_EVENT_TYPES: tuple[type[HistoryEvent], ...] = get_args(HistoryEvent)
TEMPORARY_EVENT_TYPES = (TemporarilyFailed, TemporarilyTimedOut)
"""Events that count against ``max_retries``."""


@dataclass(frozen=True, slots=True)
class ExecutionEvent:
    version: int
    created_at: int
    event: Event


def event_kind(event: Event) -> str:
    return type(event).__name__


def event_to_json(event: Event) -> dict[str, Any]:
    body: dict[str, Any]
    match event:
        case Created():
            body = {
                "ffqn": str(event.ffqn),
                "params": event.params,
                "scheduled_at": event.scheduled_at,
                "component_id": event.component_id,
                "max_retries": event.max_retries,
                "retry_exp_backoff_us": event.retry_exp_backoff_us,
                "parent": None if event.parent is None else [event.parent.execution_id, event.parent.join_set_id],
                "scheduled_by": event.scheduled_by,
            }
            if event.trace is not None:
                body["trace"] = event.trace.to_json()
        case Locked():
            body = {
                "component_id": event.component_id,
                "executor_id": event.executor_id,
                "run_id": event.run_id,
                "lock_expires_at": event.lock_expires_at,
            }
        case Unlocked():
            body = {"backoff_expires_at": event.backoff_expires_at, "reason": event.reason}
            if event.after_crash:
                body["after_crash"] = True
        case TemporarilyFailed():
            body = {
                "backoff_expires_at": event.backoff_expires_at,
                "reason": event.reason,
                "detail": event.detail,
            }
        case TemporarilyTimedOut():
            body = {"backoff_expires_at": event.backoff_expires_at}
        case Finished():
            body = {"result": result_to_json(event.result)}
        case JoinSetCreated():
            body = {"join_set_id": event.join_set_id}
        case JoinSetRequest(join_set_id, request):
            body = {"join_set_id": join_set_id, **_request_to_json(request)}
        case JoinNext():
            body = {
                "join_set_id": event.join_set_id,
                "run_expires_at": event.run_expires_at,
                "closing": event.closing,
            }
        case Schedule():
            body = {"execution_id": event.execution_id, "schedule_at": _schedule_to_json(event.schedule_at)}
        case _:
            assert_never(event)
    return {"type": event_kind(event), **body}


def _request_to_json(request: JoinSetRequestBody) -> dict[str, Any]:
    match request:
        case DelayRequest(delay_id, expires_at):
            return {"delay_id": delay_id, "expires_at": expires_at}
        case ChildExecutionRequest(child_id):
            return {"child_execution_id": child_id}
        case _:
            assert_never(request)


def event_from_json(data: dict[str, Any]) -> Event:
    kind = data["type"]
    match kind:
        case "Created":
            parent = data["parent"]
            trace = data.get("trace")
            return Created(
                ffqn=Ffqn.parse(data["ffqn"]),
                params=data["params"],
                scheduled_at=data["scheduled_at"],
                component_id=data["component_id"],
                max_retries=data["max_retries"],
                retry_exp_backoff_us=data["retry_exp_backoff_us"],
                parent=None if parent is None else ParentRef(ExecutionId(parent[0]), JoinSetId(parent[1])),
                scheduled_by=None if data["scheduled_by"] is None else ExecutionId(data["scheduled_by"]),
                trace=None if trace is None else TraceContext.from_json(trace),
            )
        case "Locked":
            return Locked(
                data["component_id"],
                ExecutorId(data["executor_id"]),
                RunId(data["run_id"]),
                data["lock_expires_at"],
            )
        case "Unlocked":
            return Unlocked(data["backoff_expires_at"], data["reason"], bool(data.get("after_crash", False)))
        case "TemporarilyFailed":
            return TemporarilyFailed(data["backoff_expires_at"], data["reason"], data["detail"])
        case "TemporarilyTimedOut":
            return TemporarilyTimedOut(data["backoff_expires_at"])
        case "Finished":
            return Finished(result_from_json(data["result"]))
        case "JoinSetCreated":
            return JoinSetCreated(JoinSetId(data["join_set_id"]))
        case "JoinSetRequest":
            join_set_id = JoinSetId(data["join_set_id"])
            if "delay_id" in data:
                return JoinSetRequest(join_set_id, DelayRequest(DelayId(data["delay_id"]), data["expires_at"]))
            return JoinSetRequest(join_set_id, ChildExecutionRequest(ExecutionId(data["child_execution_id"])))
        case "JoinNext":
            return JoinNext(JoinSetId(data["join_set_id"]), data["run_expires_at"], data["closing"])
        case "Schedule":
            return Schedule(ExecutionId(data["execution_id"]), _schedule_from_json(data["schedule_at"]))
    raise ValueError(f"unknown event type {kind!r}")


# ---------------------------------------------------------------------------------------------- responses
@dataclass(frozen=True, slots=True)
class ChildExecutionFinished:
    child_execution_id: ExecutionId
    result: FinishedResult


@dataclass(frozen=True, slots=True)
class DelayFinished:
    delay_id: DelayId
    cancelled: bool = False
    """Ended early by an operator's cancel of the delay, not by its expiry (the sleep returns all the same)."""


JoinSetResponseBody = ChildExecutionFinished | DelayFinished
"""What a join-set response delivers."""


@dataclass(frozen=True, slots=True)
class JoinSetResponse:
    join_set_id: JoinSetId
    response: JoinSetResponseBody


@dataclass(frozen=True, slots=True)
class JoinSetResponseEvent:
    """A stored response; ``cursor`` is its arrival order within the whole database."""

    cursor: int
    created_at: int
    join_set_id: JoinSetId
    response: JoinSetResponseBody


def response_to_json(response: JoinSetResponseBody) -> dict[str, Any]:
    match response:
        case ChildExecutionFinished(child_id, result):
            return {
                "type": "ChildExecutionFinished",
                "child_execution_id": child_id,
                "result": result_to_json(result),
            }
        case DelayFinished(delay_id, cancelled):
            return {"type": "DelayFinished", "delay_id": delay_id, **({"cancelled": True} if cancelled else {})}
        case _:
            assert_never(response)


def response_from_json(data: dict[str, Any]) -> JoinSetResponseBody:
    if data["type"] == "ChildExecutionFinished":
        return ChildExecutionFinished(ExecutionId(data["child_execution_id"]), result_from_json(data["result"]))
    if data["type"] == "DelayFinished":
        return DelayFinished(DelayId(data["delay_id"]), bool(data.get("cancelled", False)))
    raise ValueError(f"unknown response type {data['type']!r}")


# ---------------------------------------------------------------------------------------------- pending state
@dataclass(frozen=True, slots=True)
class PendingAt:
    scheduled_at: int


@dataclass(frozen=True, slots=True)
class LockedState:
    executor_id: ExecutorId
    run_id: RunId
    lock_expires_at: int


@dataclass(frozen=True, slots=True)
class BlockedByJoinSet:
    join_set_id: JoinSetId
    lock_expires_at: int
    closing: bool


@dataclass(frozen=True, slots=True)
class FinishedState:
    finished_at: int
    result_kind: ResultKind


PendingState = PendingAt | LockedState | BlockedByJoinSet | FinishedState
