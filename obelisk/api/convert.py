"""Domain objects -> protobuf messages of ``proto/obelisk.proto`` (the server side of the wire format).

Kept apart from the servicers so that each RPC reads as "ask the service, convert, return", and so the mapping
(field by field, docs/compatibility.md#grpc-api) is in one place. Timestamps are stored as UTC microseconds.
Values (params, return values) are JSON inside ``google.protobuf.Any``.
"""

from __future__ import annotations

import json
from typing import Any, assert_never

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.concepts.component_id import ComponentType
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.events import (
    ActiveState,
    BlockedByJoinSet,
    ChildExecutionFinished,
    ChildExecutionRequest,
    Created,
    DelayFinished,
    DelayRequest,
    ExecutionEvent,
    Finished,
    FinishedState,
    HistoryEvent,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    JoinSetRequestBody,
    JoinSetResponseEvent,
    Locked,
    LockedState,
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
from obelisk.concepts.ids import JoinSetId
from obelisk.concepts.json_text import compact_json
from obelisk.concepts.results import (
    Cancelled,
    ExecutionFailure,
    FallibleError,
    FinishedResult,
    NondeterminismDetected,
    Ok,
    ResultKind,
    Timeout,
)
from obelisk.concepts.wit_types import FunctionExtension, FunctionMetadata, WitType
from obelisk.service.components import ComponentView
from obelisk.storage.interface import ExecutionSummary

PARAMS_TYPE_URL_PREFIX = "urn:obelisk:json:params:"
RESULT_TYPE_URL = "urn:obelisk:json:result:TBD"

_COMPONENT_TYPES = {
    ComponentType.WORKFLOW: pb.WORKFLOW,
    ComponentType.ACTIVITY_WASM: pb.ACTIVITY_WASM,
    ComponentType.WEBHOOK_ENDPOINT: pb.WEBHOOK_ENDPOINT,
}
_EXTENSIONS = {
    FunctionExtension.SUBMIT: pb.SUBMIT,
    FunctionExtension.AWAIT_NEXT: pb.AWAIT_NEXT,
    FunctionExtension.SCHEDULE: pb.SCHEDULE,
}


# ---------------------------------------------------------------------------------------------- scalars
def timestamp(micros: int) -> Timestamp:
    seconds, rest = divmod(micros, 1_000_000)
    return Timestamp(seconds=seconds, nanos=rest * 1000)


TIMESTAMP_SECONDS = range(-62_135_596_800, 253_402_300_800)
"""What ``google.protobuf.Timestamp`` allows: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z."""


class TimestampOutOfRange(ObeliskError):
    """A timestamp from a client is outside protobuf's range (it would overflow the database's integers)."""


def micros_of(ts: Timestamp, field: str) -> int:
    """UTC microseconds of a client's timestamp; ``TimestampOutOfRange`` naming ``field`` if it is not valid."""
    if ts.seconds not in TIMESTAMP_SECONDS or not 0 <= ts.nanos < 1_000_000_000:
        raise TimestampOutOfRange(
            f"{field}: seconds={ts.seconds}, nanos={ts.nanos} is not a valid timestamp: expected seconds from "
            f"{TIMESTAMP_SECONDS.start} to {TIMESTAMP_SECONDS.stop - 1} (years 1 to 9999) and nanos from 0 to 999999999"
        )
    return int(ts.seconds) * 1_000_000 + int(ts.nanos) // 1000


def duration(micros: int) -> Duration:
    seconds, rest = divmod(micros, 1_000_000)
    return Duration(seconds=seconds, nanos=rest * 1000)


def json_any(value: Any, type_url: str) -> AnyMessage:
    return AnyMessage(type_url=type_url, value=compact_json(value).encode())


def function_name(ffqn: Ffqn) -> pb.FunctionName:
    return pb.FunctionName(interface_name=ffqn.ifc_fqn, function_name=ffqn.function_name)


def ffqn_text(name: pb.FunctionName) -> str:
    """The FFQN a client named; parsing (and its error) is left to the service, which names candidates."""
    return f"{name.interface_name}.{name.function_name}"


# ---------------------------------------------------------------------------------------------- status
def execution_status(state: PendingState) -> pb.ExecutionStatus:
    match state:
        case PendingAt() | LockedState() | BlockedByJoinSet():
            status = pb.ExecutionStatus()
            _fill_active_status(status, state)
            return status
        case FinishedState(finished_at, result_kind):
            return pb.ExecutionStatus(
                finished=pb.ExecutionStatus.Finished(
                    finished_at=timestamp(finished_at), result_kind=result_kind_of(result_kind)
                )
            )
        case PausedState(active):
            status = pb.ExecutionStatus()
            _fill_active_status(status.paused, active)
            return status
        case _:
            assert_never(state)


def _fill_active_status(target: pb.ExecutionStatus | pb.ExecutionStatus.Paused, state: ActiveState) -> None:
    """Set the field of an unfinished state, named alike in ``ExecutionStatus`` and its ``Paused``."""
    match state:
        case PendingAt(scheduled_at):
            target.pending_at.CopyFrom(pb.ExecutionStatus.PendingAt(scheduled_at=timestamp(scheduled_at)))
        case LockedState(_, run_id, lock_expires_at):
            target.locked.CopyFrom(
                pb.ExecutionStatus.Locked(run_id=pb.RunId(id=run_id), lock_expires_at=timestamp(lock_expires_at))
            )
        case BlockedByJoinSet(join_set_id, lock_expires_at, closing):
            target.blocked_by_join_set.CopyFrom(
                pb.ExecutionStatus.BlockedByJoinSet(
                    join_set_id=pb.JoinSetId(id=join_set_id),
                    lock_expires_at=timestamp(lock_expires_at),
                    closing=closing,
                )
            )
        case _:
            assert_never(state)


def result_kind_of(kind: ResultKind) -> pb.ResultKind:
    match kind:
        case ResultKind.OK:
            return pb.OK
        case ResultKind.TIMEOUT:
            return pb.TIMEOUT
        case ResultKind.NONDETERMINISM_DETECTED:
            return pb.NONDETERMINISM_DETECTED
        case ResultKind.EXECUTION_FAILURE:
            return pb.EXECUTION_FAILURE
        case ResultKind.FALLIBLE_ERROR:
            return pb.FALLIBLE_ERROR
        case ResultKind.CANCELLED:
            return pb.CANCELLED
        case _:
            assert_never(kind)


def result_detail(result: FinishedResult) -> pb.ResultDetail:
    match result:
        case Ok(value):
            ok = pb.ResultDetail.Ok()
            if value is not None:
                ok.return_value.CopyFrom(json_any(value.json, RESULT_TYPE_URL))
            return pb.ResultDetail(ok=ok)
        case FallibleError(value):
            return pb.ResultDetail(
                fallible_error=pb.ResultDetail.FallibleError(return_value=json_any(value.json, RESULT_TYPE_URL))
            )
        case Timeout():
            return pb.ResultDetail(timeout=pb.ResultDetail.Timeout())
        case NondeterminismDetected(reason):
            return pb.ResultDetail(nondeterminism_detected=pb.ResultDetail.NondeterminismDetected(reason=reason))
        case ExecutionFailure(reason, detail):
            return pb.ResultDetail(execution_failure=pb.ResultDetail.ExecutionFailure(reason=reason, detail=detail))
        case Cancelled(reason):
            return pb.ResultDetail(cancelled=pb.ResultDetail.Cancelled(reason=reason))
        case _:
            assert_never(result)


def execution_summary(summary: ExecutionSummary) -> pb.ExecutionSummary:
    return pb.ExecutionSummary(
        execution_id=pb.ExecutionId(id=summary.execution_id),
        function_name=function_name(summary.ffqn),
        current_status=execution_status(summary.pending_state),
        created_at=timestamp(summary.created_at),
        scheduled_at=timestamp(summary.scheduled_at),
    )


# ---------------------------------------------------------------------------------------------- events
def _schedule_at(schedule: ScheduleAt) -> pb.ExecutionEvent.HistoryEvent.Schedule.ScheduledAt:
    scheduled_at = pb.ExecutionEvent.HistoryEvent.Schedule.ScheduledAt
    match schedule:
        case ScheduleNow():
            return scheduled_at(now=scheduled_at.Now())
        case ScheduleAtTime(at_us):
            return scheduled_at(at=scheduled_at.At(at=timestamp(at_us)))
        case ScheduleIn(delay_us):
            message = scheduled_at()
            getattr(message, "in").CopyFrom(scheduled_at.In(**{"in": duration(delay_us)}))
            return message
        case _:
            assert_never(schedule)


def _history_event(event: HistoryEvent) -> pb.ExecutionEvent.HistoryEvent:
    history = pb.ExecutionEvent.HistoryEvent
    match event:
        case JoinSetCreated(join_set_id):
            return history(join_set_created=history.JoinSetCreated(join_set_id=pb.JoinSetId(id=join_set_id)))
        case JoinSetRequest(join_set_id, request):
            return history(join_set_request=_join_set_request(join_set_id, request))
        case JoinNext(join_set_id, run_expires_at, closing):
            return history(
                join_next=history.JoinNext(
                    join_set_id=pb.JoinSetId(id=join_set_id), run_expires_at=timestamp(run_expires_at), closing=closing
                )
            )
        case Schedule(execution_id, schedule_at):
            return history(
                schedule=history.Schedule(
                    execution_id=pb.ExecutionId(id=execution_id), scheduled_at=_schedule_at(schedule_at)
                )
            )
        case _:
            assert_never(event)


def _join_set_request(
    join_set_id: JoinSetId, request: JoinSetRequestBody
) -> pb.ExecutionEvent.HistoryEvent.JoinSetRequest:
    message = pb.ExecutionEvent.HistoryEvent.JoinSetRequest
    match request:
        case DelayRequest(delay_id, expires_at):
            return message(
                join_set_id=pb.JoinSetId(id=join_set_id),
                delay_request=message.DelayRequest(delay_id=pb.DelayId(id=delay_id), expires_at=timestamp(expires_at)),
            )
        case ChildExecutionRequest(child_id):
            return message(
                join_set_id=pb.JoinSetId(id=join_set_id),
                child_execution_request=message.ChildExecutionRequest(child_execution_id=pb.ExecutionId(id=child_id)),
            )
        case _:
            assert_never(request)


def execution_event(event: ExecutionEvent) -> pb.ExecutionEvent:
    message = pb.ExecutionEvent(created_at=timestamp(event.created_at), version=event.version)
    e = event.event
    match e:
        case Created():
            created = pb.ExecutionEvent.Created(
                function_name=function_name(e.ffqn),
                params=json_any(e.params, PARAMS_TYPE_URL_PREFIX + str(e.ffqn)),
                scheduled_at=timestamp(e.scheduled_at),
                component_id=pb.ComponentId(id=e.component_id),
            )
            if e.scheduled_by is not None:
                created.scheduled_by.CopyFrom(pb.ExecutionId(id=e.scheduled_by))
            message.created.CopyFrom(created)
        case Locked():
            message.locked.CopyFrom(
                pb.ExecutionEvent.Locked(
                    component_id=pb.ComponentId(id=e.component_id),
                    run_id=e.run_id,
                    lock_expires_at=timestamp(e.lock_expires_at),
                )
            )
        case Unlocked():
            message.unlocked.CopyFrom(
                pb.ExecutionEvent.Unlocked(backoff_expires_at=timestamp(e.backoff_expires_at), reason=e.reason)
            )
        case TemporarilyFailed():
            message.failed.CopyFrom(
                pb.ExecutionEvent.TemporarilyFailed(
                    reason=e.reason, detail=e.detail, backoff_expires_at=timestamp(e.backoff_expires_at)
                )
            )
        case TemporarilyTimedOut():
            message.timed_out.CopyFrom(
                pb.ExecutionEvent.TemporarilyTimedOut(backoff_expires_at=timestamp(e.backoff_expires_at))
            )
        case Finished():
            message.finished.CopyFrom(pb.ExecutionEvent.Finished(result_detail=result_detail(e.result)))
        case Paused(by):
            message.paused.CopyFrom(pb.ExecutionEvent.Paused(by=by))
        case Unpaused(by):
            message.unpaused.CopyFrom(pb.ExecutionEvent.Unpaused(by=by))
        case JoinSetCreated() | JoinSetRequest() | JoinNext() | Schedule():
            message.history_variant.CopyFrom(_history_event(e))
        case _:
            assert_never(e)
    return message


def response_with_cursor(response: JoinSetResponseEvent) -> pb.ResponseWithCursor:
    event = pb.JoinSetResponseEvent(
        created_at=timestamp(response.created_at), join_set_id=pb.JoinSetId(id=response.join_set_id)
    )
    match response.response:
        case DelayFinished(delay_id, cancelled):
            event.delay_finished.CopyFrom(
                pb.JoinSetResponseEvent.DelayFinished(delay_id=pb.DelayId(id=delay_id), success=not cancelled)
            )
        case ChildExecutionFinished(child_id, result):
            event.child_execution_finished.CopyFrom(
                pb.JoinSetResponseEvent.ChildExecutionFinished(
                    child_execution_id=pb.ExecutionId(id=child_id), result_detail=result_detail(result)
                )
            )
        case _:
            assert_never(response.response)
    return pb.ResponseWithCursor(event=event, cursor=response.cursor)


# ---------------------------------------------------------------------------------------------- components
def wit_type(t: WitType) -> pb.WitType:
    return pb.WitType(wit_type=t.to_wit(), type_wrapper=json.dumps(t.to_type_wrapper_json()))


def function_detail(function: FunctionMetadata) -> pb.FunctionDetail:
    detail = pb.FunctionDetail(
        function_name=function_name(function.ffqn),
        params=[pb.FunctionParameter(type=wit_type(p.type), name=p.name) for p in function.params],
        submittable=function.submittable,
    )
    if function.result is not None:
        detail.return_type.CopyFrom(wit_type(function.result))
    if function.extension is not None:
        detail.extension = _EXTENSIONS[function.extension]
    return detail


def component(view: ComponentView) -> pb.Component:
    entry = view.entry
    return pb.Component(
        component_id=pb.ComponentId(id=str(entry.component_id)),
        digest=str(entry.digest),
        name=entry.name,
        type=_COMPONENT_TYPES[entry.kind],
        exports=[function_detail(f) for f in view.exports],
        imports=[function_detail(f) for f in view.imports],
    )
