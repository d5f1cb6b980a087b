"""The trace context stored with an execution (its ``Created`` event) and the finished-executions hook traces use,
on both backends."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from obelisk.concepts.events import Finished, Locked
from obelisk.concepts.ids import RunId
from obelisk.concepts.results import Ok
from obelisk.concepts.trace_context import TraceContext
from obelisk.storage.state_machine import ExecutionRow

from .backends import Backend
from .helpers import ACTIVITY, EXECUTOR, SEC, T0, created, new_id

TRACE = TraceContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7)


async def test_the_trace_context_is_stored_with_the_execution_and_handed_to_its_runs(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        traced, plain = new_id(1), new_id(2)
        await storage.create(traced, dataclasses.replace(created(), trace=TRACE), T0)
        await storage.create(plain, created(), T0)
        assert (await storage.get(traced)).created.trace == TRACE
        assert (await storage.get(plain)).created.trace is None
        locked = await storage.lock_pending(
            ffqns=[ACTIVITY],
            batch_size=2,
            now=T0,
            executor_id=EXECUTOR,
            component_id="activity_wasm:fibo:0123456789abcdef",
            lock_expires_at=T0 + 10 * SEC,
        )
        assert {lock.execution_id: lock.created.trace for lock in locked} == {traced: TRACE, plain: None}


async def test_the_finished_hook_gets_the_rows_of_executions_a_commit_finished(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        finished: list[ExecutionRow] = []

        def collect(rows: Sequence[ExecutionRow]) -> None:
            finished.extend(rows)

        execution_id = new_id(1)
        await storage.create(execution_id, created(), T0)
        storage.on_finished = collect
        locked = Locked("activity_wasm:fibo:0123456789abcdef", EXECUTOR, RunId.generate(), T0 + SEC)
        await storage.append(execution_id, 1, [locked], T0)
        assert finished == []  # a commit that finished nothing
        await storage.append(execution_id, 2, [Finished(Ok(None))], T0 + 5)
        (row,) = finished
        assert (row.execution_id, row.result_kind, row.finished_at) == (execution_id, "Ok", T0 + 5)
        storage.on_finished = None
        other = new_id(2)
        await storage.create(other, created(), T0)
        await storage.append(other, 1, [Finished(Ok(None))], T0)
        assert len(finished) == 1  # no hook, nothing reported
