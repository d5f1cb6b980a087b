"""Pause and resume as the storage contract, on every backend: the lock query skips a paused execution whatever
its state, the holder of a paused execution still writes, resume makes it due where it was, and each refusal
writes nothing."""

from __future__ import annotations

import pytest

from obelisk.concepts.events import (
    BlockedByJoinSet,
    ChildExecutionFinished,
    ChildExecutionRequest,
    Event,
    Finished,
    FinishedState,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    Locked,
    LockedState,
    Paused,
    PausedState,
    PendingAt,
    TemporarilyFailed,
    Unlocked,
    Unpaused,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, JoinSetId
from obelisk.concepts.results import Ok, ResultKind
from obelisk.storage.interface import (
    AlreadyFinished,
    AlreadyPaused,
    DeliverResponse,
    ExecutionNotFound,
    ExecutionQuery,
    NotPaused,
    Storage,
    VersionMismatch,
)

from .backends import Backend
from .helpers import ACTIVITY, EXECUTOR, SEC, T0, WORKFLOW, created, new_id


async def _lock_due(storage: Storage, ffqn: Ffqn, now: int) -> list[ExecutionId]:
    locked = await storage.lock_pending(
        ffqns=[ffqn], batch_size=10, now=now, executor_id=EXECUTOR, component_id="c", lock_expires_at=now + 10 * SEC
    )
    return [lock.execution_id for lock in locked]


async def test_a_paused_execution_is_not_locked_until_resumed_where_it_was(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        paused, other = new_id(0), new_id(1)
        await storage.create(paused, created(scheduled_at=T0 + SEC), T0)
        await storage.create(other, created(scheduled_at=T0 + SEC), T0)
        await storage.pause(paused, "op", T0 + 10)
        assert await storage.get_pending_state(paused) == PausedState(PendingAt(T0 + SEC))
        # due long since: the other is locked, the paused one is skipped by the lock query itself
        assert await _lock_due(storage, ACTIVITY, T0 + 60 * SEC) == [other]
        assert await _lock_due(storage, ACTIVITY, T0 + 60 * SEC) == []
        listed = await storage.list_executions(ExecutionQuery(paused=True))
        assert [(s.execution_id, s.pending_state) for s in listed] == [(paused, PausedState(PendingAt(T0 + SEC)))]
        assert [s.execution_id for s in await storage.list_executions(ExecutionQuery(paused=False))] == [other]
        pending = ExecutionQuery(state="PendingAt", paused=False)
        assert [s.execution_id for s in await storage.list_executions(pending)] == []
        await storage.unpause(paused, "op", T0 + 20)
        assert await storage.get_pending_state(paused) == PendingAt(T0 + SEC)
        assert await _lock_due(storage, ACTIVITY, T0 + 60 * SEC) == [paused]
        log = await storage.get(paused)
        assert [(e.version, e.created_at, e.event) for e in log.events[1:3]] == [
            (1, T0 + 10, Paused("op")),
            (2, T0 + 20, Unpaused("op")),
        ]
        assert isinstance(log.events[3].event, Locked)


async def test_the_attempt_running_when_paused_may_finish(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        assert await _lock_due(storage, ACTIVITY, T0) == [eid]
        assert isinstance(await storage.get_pending_state(eid), PausedState) is False
        await storage.pause(eid, "op", T0 + 1)
        state = await storage.get_pending_state(eid)
        assert isinstance(state, PausedState) and isinstance(state.state, LockedState)
        # the attempt appends at the version it locked at (2), unaware of the pause at 2
        await storage.append(eid, 2, [Finished(Ok(None))], T0 + 2)
        assert await storage.get_pending_state(eid) == FinishedState(T0 + 2, ResultKind.OK)
        kinds = [type(e.event).__name__ for e in (await storage.get(eid)).events]
        assert kinds == ["Created", "Locked", "Paused", "Finished"]


async def test_no_retry_starts_while_paused(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        await _lock_due(storage, ACTIVITY, T0)
        await storage.pause(eid, "op", T0 + 1)
        await storage.append(eid, 2, [TemporarilyFailed(T0 + SEC, "trap", None)], T0 + 2)
        assert await storage.get_pending_state(eid) == PausedState(PendingAt(T0 + SEC))
        assert await _lock_due(storage, ACTIVITY, T0 + 60 * SEC) == []
        await storage.unpause(eid, "op", T0 + 60 * SEC)
        assert await _lock_due(storage, ACTIVITY, T0 + 60 * SEC) == [eid]


async def test_a_paused_waiting_workflow_is_due_after_its_response_only_once_resumed(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        wf, js = new_id(), JoinSetId.generate()
        child = wf.child(0)
        await storage.create(wf, created(WORKFLOW), T0)
        await _lock_due(storage, WORKFLOW, T0)
        requests: list[Event] = [
            JoinSetCreated(js),
            JoinSetRequest(js, ChildExecutionRequest(child)),
            JoinNext(js, T0 + 5 * SEC),
        ]
        await storage.append(wf, 2, requests, T0)
        with storage.watch_status(wf) as watch:
            await storage.pause(wf, "op", T0 + 1)
            status = watch.take()
        assert status is not None and status.operator_versions == 1
        assert status.pending_state == PausedState(BlockedByJoinSet(js, T0 + 5 * SEC, False))
        await storage.append(wf, 5, [Unlocked(T0 + 1, "paused by an operator")], T0 + 1)  # the run gives it back
        response = ChildExecutionFinished(child, Ok(None))
        await storage.write([DeliverResponse(wf, js, response)], T0 + 2)
        assert await storage.get_pending_state(wf) == PausedState(PendingAt(T0 + 1))
        assert await _lock_due(storage, WORKFLOW, T0 + 60 * SEC) == []
        await storage.unpause(wf, "op", T0 + 3)
        assert await _lock_due(storage, WORKFLOW, T0 + 60 * SEC) == [wf]


async def test_refusals_write_nothing(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid, done = new_id(0), new_id(1)
        await storage.create(eid, created(), T0)
        await storage.create(done, created(), T0)
        await storage.append(done, 1, [Finished(Ok(None))], T0)
        with pytest.raises(NotPaused, match="is not paused"):
            await storage.unpause(eid, "op", T0)
        await storage.pause(eid, "op", T0)
        before = storage_backend.dump()
        with pytest.raises(AlreadyPaused, match="already paused"):
            await storage.pause(eid, "op", T0)
        with pytest.raises(AlreadyFinished):
            await storage.pause(done, "op", T0)
        with pytest.raises(NotPaused, match="has finished"):
            await storage.unpause(done, "op", T0)
        with pytest.raises(ExecutionNotFound):
            await storage.pause(new_id(2), "op", T0)
        assert storage_backend.dump() == before


async def test_cancel_of_a_paused_execution_finishes_it_cancelled(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        await storage.pause(eid, "op", T0)
        assert await storage.cancel(eid, "by an operator", T0 + 1) == [eid]
        assert await storage.get_pending_state(eid) == FinishedState(T0 + 1, ResultKind.CANCELLED)
        assert await storage.list_executions(ExecutionQuery(paused=True)) == []


async def test_a_stale_writer_is_still_refused_after_a_pause(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(WORKFLOW), T0)
        await _lock_due(storage, WORKFLOW, T0)
        await storage.pause(eid, "op", T0)
        await storage.append(eid, 2, [JoinSetCreated(JoinSetId.generate())], T0)  # the run, at its version
        before = storage_backend.dump()
        with pytest.raises(VersionMismatch):  # a writer that looked before the run's last write
            await storage.append(eid, 2, [Unlocked(T0, "stale")], T0)
        assert storage_backend.dump() == before


async def test_a_paused_execution_is_no_due_backlog(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        paused, due = new_id(0), new_id(1)
        await storage.create(paused, created(), T0)
        await storage.create(due, created(), T0)
        await storage.pause(paused, "op", T0)
        gauges = await storage.gauges(T0)
        assert gauges.due == {str(ACTIVITY): 1}  # what the executors would lock
        assert gauges.executions == {(str(ACTIVITY), "PendingAt"): 1, (str(ACTIVITY), "Paused"): 1}
        await storage.pause(due, "op", T0)
        assert (await storage.gauges(T0)).executions == {(str(ACTIVITY), "Paused"): 2}  # no PendingAt left at 0
        await storage.unpause(paused, "op", T0)
        assert (await storage.gauges(T0)).executions == {(str(ACTIVITY), "PendingAt"): 1, (str(ACTIVITY), "Paused"): 1}


async def test_a_pause_and_a_resume_through_two_servers_each_see_what_the_other_wrote(storage_backend: Backend) -> None:
    """Each server's writer keeps the rows of its own last writes; an operator's pause or resume must be decided on
    the row as it is, not as this server last wrote it: through A, pause; through B, resume; through A again, pause
    (A's known row still says paused) and resume."""
    async with storage_backend.opened() as a, storage_backend.opened() as b:
        eid = new_id()
        await a.create(eid, created(WORKFLOW), T0)
        await a.pause(eid, "op", T0)  # A knows the row, paused
        await b.unpause(eid, "op", T0 + 1)
        await a.pause(eid, "op", T0 + 2)  # refused as "already paused" on A's known row before the fix
        assert isinstance(await b.get_pending_state(eid), PausedState)
        await b.get_status(eid)
        await a.unpause(eid, "op", T0 + 3)
        await b.pause(eid, "op", T0 + 4)
        await a.unpause(eid, "op", T0 + 5)  # A's known row says not paused: refused as "not paused" before the fix
        assert isinstance(await b.get_pending_state(eid), PendingAt)
        kinds = [type(event.event).__name__ for event in (await b.get(eid)).events]
        assert kinds == ["Created", "Paused", "Unpaused", "Paused", "Unpaused", "Paused", "Unpaused"]
