"""Turns a worker's outcome, or an expired lock, into the events to append (used by executors, the timers
watcher, and a workflow running a child activity inline).

One function per source of truth: ``ops_for_outcome`` after a run, ``ops_for_expired_lock`` when a lock ran out
(the executor's own deadline and the timers watcher both use it, so a timeout is recorded the same way whoever
notices it first; the loser's write is refused by the version check), ``ops_for_held_locks`` when a server
gives back what it holds as it stops or, after a crash, as it starts again.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import assert_never

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
from obelisk.storage.interface import AppendEvents, DeliverResponse, HeldLock, WriteOp
from obelisk.workers.outcome import (
    FailedPermanently,
    FailedTemporarily,
    Interrupted,
    Released,
    Succeeded,
    TimedOut,
    WorkerOutcome,
    outcome_version,
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
    timeouts_in_a_row: int = 0
    """Runs that timed out since the execution last recorded progress, before this one."""
    max_timeouts_in_a_row: int | None = None
    """Workflows (which retry timeouts for ever): the timeout that would be this many in a row ends the execution.
    ``None`` for activities, whose retries are bounded by ``max_retries``."""


def finish_ops(
    execution_id: ExecutionId,
    version: int,
    parent: ParentRef | None,
    result: FinishedResult,
    response_created_at: int | None = None,
) -> list[WriteOp]:
    """``Finished`` and, for a child, the parent's response, in one batch
    (docs/architecture.md#atomic-transitions-and-commits)."""
    ops: list[WriteOp] = [AppendEvents(execution_id, version, [Finished(result)])]
    if parent is not None:
        response = ChildExecutionFinished(execution_id, result)
        ops.append(DeliverResponse(parent.execution_id, parent.join_set_id, response, response_created_at))
    return ops


def ops_for_outcome(ctx: RunContext, outcome: WorkerOutcome, now: int) -> list[WriteOp]:
    version = outcome_version(outcome)
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
        case Released(reason, _, pause_us, _):
            return _append(ctx, Unlocked(now + pause_us, reason))
        case _:
            assert_never(outcome)


def ops_for_expired_lock(ctx: RunContext, now: int) -> list[WriteOp]:
    limit = ctx.max_timeouts_in_a_row
    if limit is not None and ctx.timeouts_in_a_row + 1 >= limit:
        failure = ExecutionFailure(
            f"timed out {ctx.timeouts_in_a_row + 1} times in a row without recording progress; not retried again",
            "every run used its whole lock without reaching its next step: the workflow loops without calling the"
            " host, or its work between two host calls (replaying its parameters included) does not fit in"
            " exec.lock_expiry",
        )
        return finish_ops(ctx.execution_id, ctx.version, ctx.parent, failure)
    backoff = ctx.policy.backoff_us(ctx.temporary_event_count)
    if backoff is not None:
        return _append(ctx, TemporarilyTimedOut(now + backoff))
    return finish_ops(ctx.execution_id, ctx.version, ctx.parent, Timeout())


def ops_for_released_children(released: Released, now: int) -> list[list[WriteOp]]:
    """One write per inline child of a released run: a child whose lock is not committed, or that someone else
    moved on meanwhile, must not keep the others (or its parent) from being released."""
    unlocked = Unlocked(now, f"its parent's run was released: {released.reason}")
    return [[AppendEvents(child_id, version, [unlocked])] for child_id, version in released.inline_children]


MAX_CRASHES_IN_A_ROW = 5
"""A server start that finds an execution still running under its previous process releases it (``Unlocked``
marked ``after_crash``); the release that would be this many in a row without progress ends it instead. An
attempt that kills the server (a miscompiled artifact, a runtime bug, memory exhaustion) would otherwise take
it down on every start for ever. Five leaves room for unrelated crashes or kills while an execution happens to
run; see docs/decisions.md."""


def ops_for_held_locks(held: Sequence[HeldLock], now: int, *, after_crash: bool) -> list[WriteOp]:
    """Give back what a server held: on a clean stop (``after_crash=False``) and at the next start after its
    process died (``after_crash=True``; only executions that were running count a crash: a run waiting in place
    for a response did not cause it). Nothing is charged to a retry budget either way."""
    reason = "server restarted" if after_crash else "server stopped"
    ops: list[WriteOp] = []
    for lock in held:
        crashed = after_crash and lock.running
        if crashed and lock.crashes_in_a_row + 1 >= MAX_CRASHES_IN_A_ROW:
            failure = ExecutionFailure(
                f"the server died {lock.crashes_in_a_row + 1} times in a row while running this execution;"
                " it is not retried again",
                "each start of the server found it still running under the previous process, with no progress"
                " recorded in between (the attempt may crash the server: check the server's log and exit status)",
            )
            ops += finish_ops(lock.execution_id, lock.version, lock.parent, failure)
        else:
            ops.append(AppendEvents(lock.execution_id, lock.version, [Unlocked(now, reason, after_crash=crashed)]))
    return ops


def _append(ctx: RunContext, event: Event) -> list[WriteOp]:
    return [AppendEvents(ctx.execution_id, ctx.version, [event])]
