"""Locking due executions, releasing what an executor holds (at stop, and after a crash), group commit and
in-process notifications."""

from __future__ import annotations

import asyncio
import time

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
    ParentRef,
    PendingAt,
    Schedule,
    ScheduleNow,
    TemporarilyFailed,
    Unlocked,
)
from obelisk.concepts.ids import ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import Ok, ResultKind
from obelisk.storage.interface import AppendEvents, CreateExecution, DeliverResponse, Storage, VersionMismatch
from obelisk.workers.outcome_events import MAX_CRASHES_IN_A_ROW, ops_for_held_locks

from .backends import Backend
from .helpers import ACTIVITY, EXECUTOR, SEC, T0, WORKFLOW, created, new_id


async def _lock_batch(
    storage: Storage, batch_size: int, now: int = T0, executor: ExecutorId = EXECUTOR
) -> list[ExecutionId]:
    locked = await storage.lock_pending(
        ffqns=[ACTIVITY],
        batch_size=batch_size,
        now=now,
        executor_id=executor,
        component_id="activity_wasm:fibo:0123456789abcdef",
        lock_expires_at=now + 10 * SEC,
    )
    return [lock.execution_id for lock in locked]


async def test_lock_pending_respects_batch_ffqn_time_and_state(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        due = [new_id(i) for i in range(4)]
        for i, eid in enumerate(due):
            await storage.create(eid, created(scheduled_at=T0 - 10 + i), T0 - 100)
        later = new_id(10)
        await storage.create(later, created(scheduled_at=T0 + SEC), T0)
        other_ffqn = new_id(11)
        await storage.create(other_ffqn, created(WORKFLOW), T0)
        finished = new_id(12)
        await storage.create(finished, created(scheduled_at=T0 - 100), T0 - 100)
        run = RunId.generate()
        await storage.append(finished, 1, [Locked("c", EXECUTOR, run, T0), Finished(Ok(None))], T0 - 100)

        assert await _lock_batch(storage, 3) == due[:3]  # oldest scheduled first, batch size honoured
        assert await _lock_batch(storage, 3) == due[3:]  # locked ones are not locked again
        assert await _lock_batch(storage, 3) == []  # `later` is not due, the workflow is another ffqn
        assert await _lock_batch(storage, 3, now=T0 + SEC) == [later]


async def test_lock_pending_returns_history_and_responses(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        wf = new_id()
        await storage.create(wf, created(WORKFLOW), T0)
        (first,) = await storage.lock_pending(
            ffqns=[WORKFLOW], batch_size=5, now=T0, executor_id=EXECUTOR, component_id="wf", lock_expires_at=T0 + SEC
        )
        assert (first.version, first.history, first.responses, first.temporary_event_count) == (2, [], [], 0)
        js, child = JoinSetId.generate(), wf.child(0)
        history: list[Event] = [
            JoinSetCreated(js),
            JoinSetRequest(js, ChildExecutionRequest(child)),
            Schedule(new_id(5), ScheduleNow()),
            JoinNext(js, T0),
        ]
        await storage.write(
            [AppendEvents(wf, 2, history), CreateExecution(child, created(parent=ParentRef(wf, js)))], T0
        )
        await storage.write([DeliverResponse(wf, js, ChildExecutionFinished(child, Ok(None)))], T0 + 1)
        await storage.append(wf, 6, [TemporarilyFailed(T0 + 2, "trap")], T0 + 1)
        (second,) = await storage.lock_pending(
            ffqns=[WORKFLOW], batch_size=5, now=T0 + 2, executor_id=EXECUTOR, component_id="wf", lock_expires_at=T0
        )
        assert [e.event for e in second.history] == history
        assert [e.version for e in second.history] == [2, 3, 4, 5]
        assert [r.response for r in second.responses] == [ChildExecutionFinished(child, Ok(None))]
        assert second.temporary_event_count == 1
        assert second.version == 8
        assert second.run_id != first.run_id
        assert second.created == created(WORKFLOW)


async def test_concurrent_lock_pending_never_locks_twice(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        ids = [new_id(i) for i in range(40)]
        await storage.write([CreateExecution(eid, created()) for eid in ids], T0)
        executors = [ExecutorId.generate() for _ in range(8)]
        results = await asyncio.gather(*(_lock_batch(storage, 7, executor=e) for e in executors))
        flat = [eid for batch in results for eid in batch]
        assert sorted(flat) == sorted(ids)
        assert len(set(flat)) == len(flat)


async def _release(storage: Storage, executor: ExecutorId, now: int, *, after_crash: bool) -> list[ExecutionId]:
    held = await storage.held_locks(executor, now)
    await storage.write(ops_for_held_locks(held, now, after_crash=after_crash), now)
    return [lock.execution_id for lock in held]


async def test_held_locks_are_only_the_executors_own(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        mine, theirs = ExecutorId.generate(), ExecutorId.generate()
        ids = [new_id(i) for i in range(3)]
        await storage.write([CreateExecution(eid, created()) for eid in ids], T0)
        my_locks = await _lock_batch(storage, 2, executor=mine)
        their_locks = await _lock_batch(storage, 2, executor=theirs)
        released = await _release(storage, mine, T0 + 5, after_crash=True)
        assert sorted(released) == sorted(my_locks)
        for eid in my_locks:
            assert await storage.get_pending_state(eid) == PendingAt(T0 + 5)
            event = (await storage.get(eid)).events[-1].event
            assert isinstance(event, Unlocked) and event.after_crash and event.backoff_expires_at == T0 + 5
        for eid in their_locks:
            assert isinstance(await storage.get_pending_state(eid), LockedState)


async def test_group_commit_isolates_a_stale_writer(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        ids = [new_id(i) for i in range(50)]
        await storage.write([CreateExecution(eid, created()) for eid in ids], T0)
        commits_before = storage.stats.commits
        js = JoinSetId.generate()

        async def one(i: int, eid: ExecutionId) -> None:
            await storage.append(eid, 7 if i == 17 else 1, [JoinSetCreated(js)], T0)

        outcomes = await asyncio.gather(*(one(i, eid) for i, eid in enumerate(ids)), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(failures) == 1
        assert isinstance(failures[0], VersionMismatch)
        assert failures[0].execution_id == ids[17]
        assert storage.stats.commits - commits_before < 50
        for i, eid in enumerate(ids):
            assert (await storage.get(eid)).next_version == (1 if i == 17 else 2)


async def test_create_wakes_pending_waiter_at_once(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        assert await _lock_batch(storage, 1) == []  # what an executor does before it waits
        waiter = asyncio.create_task(storage.wait_for_pending([ACTIVITY], timeout=5.0))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        eid = new_id()
        await storage.create(eid, created(), T0)
        started = time.perf_counter()
        await asyncio.wait_for(waiter, 1.0)
        assert time.perf_counter() - started < 0.05
        # A create of another ffqn does not wake it; a commit that landed between lock and wait is not lost.
        assert await _lock_batch(storage, 1) == [eid]
        await storage.create(new_id(1), created(WORKFLOW), T0)
        started = time.perf_counter()
        await storage.wait_for_pending([ACTIVITY], timeout=0.05)
        assert time.perf_counter() - started >= 0.04
        await _lock_batch(storage, 1)
        await storage.create(new_id(2), created(), T0)  # lands before the executor waits
        started = time.perf_counter()
        await storage.wait_for_pending([ACTIVITY], timeout=2.0)
        assert time.perf_counter() - started < 0.05


async def test_wait_for_change_sees_appends_and_responses(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        wf = new_id()
        await storage.create(wf, created(WORKFLOW), T0)
        # Already changed since the caller looked (it saw 0): returns at once.
        await asyncio.wait_for(storage.wait_for_change(wf, 0, timeout=5.0), 0.5)
        waiter = asyncio.create_task(storage.wait_for_change(wf, 1, timeout=5.0))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        js = JoinSetId.generate()
        await storage.append(wf, 1, [JoinSetCreated(js)], T0)
        await asyncio.wait_for(waiter, 0.5)
        waiter = asyncio.create_task(storage.wait_for_change(wf, 2, timeout=5.0))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        await storage.write([DeliverResponse(wf, js, ChildExecutionFinished(wf.child(0), Ok(None)))], T0)
        await asyncio.wait_for(waiter, 0.5)
        started = time.perf_counter()
        await storage.wait_for_change(wf, 3, timeout=0.05)  # nothing new: times out
        assert time.perf_counter() - started >= 0.04


async def test_a_status_watch_receives_each_committed_status_without_reading(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        wf, other = new_id(), new_id(1)
        await storage.create(wf, created(WORKFLOW), T0)
        await storage.create(other, created(WORKFLOW), T0)
        with storage.watch_status(wf) as watch:
            assert not await watch.wait(0.02)  # nothing committed since it opened
            js = JoinSetId.generate()
            await storage.append(wf, 1, [JoinSetCreated(js)], T0)
            await storage.append(other, 1, [JoinSetCreated(js)], T0)  # another execution: not pushed here
            await storage.write([DeliverResponse(wf, js, ChildExecutionFinished(wf.child(0), Ok(None)))], T0)
            assert await watch.wait(0.5)
            pushed = watch.take()
            assert pushed == await storage.get_status(wf)  # the latest of the two changes, as a read would see it
            assert pushed is not None and pushed.change_count == 3
            assert watch.take() is None and not await watch.wait(0.02)
        await storage.append(wf, 2, [JoinSetCreated(JoinSetId.generate())], T0)
        assert watch.take() is None  # closed: no longer receives


async def test_closing_the_storage_wakes_its_watches(storage_backend: Backend) -> None:
    storage = await storage_backend.open()
    wf = new_id()
    await storage.create(wf, created(WORKFLOW), T0)
    with storage.watch_status(wf) as watch:
        waiting = asyncio.create_task(watch.wait(30.0))
        await asyncio.sleep(0.01)
        await storage.close()
        assert await asyncio.wait_for(waiting, 0.5)  # at once, not after its 30 s
        assert watch.take() is None and await watch.wait(30.0)


@pytest.mark.parametrize("writers", [20])
async def test_throughput_smoke(storage_backend: Backend, writers: int) -> None:
    """Many concurrent writers share commits (the numbers are measured in bench/, not asserted here)."""
    async with storage_backend.opened() as storage:
        ids = [new_id(i) for i in range(writers)]
        await storage.write([CreateExecution(eid, created()) for eid in ids], T0)
        commits_before = storage.stats.commits

        async def writer(eid: ExecutionId) -> None:
            version = 1
            for _ in range(10):
                version = await storage.append(eid, version, [JoinSetCreated(JoinSetId.generate())], T0)

        await asyncio.gather(*(writer(eid) for eid in ids))
        assert storage.stats.commits - commits_before < writers * 10
        for eid in ids:
            assert (await storage.get(eid)).next_version == 11


async def test_short_retry_backoff_wakes_executor_when_due(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        now = time.time_ns() // 1000
        eid = new_id()
        await storage.create(eid, created(scheduled_at=now), now)
        (locked,) = await storage.lock_pending(
            ffqns=[ACTIVITY], batch_size=1, now=now, executor_id=EXECUTOR, component_id="c", lock_expires_at=now + SEC
        )
        await storage.append(eid, locked.version, [TemporarilyFailed(now + 100_000, "retry me")], now)
        started = time.perf_counter()
        await storage.wait_for_pending([ACTIVITY], timeout=3.0)
        waited = time.perf_counter() - started
        assert 0.05 <= waited < 1.0, waited


async def _await_in_place(storage: Storage, executor: ExecutorId, *, until: int) -> tuple[ExecutionId, JoinSetId]:
    """A workflow whose await-strategy run waits in place for a response until ``until``."""
    wf = new_id()
    await storage.create(wf, created(WORKFLOW), T0)
    (locked,) = await storage.lock_pending(
        ffqns=[WORKFLOW], batch_size=1, now=T0, executor_id=executor, component_id="wf", lock_expires_at=until
    )
    js = JoinSetId.generate()
    await storage.append(wf, locked.version, [JoinSetCreated(js), JoinNext(js, until)], T0)
    return wf, js


async def test_a_restart_releases_a_run_waiting_in_place_for_its_response(storage_backend: Backend) -> None:
    """A run of the previous process that waited for a child (``BlockedByJoinSet`` until its lock's end) would
    otherwise hold the workflow until then, although that process is gone."""
    async with storage_backend.opened() as storage:
        mine = ExecutorId.generate()
        wf, js = await _await_in_place(storage, mine, until=T0 + 10 * SEC)
        assert isinstance(await storage.get_pending_state(wf), BlockedByJoinSet)
        (held,) = await storage.held_locks(mine, T0 + 1)
        assert held.execution_id == wf and not held.running and held.crashes_in_a_row == 0
        assert await _release(storage, mine, T0 + 1, after_crash=True) == [wf]
        # Still waiting for its response (a replay now would only block on it again), but nobody's any more:
        assert await storage.get_pending_state(wf) == BlockedByJoinSet(js, T0 + 1, False)
        assert await storage.held_locks(mine, T0 + 1) == []
        event = (await storage.get(wf)).events[-1].event
        assert isinstance(event, Unlocked) and not event.after_crash  # waiting did not crash the server
        # ... and due as soon as the response comes, not when the gone run's lock would have expired.
        await storage.write([DeliverResponse(wf, js, ChildExecutionFinished(wf.child(0), Ok(None)))], T0 + 2)
        assert await storage.get_pending_state(wf) == PendingAt(T0 + 1)


async def test_a_restart_releases_an_awaiting_run_after_its_response(storage_backend: Backend) -> None:
    """An await-strategy run owns ``PendingAt(deadline)`` after its response arrived; a restart releases it now."""
    async with storage_backend.opened() as storage:
        mine = ExecutorId.generate()
        wf, js = await _await_in_place(storage, mine, until=T0 + SEC)
        await storage.write([DeliverResponse(wf, js, ChildExecutionFinished(wf.child(0), Ok(None)))], T0 + 2)
        assert await storage.get_pending_state(wf) == PendingAt(T0 + SEC)
        assert await _release(storage, mine, T0 + 3, after_crash=True) == [wf]
        assert await storage.get_pending_state(wf) == PendingAt(T0 + 3)


async def test_an_interrupted_run_is_nobodys_after_it_blocked(storage_backend: Backend) -> None:
    """An interrupt-strategy run blocks with an expiry of now: the execution waits for its response in the
    database only, and a restart has nothing to release."""
    async with storage_backend.opened() as storage:
        mine = ExecutorId.generate()
        await _await_in_place(storage, mine, until=T0)
        assert await storage.held_locks(mine, T0 + 1) == []


async def test_crashes_in_a_row_end_an_execution_that_keeps_killing_the_server(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        mine = ExecutorId.generate()
        parent, js = await _await_in_place(storage, mine, until=T0)
        child = parent.child(0)
        await storage.create(child, created(parent=ParentRef(parent, js)), T0)
        now = T0
        for crashes in range(MAX_CRASHES_IN_A_ROW - 1):
            now += SEC
            (locked,) = await _lock_batch(storage, 1, executor=mine, now=now)
            assert locked == child
            (held,) = await storage.held_locks(mine, now)
            assert held.running and held.crashes_in_a_row == crashes
            await _release(storage, mine, now, after_crash=True)
            assert await storage.get_pending_state(child) == PendingAt(now)
        now += SEC
        await _lock_batch(storage, 1, executor=mine, now=now)
        await _release(storage, mine, now, after_crash=True)
        log = await storage.get(child)
        assert isinstance(log.pending_state, FinishedState)
        assert log.pending_state.result_kind is ResultKind.EXECUTION_FAILURE
        (response,) = (await storage.get(parent)).responses
        assert isinstance(response.response, ChildExecutionFinished)
        assert "died 5 times in a row" in str(response.response.result)


async def test_progress_or_a_clean_stop_between_crashes_restarts_the_count(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        mine = ExecutorId.generate()
        wf = new_id()
        await storage.create(wf, created(WORKFLOW), T0)
        now = T0
        for round_ in range(2 * MAX_CRASHES_IN_A_ROW):
            now += SEC
            (locked,) = await storage.lock_pending(
                ffqns=[WORKFLOW], batch_size=1, now=now, executor_id=mine, component_id="wf", lock_expires_at=now + SEC
            )
            if round_ % 3 == 2:
                await storage.append(wf, locked.version, [JoinSetCreated(JoinSetId.generate())], now)
            await _release(storage, mine, now, after_crash=round_ % 4 != 3)
        assert await storage.get_pending_state(wf) == PendingAt(now)


async def test_calls_from_another_thread(storage_backend: Backend) -> None:
    """Wasm worker threads reach the storage through run_coroutine_threadsafe on its loop."""
    async with storage_backend.opened() as storage:
        loop = asyncio.get_running_loop()
        eid = new_id()

        def in_thread() -> int:
            asyncio.run_coroutine_threadsafe(storage.create(eid, created(), T0), loop).result(5)
            return asyncio.run_coroutine_threadsafe(
                storage.append(eid, 1, [JoinSetCreated(JoinSetId.generate())], T0), loop
            ).result(5)

        assert await asyncio.to_thread(in_thread) == 2
        assert (await storage.get(eid)).next_version == 2
