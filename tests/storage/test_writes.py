"""Atomic write batches and the pending-state machine: the storage contract, on every backend."""

from __future__ import annotations

import pytest

from obelisk.concepts.events import (
    BlockedByJoinSet,
    ChildExecutionFinished,
    ChildExecutionRequest,
    DelayFinished,
    DelayRequest,
    Finished,
    FinishedState,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    Locked,
    LockedState,
    ParentRef,
    PendingAt,
    TemporarilyFailed,
    Unlocked,
)
from obelisk.concepts.ids import DelayId, JoinSetId, RunId
from obelisk.concepts.results import Ok, ResultKind, ReturnValue
from obelisk.storage.interface import (
    AlreadyFinished,
    AppendEvents,
    CreateExecution,
    DeliverResponse,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    ExpiredDelay,
    ExpiredLock,
    IllegalStateTransition,
    Storage,
    VersionMismatch,
)
from obelisk.storage.migrations import SchemaTooNew

from .backends import Backend
from .helpers import EXECUTOR, SEC, T0, WORKFLOW, created, new_id


async def _lock(storage: Storage, execution_id: str, version: int, now: int = T0) -> RunId:
    run_id = RunId.generate()
    await storage.append(execution_id, version, [Locked("c", EXECUTOR, run_id, now + 10 * SEC)], now)  # type: ignore[arg-type]
    return run_id


async def test_create_and_get(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        log = await storage.get(eid)
        assert log.created == created()
        assert log.next_version == 1
        assert log.events[0].created_at == T0
        assert log.pending_state == PendingAt(T0)
        assert await storage.get_pending_state(eid) == PendingAt(T0)
        with pytest.raises(ExecutionNotFound):
            await storage.get(new_id(1))


async def test_duplicate_create_is_refused(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        before = storage_backend.dump()
        with pytest.raises(ExecutionAlreadyExists) as info:
            await storage.create(eid, created(scheduled_at=T0 + 5), T0 + 1)
        assert info.value.execution_id == eid
        assert storage_backend.dump() == before
        # Refused also when the write goes on with the execution (its state row is inserted last), and when one
        # write creates the same new execution twice; nothing of either write is kept.
        locked = Locked("c", EXECUTOR, RunId.generate(), T0 + 10 * SEC)
        with pytest.raises(ExecutionAlreadyExists):
            await storage.write([CreateExecution(eid, created()), AppendEvents(eid, 1, [locked])], T0 + 1)
        fresh = new_id(1)
        with pytest.raises(ExecutionAlreadyExists) as twice:
            await storage.write([CreateExecution(fresh, created()), CreateExecution(fresh, created())], T0 + 1)
        assert twice.value.execution_id == fresh
        assert storage_backend.dump() == before


async def test_stale_version_is_refused_and_nothing_written(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(), T0)
        await _lock(storage, eid, 1)
        before = storage_backend.dump()
        with pytest.raises(VersionMismatch) as info:
            await storage.append(eid, 1, [TemporarilyFailed(T0 + SEC, "boom")], T0)
        assert (info.value.expected, info.value.actual) == (1, 2)
        assert storage_backend.dump() == before


async def test_failed_batch_writes_nothing(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        parent, other = new_id(), new_id(1)
        await storage.create(parent, created(WORKFLOW), T0)
        before = storage_backend.dump()
        js = JoinSetId.generate()
        child = parent.child(0)
        with pytest.raises(VersionMismatch):
            await storage.write(
                [
                    AppendEvents(parent, 1, [JoinSetCreated(js), JoinSetRequest(js, ChildExecutionRequest(child))]),
                    CreateExecution(child, created(parent=ParentRef(parent, js))),
                    CreateExecution(other, created()),
                    AppendEvents(parent, 1, [JoinNext(js, T0)]),  # stale: the first op moved it to 3
                ],
                T0,
            )
        assert storage_backend.dump() == before
        # The same batch without the bad op goes through, and chains versions inside the batch.
        await storage.write(
            [
                AppendEvents(parent, 1, [JoinSetCreated(js), JoinSetRequest(js, ChildExecutionRequest(child))]),
                CreateExecution(child, created(parent=ParentRef(parent, js))),
                AppendEvents(parent, 3, [JoinNext(js, T0)]),
            ],
            T0,
        )
        assert (await storage.get(parent)).next_version == 4
        assert (await storage.get(child)).created.parent == ParentRef(parent, js)


async def test_child_finished_with_response_unblocks_parent(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        parent = new_id()
        await storage.create(parent, created(WORKFLOW), T0)
        await _lock(storage, parent, 1)
        js = JoinSetId.generate()
        child = parent.child(0)
        deadline = T0 + 5 * SEC
        await storage.write(
            [
                AppendEvents(
                    parent,
                    2,
                    [JoinSetCreated(js), JoinSetRequest(js, ChildExecutionRequest(child)), JoinNext(js, deadline)],
                ),
                CreateExecution(child, created(parent=ParentRef(parent, js))),
            ],
            T0,
        )
        assert await storage.get_pending_state(parent) == BlockedByJoinSet(js, deadline, False)
        assert await storage.get_pending_state(child) == PendingAt(T0)
        await _lock(storage, child, 1)
        result = Ok(ReturnValue(55))
        await storage.write(
            [
                AppendEvents(child, 2, [Finished(result)]),
                DeliverResponse(parent, js, ChildExecutionFinished(child, result)),
            ],
            T0 + 1,
        )
        assert await storage.get_pending_state(child) == FinishedState(T0 + 1, ResultKind.OK)
        # The awaiting run keeps the execution until its deadline.
        assert await storage.get_pending_state(parent) == PendingAt(deadline)
        log = await storage.get(parent)
        assert [r.response for r in log.responses] == [ChildExecutionFinished(child, result)]
        with pytest.raises(AlreadyFinished):
            await storage.append(child, 3, [Unlocked(T0, "late")], T0 + 2)


async def test_join_next_with_response_already_there_is_pending(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        parent = new_id()
        await storage.create(parent, created(WORKFLOW), T0)
        await _lock(storage, parent, 1)
        js = JoinSetId.generate()
        children = [parent.child(0), parent.child(1)]
        requests = [JoinSetRequest(js, ChildExecutionRequest(c)) for c in children]
        await storage.write(
            [AppendEvents(parent, 2, [JoinSetCreated(js), *requests])]
            + [CreateExecution(c, created(parent=ParentRef(parent, js))) for c in children],
            T0,
        )
        result = Ok(None)
        await storage.write([DeliverResponse(parent, js, ChildExecutionFinished(children[1], result))], T0 + 7)
        # First JoinNext consumes response 0, which exists: pending at max(run_expires_at, response time).
        await storage.append(parent, 5, [JoinNext(js, T0 + 3)], T0 + 8)
        assert await storage.get_pending_state(parent) == PendingAt(T0 + 7)
        # Second JoinNext needs response 1, not there yet: blocked.
        await storage.append(parent, 6, [JoinNext(js, T0 + 20, closing=True)], T0 + 8)
        assert await storage.get_pending_state(parent) == BlockedByJoinSet(js, T0 + 20, True)
        # A duplicate delivery is ignored and does not unblock.
        await storage.write([DeliverResponse(parent, js, ChildExecutionFinished(children[1], result))], T0 + 9)
        assert await storage.get_pending_state(parent) == BlockedByJoinSet(js, T0 + 20, True)
        assert storage.stats.extra["duplicate_responses"] == 1
        await storage.write([DeliverResponse(parent, js, ChildExecutionFinished(children[0], result))], T0 + 9)
        assert await storage.get_pending_state(parent) == PendingAt(T0 + 20)
        assert len((await storage.get(parent)).responses) == 2


async def test_delay_row_lifecycle_and_expired_timers(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        wf, act = new_id(), new_id(1)
        await storage.create(wf, created(WORKFLOW), T0)
        await storage.create(act, created(), T0)
        await _lock(storage, wf, 1)
        act_run = await _lock(storage, act, 1)
        js, delay = JoinSetId.generate(), DelayId.generate()
        await storage.append(
            wf, 2, [JoinSetCreated(js), JoinSetRequest(js, DelayRequest(delay, T0 + 2 * SEC)), JoinNext(js, T0)], T0
        )
        assert await storage.get_pending_state(wf) == BlockedByJoinSet(js, T0, False)
        # At T0+1s: nothing due (the activity's lock runs to T0+10s; blocked rows are never timers).
        assert await storage.get_expired_timers(T0 + SEC) == []
        timers = await storage.get_expired_timers(T0 + 10 * SEC)
        assert ExpiredDelay(wf, js, delay, T0 + 2 * SEC) in timers
        (lock,) = [t for t in timers if isinstance(t, ExpiredLock)]
        assert (lock.execution_id, lock.run_id, lock.version, lock.max_retries) == (act, act_run, 2, 5)
        assert lock.lock_expires_at == T0 + 10 * SEC
        await storage.write([DeliverResponse(wf, js, DelayFinished(delay))], T0 + 2 * SEC)
        assert await storage.get_pending_state(wf) == PendingAt(T0)
        assert [t for t in await storage.get_expired_timers(T0 + 10 * SEC) if isinstance(t, ExpiredDelay)] == []


async def test_finished_deletes_the_delays_still_pending(storage_backend: Backend) -> None:
    """The rules count an execution's delay rows: a Finished deletes those left (and only then runs a DELETE); a
    delay's response arriving after the Finished deletes nothing and is still stored."""
    async with storage_backend.opened() as storage:
        wf = new_id()
        await storage.create(wf, created(WORKFLOW), T0)
        await _lock(storage, wf, 1)
        js, done, pending = JoinSetId.generate(), DelayId.generate(), DelayId.generate()
        requests = [JoinSetRequest(js, DelayRequest(d, T0 + 2 * SEC)) for d in (done, pending)]
        await storage.append(wf, 2, [JoinSetCreated(js), *requests], T0)
        count = "SELECT count(*) FROM delay WHERE execution_id = ?"
        assert storage_backend.query(count, (wf,)) == [(2,)]
        await storage.write([DeliverResponse(wf, js, DelayFinished(done))], T0 + 2 * SEC)
        assert storage_backend.query("SELECT delay_id FROM delay WHERE execution_id = ?", (wf,)) == [(pending,)]
        await storage.append(wf, 5, [Finished(Ok(ReturnValue(1)))], T0 + 3 * SEC)
        assert storage_backend.query(count, (wf,)) == [(0,)]
        await storage.write([DeliverResponse(wf, js, DelayFinished(pending))], T0 + 3 * SEC)
        assert storage_backend.query(count, (wf,)) == [(0,)]
        log = await storage.get(wf)
        assert [r.response for r in log.responses] == [DelayFinished(done), DelayFinished(pending)]
        assert storage_backend.query("SELECT pending_delays FROM execution_state WHERE execution_id = ?", (wf,)) == [
            (0,)
        ]


async def test_summary_and_last_event_read_alone(storage_backend: Backend) -> None:
    """What a follower reads instead of the whole log: the state row's summary and the newest event."""
    async with storage_backend.opened() as storage:
        eid = new_id()
        with pytest.raises(ExecutionNotFound):
            await storage.get_summary(eid)
        with pytest.raises(ExecutionNotFound):
            await storage.get_last_event(eid)
        await storage.create(eid, created(scheduled_at=T0 + SEC), T0)
        summary = await storage.get_summary(eid)
        log = await storage.get(eid)
        assert (summary.created_at, summary.scheduled_at, summary.pending_state) == (T0, T0 + SEC, PendingAt(T0 + SEC))
        assert (summary.ffqn, summary.component_id) == (log.created.ffqn, log.created.component_id)
        assert await storage.get_last_event(eid) == log.events[0]
        await _lock(storage, eid, 1, now=T0 + SEC)
        await storage.append(eid, 2, [Finished(Ok(ReturnValue(7)))], T0 + 2 * SEC)
        last = await storage.get_last_event(eid)
        assert (last.version, last.created_at, last.event) == (2, T0 + 2 * SEC, Finished(Ok(ReturnValue(7))))
        assert (await storage.get_summary(eid)).pending_state == FinishedState(T0 + 2 * SEC, ResultKind.OK)


async def test_join_next_counts_the_earlier_join_next_of_its_own_write(storage_backend: Backend) -> None:
    """A write's log rows are inserted together at its end: a second ``JoinNext`` on a join set in the same write
    must still consume the second response, not the first again."""
    async with storage_backend.opened() as storage:
        wf = new_id()
        await storage.create(wf, created(WORKFLOW), T0)
        await _lock(storage, wf, 1)
        js = JoinSetId.generate()
        first, second = wf.child(0), wf.child(1)
        requests = [JoinSetRequest(js, ChildExecutionRequest(c)) for c in (first, second)]
        await storage.append(wf, 2, [JoinSetCreated(js), *requests], T0)
        for at, child in ((T0 + SEC, first), (T0 + 2 * SEC, second)):
            await storage.write([DeliverResponse(wf, js, ChildExecutionFinished(child, Ok(None)), at)], at)
        await storage.write(
            [AppendEvents(wf, 5, [JoinNext(js, T0)]), AppendEvents(wf, 6, [JoinNext(js, T0)])], T0 + 3 * SEC
        )
        assert await storage.get_pending_state(wf) == PendingAt(T0 + 2 * SEC)
        # A third JoinNext finds no third response: it blocks.
        await storage.append(wf, 7, [JoinNext(js, T0 + 9 * SEC)], T0 + 3 * SEC)
        assert await storage.get_pending_state(wf) == BlockedByJoinSet(js, T0 + 9 * SEC, False)


async def test_illegal_lock_transitions(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        eid = new_id()
        await storage.create(eid, created(scheduled_at=T0 + SEC), T0)
        with pytest.raises(IllegalStateTransition):  # not due yet
            await _lock(storage, eid, 1, now=T0)
        run = await _lock(storage, eid, 1, now=T0 + SEC)
        with pytest.raises(IllegalStateTransition):  # locked by another run
            await _lock(storage, eid, 2, now=T0 + SEC)
        # The same run may extend its lock.
        await storage.append(eid, 2, [Locked("c", EXECUTOR, run, T0 + 99 * SEC)], T0 + SEC)
        assert await storage.get_pending_state(eid) == LockedState(EXECUTOR, run, T0 + 99 * SEC)
        await storage.append(eid, 3, [TemporarilyFailed(T0 + 2 * SEC, "err")], T0 + SEC)
        assert await storage.get_pending_state(eid) == PendingAt(T0 + 2 * SEC)


async def test_persistence_and_migrations_across_reopen(storage_backend: Backend) -> None:
    eid = new_id()
    async with storage_backend.opened() as storage:
        await storage.create(eid, created(), T0)
        await _lock(storage, eid, 1)
    migrations = storage_backend.schema_version()
    for _ in range(2):
        async with storage_backend.opened() as storage:
            log = await storage.get(eid)
            assert log.next_version == 2
            assert isinstance(log.pending_state, LockedState)
    assert storage_backend.schema_version() == migrations >= 1
    storage_backend.set_schema_version(migrations + 1)
    with pytest.raises(SchemaTooNew, match="newer Obelisk") as refused:
        await storage_backend.open()
    assert (refused.value.found, refused.value.supported) == (migrations + 1, migrations)


async def test_created_and_locked_in_one_write_inserts_the_final_row(storage_backend: Backend) -> None:
    """A workflow's inline child is created and locked in one write: its state row is inserted once, already
    locked, with the creation's columns; creating it again is refused and changes nothing."""
    async with storage_backend.opened() as storage:
        parent, child = new_id(), new_id(1)
        await storage.create(parent, created(WORKFLOW), T0)
        run = RunId.generate()
        await storage.append(parent, 1, [Locked("workflow:w:0", EXECUTOR, run, T0 + 10 * SEC)], T0)
        child_run = RunId.generate()
        await storage.write(
            [
                CreateExecution(child, created(parent=ParentRef(parent, JoinSetId("JoinSet_a")))),
                AppendEvents(child, 1, [Locked("activity_wasm:fibo:0", EXECUTOR, child_run, T0 + 2 * SEC)]),
            ],
            T0 + 1,
        )
        status = await storage.get_status(child)
        assert status.pending_state == LockedState(EXECUTOR, child_run, T0 + 2 * SEC)
        assert status.next_version == 2
        (columns,) = storage_backend.query(
            "SELECT created_at, scheduled_at, max_retries, parent_execution_id, parent_join_set_id, component_id"
            " FROM execution_state WHERE execution_id = ?",
            (child,),
        )
        assert columns == (T0 + 1, T0, 5, parent, "JoinSet_a", "activity_wasm:fibo:0123456789abcdef")

        with pytest.raises(ExecutionAlreadyExists):
            await storage.write([CreateExecution(child, created())], T0 + 2)
        assert (await storage.get_status(child)).next_version == 2


async def test_list_children_reads_the_direct_children_only(storage_backend: Backend) -> None:
    """Children ``.2`` and ``.10`` (not in string order), not the grandchild ``.2.0``, not a sibling top-level id
    sharing the ULID's prefix, not the parent itself."""
    async with storage_backend.opened() as storage:
        parent, other = new_id(), new_id(1)
        await storage.create(parent, created(WORKFLOW), T0)
        await storage.create(other, created(), T0)
        await _lock(storage, parent, 1)
        js = JoinSetId.generate()
        kids = [parent.child(2), parent.child(10)]
        await storage.write(
            [
                AppendEvents(
                    parent, 2, [JoinSetCreated(js)] + [JoinSetRequest(js, ChildExecutionRequest(c)) for c in kids]
                ),
                *[CreateExecution(c, created(WORKFLOW, parent=ParentRef(parent, js))) for c in kids],
            ],
            T0 + SEC,
        )
        grandchild = kids[0].child(0)
        await storage.create(grandchild, created(parent=ParentRef(kids[0], JoinSetId.generate())), T0 + 2 * SEC)
        await _lock(storage, kids[1], 1, now=T0 + 2 * SEC)
        await storage.append(kids[1], 2, [Finished(Ok(ReturnValue(7)))], T0 + 3 * SEC)

        found = {s.execution_id: s for s in await storage.list_children(parent)}
        assert set(found) == set(kids)
        assert found[kids[0]].created_at == T0 + SEC and found[kids[0]].parent_execution_id == parent
        assert found[kids[1]].pending_state == FinishedState(T0 + 3 * SEC, ResultKind.OK)
        assert [s.execution_id for s in await storage.list_children(kids[0])] == [grandchild]
        assert await storage.list_children(other) == []
