"""Two storage instances on one database, as two servers: the contract that makes sharing a database safe.

Each test opens two instances on the same database and races them: due work is locked by exactly one, a stale
append is refused with nothing written, a child exists together with its parent's request or not at all, a
restarted server finds (and releases) every lock its previous process held, and a cancel through one while the
other runs the same tree waits for it rather than deadlocking with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest

from obelisk.concepts.clock import ManualClock
from obelisk.concepts.events import (
    BlockedByJoinSet,
    ChildExecutionRequest,
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
from obelisk.concepts.ffqn import WEBHOOK_FFQN
from obelisk.concepts.ids import ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.executor.held_locks import finish_unowned_webhook_records, release_held_locks
from obelisk.storage.interface import (
    AlreadyFinished,
    AppendEvents,
    CreateExecution,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    HeldLock,
    Storage,
    StorageError,
    VersionMismatch,
)
from obelisk.workers.outcome_events import ops_for_held_locks

from .backends import Backend, PostgresBackend
from .helpers import ACTIVITY, SEC, T0, WORKFLOW, created, locked_parent, new_id, serial_steps


@contextlib.asynccontextmanager
async def two_servers(backend: Backend) -> AsyncIterator[tuple[Storage, Storage]]:
    async with backend.opened() as first, backend.opened() as second:
        yield first, second


async def _lock(storage: Storage, executor: ExecutorId, batch_size: int, now: int = T0) -> list[ExecutionId]:
    locked = await storage.lock_pending(
        ffqns=[ACTIVITY],
        batch_size=batch_size,
        now=now,
        executor_id=executor,
        component_id="activity_wasm:fibo:0123456789abcdef",
        lock_expires_at=now + 10 * SEC,
    )
    return [lock.execution_id for lock in locked]


async def test_racing_servers_lock_each_due_execution_exactly_once(storage_backend: Backend) -> None:
    async with two_servers(storage_backend) as (a, b):
        ids = [new_id(i) for i in range(60)]
        await a.write([CreateExecution(eid, created()) for eid in ids], T0)
        executors = {a: ExecutorId.generate(), b: ExecutorId.generate()}

        async def keep_locking(storage: Storage) -> list[ExecutionId]:
            mine: list[ExecutionId] = []
            while batch := await _lock(storage, executors[storage], 4):
                mine += batch
            return mine

        # Several lockers per server, all at once: both servers' transactions interleave on the database.
        results = await asyncio.gather(*(keep_locking(s) for s in (a, b, a, b, a, b)))
        flat = [eid for batch in results for eid in batch]
        assert sorted(flat) == sorted(ids), "every due execution locked, none twice"
        by_a = {eid for batch in results[0::2] for eid in batch}
        for eid in ids:
            state = await b.get_pending_state(eid)
            assert isinstance(state, LockedState)
            assert state.executor_id == (executors[a] if eid in by_a else executors[b])
            assert (await a.get(eid)).next_version == 2  # one Locked event each


async def test_racing_stale_appends_one_wins_the_loser_writes_nothing(storage_backend: Backend) -> None:
    async with two_servers(storage_backend) as (a, b):
        ids = [new_id(i) for i in range(20)]
        await a.write([CreateExecution(eid, created()) for eid in ids], T0)
        run = RunId.generate()
        executor = ExecutorId.generate()
        for eid in ids:
            await a.append(eid, 1, [Locked("c", executor, run, T0 + 10 * SEC)], T0)

        async def finish_attempt(storage: Storage, eid: ExecutionId, reason: str) -> str:
            try:
                await storage.append(eid, 2, [TemporarilyFailed(T0 + SEC, reason)], T0)
            except VersionMismatch as exc:
                assert (exc.expected, exc.actual) == (2, 3)
                return "lost"
            return reason

        outcomes = await asyncio.gather(
            *(finish_attempt(s, eid, s_name) for eid in ids for s, s_name in ((a, "a"), (b, "b")))
        )
        for i, eid in enumerate(ids):
            pair = outcomes[2 * i : 2 * i + 2]
            assert pair.count("lost") == 1, pair
            winner = next(o for o in pair if o != "lost")
            log = await b.get(eid)
            assert log.next_version == 3
            event = log.events[2].event
            assert isinstance(event, TemporarilyFailed) and event.reason == winner
            assert log.pending_state == PendingAt(T0 + SEC)


async def test_child_created_with_its_parents_request_or_neither(storage_backend: Backend) -> None:
    async with two_servers(storage_backend) as (a, b):
        parent = new_id()
        await a.create(parent, created(WORKFLOW), T0)
        js = JoinSetId.generate()
        child = parent.child(0)
        # Server B creates the child's id first (a stray write); A's parent step that would create it fails whole.
        await b.create(child, created(), T0)
        before = storage_backend.dump()
        with pytest.raises(ExecutionAlreadyExists):
            await a.write(
                [
                    AppendEvents(parent, 1, [JoinSetCreated(js), JoinSetRequest(js, ChildExecutionRequest(child))]),
                    CreateExecution(child, created(parent=ParentRef(parent, js))),
                ],
                T0,
            )
        assert storage_backend.dump() == before
        assert (await b.get(parent)).next_version == 1

        # Racing the same parent step on both servers: exactly one commits it, with its child.
        other_child = parent.child(1)

        async def step(storage: Storage) -> bool:
            try:
                await storage.write(
                    [
                        AppendEvents(
                            parent, 1, [JoinSetCreated(js), JoinSetRequest(js, ChildExecutionRequest(other_child))]
                        ),
                        CreateExecution(other_child, created(parent=ParentRef(parent, js))),
                    ],
                    T0,
                )
            except (VersionMismatch, ExecutionAlreadyExists):
                return False
            return True

        assert sorted(await asyncio.gather(step(a), step(b))) == [False, True]
        assert (await a.get(parent)).next_version == 3
        assert (await b.get(other_child)).created.parent == ParentRef(parent, js)
        assert len(storage_backend.query("SELECT * FROM execution_log WHERE execution_id = ?", (other_child,))) == 1


async def test_restart_releases_every_lock(storage_backend: Backend) -> None:
    """A server's previous process held locks (a running activity, a workflow waiting in place for its child);
    reopened under the same executor id it finds them all and releases them at once."""
    executor = ExecutorId.generate()
    stranger = ExecutorId.generate()
    async with storage_backend.opened() as before_crash:
        activities = [new_id(i) for i in range(3)]
        await before_crash.write([CreateExecution(eid, created()) for eid in activities], T0)
        mine = await _lock(before_crash, executor, 2)
        theirs = await _lock(before_crash, stranger, 1)
        wf = new_id(10)
        await before_crash.create(wf, created(WORKFLOW), T0)
        (locked,) = await before_crash.lock_pending(
            ffqns=[WORKFLOW],
            batch_size=1,
            now=T0,
            executor_id=executor,
            component_id="wf",
            lock_expires_at=T0 + 60 * SEC,
        )
        js = JoinSetId.generate()
        await before_crash.append(wf, locked.version, [JoinSetCreated(js), JoinNext(js, T0 + 60 * SEC)], T0)
        # No release: the process "dies" here (closing the storage writes nothing).

    async with storage_backend.opened() as restarted:
        now = T0 + SEC
        held = await restarted.held_locks(executor, now)
        assert sorted(h.execution_id for h in held) == sorted([*mine, wf])
        assert {h.execution_id: h.running for h in held} == {**dict.fromkeys(mine, True), wf: False}
        await restarted.write(ops_for_held_locks(held, now, after_crash=True), now)
        assert await restarted.held_locks(executor, now) == []
        for eid in mine:
            assert await restarted.get_pending_state(eid) == PendingAt(now)
            event = (await restarted.get(eid)).events[-1].event
            assert isinstance(event, Unlocked) and event.after_crash
        assert await restarted.get_pending_state(wf) == BlockedByJoinSet(js, now, False)
        (other,) = theirs
        assert isinstance(await restarted.get_pending_state(other), LockedState)  # another server's: untouched
        # Released work is due again: the restarted server (or any other) locks it at once.
        assert sorted(await _lock(restarted, executor, 10, now=now)) == sorted(mine)


class _OtherServerActsAfterTheRead:
    """``storage`` as the restarting server sees it, except that right after its read of what it holds, another
    server does ``meanwhile``: the window between that read and the write that gives the locks back, forced."""

    def __init__(self, storage: Storage, meanwhile: Callable[[], Awaitable[object]]) -> None:
        self._storage = storage
        self._meanwhile = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    async def held_locks(self, executor_id: ExecutorId, now: int) -> list[HeldLock]:
        held = await self._storage.held_locks(executor_id, now)
        await self._meanwhile()
        return held


async def test_a_restart_gives_back_its_locks_though_another_server_cancels_one_of_them_meanwhile(
    storage_backend: Backend,
) -> None:
    """A server restarting after a crash reads what its previous process held, then gives it back. Another server may
    cancel one of those executions in between. Given back in one write, that one refusal failed the whole start
    ("execution ... is already finished": seen in the PostgreSQL chaos test) and left the other locks held until
    they expired; each is now given back on its own, and the cancelled one is left as the cancel wrote it."""
    executor = ExecutorId.generate()
    async with storage_backend.opened() as before_crash:
        ids = [new_id(i) for i in range(4)]
        await before_crash.write([CreateExecution(eid, created()) for eid in ids], T0)
        held = await _lock(before_crash, executor, 4)
        assert sorted(held) == sorted(ids)
        # No release: the process "dies" here.

    victim = ids[1]
    now = T0 + SEC
    async with two_servers(storage_backend) as (restarted, other):
        seen = _OtherServerActsAfterTheRead(restarted, lambda: other.cancel(victim, "cancelled by an operator", now))
        await release_held_locks(cast(Storage, seen), executor, ManualClock(now), after_crash=True)

        assert await restarted.held_locks(executor, now) == []
        assert isinstance(await restarted.get_pending_state(victim), FinishedState)
        for eid in ids:
            if eid == victim:
                continue
            assert await restarted.get_pending_state(eid) == PendingAt(now)
            event = (await restarted.get(eid)).events[-1].event
            assert isinstance(event, Unlocked) and event.after_crash


async def test_servers_starting_together_finish_each_unowned_webhook_record_once(storage_backend: Backend) -> None:
    """Every server finishes, at its start, the webhook request records no server owns. Two starting together read
    the same records; whichever writes second is refused for those, and must start all the same."""
    async with two_servers(storage_backend) as (a, b):
        records = [new_id(i) for i in range(30)]
        await a.write([CreateExecution(eid, created(WEBHOOK_FFQN)) for eid in records], T0)
        clock = ManualClock(T0 + SEC)
        await asyncio.gather(finish_unowned_webhook_records(a, clock), finish_unowned_webhook_records(b, clock))
        for eid in records:
            events = [e.event for e in (await a.get(eid)).events]
            assert [type(e).__name__ for e in events] == ["Created", "Finished"], events


async def test_a_cancel_through_one_server_waits_for_the_other_running_the_tree_never_deadlocks(
    storage_backend: Backend,
) -> None:
    """B runs serial workflows step after step (each step finishes a child, tells the parent, creates the next
    child) while A cancels them, or their running child, one after another. Before every lock took one order (an
    execution before its descendants) and a response was inserted only under its execution's row lock, A's cancel
    and B's steps deadlocked about once a second on PostgreSQL, each costing both servers a second's wait and the
    victim a retry; a cancel could lose five times and fail."""
    rng = random.Random(1)
    async with two_servers(storage_backend) as (a, b):
        refused_steps = 0

        async def run(parent: ExecutionId) -> None:
            nonlocal refused_steps
            run_id = RunId.generate()
            for step, ops in enumerate(serial_steps(parent, [JoinSetId.generate() for _ in range(40)], run_id)):
                try:
                    await b.write(ops, T0 + step)
                except (StorageError, AlreadyFinished, VersionMismatch):
                    refused_steps += 1  # cancelled under it: the run ends, as a workflow run would
                    return

        cancelled: list[ExecutionId] = []
        for _ in range(12):
            parents = [new_id(n) for n in range(6)]
            for parent in parents:
                await locked_parent(b, parent, RunId.generate())
            runs = [asyncio.create_task(run(parent)) for parent in parents]
            for parent in parents:
                await asyncio.sleep(rng.uniform(0.001, 0.004))
                target = parent if rng.random() < 0.5 else parent.child(rng.randrange(4))
                try:
                    await a.cancel(target, "operator", T0 + 1)
                    cancelled.append(target)
                except (AlreadyFinished, ExecutionNotFound):
                    pass  # the child had finished, or had not been created yet
            await asyncio.gather(*runs)
        assert len(cancelled) >= 30, cancelled
        assert refused_steps > 0  # some cancel came while its tree was running
        for target in cancelled:
            assert isinstance(await a.get_pending_state(target), FinishedState), target
            unfinished = storage_backend.query(
                "SELECT execution_id FROM execution_state WHERE execution_id > ? AND execution_id < ?"
                " AND state <> 'Finished'",
                (f"{target}.", f"{target}/"),
            )
            assert unfinished == [], f"{target} was cancelled, these children of it were not: {unfinished}"
    if isinstance(storage_backend, PostgresBackend):
        assert storage_backend.cluster.deadlocks_in(storage_backend.db_name) == 0
