"""Turns a worker's outcome, or an expired lock, into the events to append (used by executors, the timers
watcher, and a workflow running a child activity inline).

One function per source of truth: ``ops_for_outcome`` after a run, ``ops_for_expired_lock`` when a lock ran out
(the executor's own deadline and the timers watcher both use it, so a timeout is recorded the same way whoever
notices it first; the loser's write is refused by the version check).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from obelisk.concepts.events import (
    ChildExecutionFinished,
    Event,
    Finished,
    ParentRef,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
)
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import ExecutionFailure, FallibleError, FinishedResult, Timeout
from obelisk.concepts.retry import RetryPolicy
from obelisk.storage.interface import AppendEvents, DeliverResponse, WriteOp
from obelisk.workers.outcome import (
    FailedPermanently,
    FailedTemporarily,
    Interrupted,
    Released,
    Succeeded,
    TimedOut,
    WorkerOutcome,
)


@dataclass(frozen=True, slots=True)
class RunContext:
    """The facts about a locked execution that decide what its outcome becomes."""

    execution_id: ExecutionId
    version: int
    parent: ParentRef | None
    policy: RetryPolicy
    temporary_event_count: int
    retry_on_err: bool


def finish_ops(
    execution_id: ExecutionId,
    version: int,
    parent: ParentRef | None,
    result: FinishedResult,
    response_created_at: int | None = None,
) -> list[WriteOp]:
    """``Finished`` and, for a child, the parent's response, in one batch (DESIGN §5)."""
    ops: list[WriteOp] = [AppendEvents(execution_id, version, [Finished(result)])]
    if parent is not None:
        response = ChildExecutionFinished(execution_id, result)
        ops.append(DeliverResponse(parent.execution_id, parent.join_set_id, response, response_created_at))
    return ops


def ops_for_outcome(ctx: RunContext, outcome: WorkerOutcome, now: int) -> list[WriteOp]:
    version = getattr(outcome, "version", None)
    if version is not None and version != ctx.version:
        ctx = dataclasses.replace(ctx, version=version)
    match outcome:
        case Succeeded(FallibleError(value), _) if ctx.retry_on_err:
            backoff = ctx.policy.backoff_us(ctx.temporary_event_count)
            if backoff is not None:
                detail = json.dumps(value.json)
                return _append(ctx, TemporarilyFailed(now + backoff, "activity returned an error", detail))
            return finish_ops(ctx.execution_id, ctx.version, ctx.parent, FallibleError(value))
        case Succeeded(result, _):
            return finish_ops(ctx.execution_id, ctx.version, ctx.parent, result)
        case FailedTemporarily(reason, detail, _):
            backoff = ctx.policy.backoff_us(ctx.temporary_event_count)
            if backoff is not None:
                return _append(ctx, TemporarilyFailed(now + backoff, reason, detail))
            failure = ExecutionFailure(f"permanently failed - {reason}", detail)
            return finish_ops(ctx.execution_id, ctx.version, ctx.parent, failure)
        case TimedOut():
            return ops_for_expired_lock(ctx, now)
        case FailedPermanently(result, _):
            return finish_ops(ctx.execution_id, ctx.version, ctx.parent, result)
        case Interrupted():
            return []
        case Released(reason, _):
            return _append(ctx, Unlocked(now, reason))
    raise AssertionError(outcome)


def ops_for_expired_lock(ctx: RunContext, now: int) -> list[WriteOp]:
    backoff = ctx.policy.backoff_us(ctx.temporary_event_count)
    if backoff is not None:
        return _append(ctx, TemporarilyTimedOut(now + backoff))
    return finish_ops(ctx.execution_id, ctx.version, ctx.parent, Timeout())


def _append(ctx: RunContext, event: Event) -> list[WriteOp]:
    return [AppendEvents(ctx.execution_id, ctx.version, [event])]
