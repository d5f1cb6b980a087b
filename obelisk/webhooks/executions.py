"""The execution record of a webhook request and the executions it starts (docs/architecture.md#webhook-endpoints).

A webhook's record is created lazily, on its first call of an imported function: ffqn
``wasi:http/incoming-handler.handle``, params ``[method, path]``, no retries, and locked in the same write by the
server that serves the request (its executor id) for longer than the request can last: the lock says whose record
it is when several servers share a database. Direct calls add a join set and a child request to it and create the
child ``E_W.N`` in the same write; ``-schedule`` adds a ``Schedule`` event and creates a new top-level execution
scheduled by the webhook. The record is finished when the
response ends, so no webhook execution lingers as pending. Calls are not replayed: a webhook is not durable.

Everything here is a coroutine on the server's loop; the webhook's thread reaches it through
``asyncio.run_coroutine_threadsafe``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from obelisk.concepts.clock import Clock
from obelisk.concepts.events import (
    ChildExecutionRequest,
    Created,
    Event,
    Finished,
    JoinSetCreated,
    JoinSetRequest,
    Locked,
    ParentRef,
    Schedule,
    ScheduleAt,
    resolve_schedule,
)
from obelisk.concepts.ffqn import WEBHOOK_FFQN
from obelisk.concepts.ids import ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import FinishedResult
from obelisk.concepts.trace_context import TraceContext
from obelisk.registry import ExportedFunction
from obelisk.service.executions import ExecutionService
from obelisk.storage.interface import AlreadyFinished, AppendEvents, CreateExecution, Storage, WriteOp

log = logging.getLogger(__name__)


@dataclass
class WebhookRecord:
    """What one request knows about its own execution record (one guest thread, so calls are serial)."""

    execution_id: ExecutionId
    component_id: str
    method: str
    path: str
    created: bool = False
    next_version: int = 0
    children: int = 0
    scheduled: list[ExecutionId] = field(default_factory=list)
    trace: TraceContext | None = None
    """From the request's ``traceparent``, stored with the record; its children continue it."""

    @property
    def child_trace(self) -> TraceContext | None:
        return None if self.trace is None else self.trace.child_of(self.execution_id)


class WebhookExecutions:
    def __init__(
        self, storage: Storage, executions: ExecutionService, clock: Clock, executor_id: ExecutorId, lock_us: int
    ) -> None:
        """``lock_us``: how long a record stays this server's. Longer than any request can last here, so that only
        the death of this process can leave a record locked past it; then whichever server sees the lock expire
        finishes the record (a timeout), and this server, restarted, finishes its own at once."""
        self._storage = storage
        self._executions = executions
        self._clock = clock
        self._executor_id = executor_id
        self._lock_us = lock_us

    def _ensure_created(self, record: WebhookRecord, ops: list[WriteOp], now: int) -> None:
        if record.created:
            return
        created = Created(
            ffqn=WEBHOOK_FFQN,
            params=[record.method, record.path],
            scheduled_at=now,
            component_id=record.component_id,
            max_retries=0,
            retry_exp_backoff_us=0,
            trace=record.trace,
        )
        locked = Locked(record.component_id, self._executor_id, RunId.generate(), now + self._lock_us)
        ops += [CreateExecution(record.execution_id, created), AppendEvents(record.execution_id, 1, [locked])]
        record.next_version = 2

    async def _write(self, record: WebhookRecord, ops: list[WriteOp], appended: int, now: int) -> None:
        await self._storage.write(ops, now)
        record.created = True
        record.next_version += appended

    async def start_call(self, record: WebhookRecord, callee: ExportedFunction, params: list[Any]) -> ExecutionId:
        """A direct call: create the child under a fresh join set; ``result_of`` waits for it.

        Two steps, because only the wait may be cut short (by the request's deadline, its client leaving, the
        server stopping): the write always completes, so the record knows every child it has, and the child, being
        durable work, runs to its end whatever happens to the request.
        """
        now = self._clock.now_us()
        ops: list[WriteOp] = []
        self._ensure_created(record, ops, now)
        record.children += 1
        child_id = record.execution_id.child(record.children)
        join_set_id = JoinSetId.generate()
        events: list[Event] = [
            JoinSetCreated(join_set_id),
            JoinSetRequest(join_set_id, ChildExecutionRequest(child_id)),
        ]
        ops.append(AppendEvents(record.execution_id, record.next_version, events))
        parent = ParentRef(record.execution_id, join_set_id)
        child = callee.created(params, now, parent=parent, trace=record.child_trace)
        ops.append(CreateExecution(child_id, child))
        await self._write(record, ops, len(events), now)
        return child_id

    async def result_of(self, child_id: ExecutionId) -> FinishedResult:
        return await self._executions.wait_for_result(child_id)

    async def schedule(
        self, record: WebhookRecord, callee: ExportedFunction, schedule_at: ScheduleAt, params: list[Any]
    ) -> ExecutionId:
        """``-schedule``: a new top-level execution of ``callee`` at the requested time."""
        now = self._clock.now_us()
        ops: list[WriteOp] = []
        self._ensure_created(record, ops, now)
        new_id = ExecutionId.generate()
        ops.append(AppendEvents(record.execution_id, record.next_version, [Schedule(new_id, schedule_at)]))
        created = callee.created(
            params, resolve_schedule(schedule_at, now), scheduled_by=record.execution_id, trace=record.child_trace
        )
        ops.append(CreateExecution(new_id, created))
        await self._write(record, ops, 1, now)
        record.scheduled.append(new_id)
        return new_id

    async def finish(self, record: WebhookRecord, result: FinishedResult) -> None:
        """Finish the record if one was created (a webhook that called nothing has none)."""
        if not record.created:
            return
        now = self._clock.now_us()
        try:
            await self._storage.write([AppendEvents(record.execution_id, record.next_version, [Finished(result)])], now)
        except AlreadyFinished:
            log.info(
                "%s: the webhook's execution record was cancelled meanwhile; its end is not recorded",
                record.execution_id,
            )
            return
        record.next_version += 1
