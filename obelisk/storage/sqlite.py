"""The SQLite storage backend (one file, WAL, durable commits by default).

One aiosqlite connection owns the database; its single worker thread runs every statement. Each public method is
one synchronous function from ``sqlite_ops`` (writes) or ``sqlite_reads``, executed there in a single hop.

Writes go through a **group commit**: a ``write`` queues its job; one flusher task takes everything queued while
the previous transaction was in flight and applies it in one transaction, each job in its own SAVEPOINT, so one
caller's ``VersionMismatch`` rolls back only its own ops and fails only its own call while the others share one
fsync. A write that finds nothing in flight commits at once in its own coroutine.

Notifications (``notifications.py``) fire only after the commit succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from obelisk.concepts.clock import MICROS_PER_SECOND, Clock, SystemClock
from obelisk.concepts.events import ExecutionEvent, JoinSetResponseEvent, PendingState
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, ExecutorId
from obelisk.storage import sqlite_ops, sqlite_reads, sqlite_schema
from obelisk.storage.interface import (
    ExecutionLog,
    ExecutionQuery,
    ExecutionStatus,
    ExecutionSummary,
    ExpiredDelay,
    ExpiredLock,
    HeldLock,
    LockedExecution,
    Storage,
    StorageError,
    StorageFault,
    StorageStats,
    WriteOp,
)
from obelisk.storage.notifications import Notifier, StatusWatch, wait_done
from obelisk.storage.sqlite_ops import Effects

T = TypeVar("T")

MAX_GROUP_SIZE = 512
"""Jobs per group commit: bounds the latency a large group adds to the callers queued behind it."""
TIMED_WAKE_HORIZON_US = 60 * MICROS_PER_SECOND
"""Retries due within this horizon get a timed executor wake-up; later ones are found by the executors' poll."""


class StorageClosed(StorageError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"storage {path} is closed")


@dataclass(slots=True)
class _Job:
    body: Callable[[sqlite3.Connection, Effects], Any]
    future: asyncio.Future[Any]
    operations: int


@dataclass(slots=True)
class _Outcome:
    ok: bool
    value: Any
    effects: Effects | None


class SqliteStorage(Storage):
    def __init__(self, path: Path, db: Any, clock: Clock) -> None:
        self._path = path
        self._db = db
        self._clock = clock
        self._notifier = Notifier()
        self._queue: list[_Job] = []
        self._wakeup = asyncio.Event()
        self._closed = False
        self._flushing = False
        self._last_group_size = 0
        self._stats = StorageStats(extra={"groups": 0, "rolled_back_jobs": 0, "duplicate_responses": 0})
        self._seen_generation: dict[str, int] = {}
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever(), name=f"sqlite-flush {path}")

    @classmethod
    async def open(cls, path: Path, *, synchronous: str = "FULL", clock: Clock | None = None) -> SqliteStorage:
        mode = synchronous.upper()
        if mode not in sqlite_schema.SYNCHRONOUS_MODES:
            raise StorageError(
                f"synchronous: expected one of {', '.join(sqlite_schema.SYNCHRONOUS_MODES)}, got {synchronous!r}"
            )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE) by the group commit.
        db = await aiosqlite.connect(path, isolation_level=None, cached_statements=256)
        try:
            await _in_thread(db, lambda conn: sqlite_schema.configure(conn, mode))
            await _in_thread(db, lambda conn: sqlite_schema.migrate(conn, path))
        except BaseException:
            await db.close()
            raise
        return cls(path, db, clock or SystemClock())

    @property
    def path(self) -> Path:
        return self._path

    @property
    def stats(self) -> StorageStats:
        return self._stats

    # ------------------------------------------------------------------------------------------ writes
    async def write(self, ops: Sequence[WriteOp], now: int) -> None:
        ops = list(ops)
        await self._submit(lambda conn, effects: sqlite_ops.apply_ops(conn, ops, now, effects), len(ops))

    async def lock_pending(
        self,
        *,
        ffqns: Sequence[Ffqn],
        batch_size: int,
        now: int,
        executor_id: ExecutorId,
        component_id: str,
        lock_expires_at: int,
    ) -> list[LockedExecution]:
        ffqns = list(ffqns)
        for ffqn in ffqns:
            key = str(ffqn)
            self._seen_generation[key] = self._notifier.generation(key)

        def body(conn: sqlite3.Connection, effects: Effects) -> list[LockedExecution]:
            return sqlite_ops.lock_pending(
                conn, ffqns, batch_size, now, executor_id, component_id, lock_expires_at, effects
            )

        locked: list[LockedExecution] = await self._submit(body, 0)
        self._stats.operations += len(locked)
        return locked

    async def held_locks(self, executor_id: ExecutorId, now: int) -> list[HeldLock]:
        return await self._read(lambda conn: sqlite_reads.held_locks(conn, executor_id, now))

    async def _submit(self, body: Callable[[sqlite3.Connection, Effects], T], operations: int) -> T:
        if self._closed:
            raise StorageClosed(self._path)
        job = _Job(body, asyncio.get_running_loop().create_future(), operations)
        if self._flushing or self._queue or self._last_group_size > 1:
            # Busy, or callers of a shared commit are about to come back: join the flusher's next group.
            self._queue.append(job)
            self._wakeup.set()
            result: T = await job.future
            return result
        # Nothing in flight: commit this job alone, right here, saving the two loop hand-offs through the flusher
        # task (~50 us). Whatever is queued meanwhile forms the flusher's next group. If this caller is cancelled
        # while the transaction runs, its outcome (and its notifications) are lost to it, as with any cancellation.
        self._flushing = True
        try:
            await self._flush([job])
        finally:
            self._flushing = False
            if self._queue:
                self._wakeup.set()
        return job.future.result()  # type: ignore[no-any-return]

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue and not self._flushing:
                self._flushing = True
                try:
                    jobs = self._queue[:MAX_GROUP_SIZE]
                    del self._queue[:MAX_GROUP_SIZE]
                    await self._flush(jobs)
                finally:
                    self._flushing = False

    async def _flush(self, jobs: list[_Job]) -> None:
        self._last_group_size = len(jobs)
        try:
            outcomes, committed = await _in_thread(self._db, lambda conn: _run_group(conn, jobs))
        except Exception as exc:  # the whole transaction failed (COMMIT, disk full, ...)
            failure = _as_storage_error(exc)
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(failure)
            return
        except BaseException:  # cancelled: the outcome is unknown to us
            for job in jobs:
                job.future.cancel()
            raise
        stats = self._stats
        stats.extra["groups"] += 1
        if committed:
            stats.commits += 1
        effects = Effects()
        for job, outcome in zip(jobs, outcomes, strict=True):
            if outcome.ok:
                assert outcome.effects is not None
                effects.merge(outcome.effects)
                stats.operations += job.operations
                if not job.future.done():
                    job.future.set_result(outcome.value)
            else:
                stats.extra["rolled_back_jobs"] += 1
                if not job.future.done():
                    job.future.set_exception(_as_storage_error(outcome.value))
        stats.extra["duplicate_responses"] += effects.duplicate_responses
        self._announce(effects)

    def _announce(self, effects: Effects) -> None:
        notifier = self._notifier
        if effects.pending_now:
            notifier.notify_pending(effects.pending_now)
        if effects.pending_later:
            now = self._clock.now_us()
            for ffqn, at in effects.pending_later.items():
                if at - now <= TIMED_WAKE_HORIZON_US:
                    notifier.notify_pending_at(ffqn, (at - now) / MICROS_PER_SECOND)
        notifier.notify_changed(effects.changed, sqlite_reads.status_of_row)

    # ------------------------------------------------------------------------------------------ reads
    async def _read(self, fn: Callable[[sqlite3.Connection], T], *, single_statement: bool = False) -> T:
        """Run ``fn`` on the database thread in one read transaction. A ``single_statement`` read runs without
        BEGIN/COMMIT: one SELECT is its own consistent snapshot, and followers make several such reads per
        execution (two statements saved each)."""
        if self._closed:
            raise StorageClosed(self._path)
        try:
            if single_statement:
                return await _in_thread(self._db, fn)
            return await _in_thread(self._db, lambda conn: _read_snapshot(conn, fn))
        except sqlite3.Error as exc:
            raise _as_storage_error(exc) from exc

    async def get(self, execution_id: ExecutionId) -> ExecutionLog:
        return await self._read(lambda conn: sqlite_reads.get_log(conn, execution_id))

    async def get_pending_state(self, execution_id: ExecutionId) -> PendingState:
        return await self._read(lambda conn: sqlite_reads.get_pending_state(conn, execution_id), single_statement=True)

    async def get_status(self, execution_id: ExecutionId) -> ExecutionStatus:
        return await self._read(lambda conn: sqlite_reads.get_status(conn, execution_id), single_statement=True)

    async def get_expired_timers(self, now: int) -> list[ExpiredLock | ExpiredDelay]:
        return await self._read(lambda conn: sqlite_reads.get_expired_timers(conn, now))

    async def list_executions(self, query: ExecutionQuery) -> list[ExecutionSummary]:
        return await self._read(lambda conn: sqlite_reads.list_executions(conn, query))

    async def list_events(self, execution_id: ExecutionId, version_from: int, length: int) -> list[ExecutionEvent]:
        return await self._read(lambda conn: sqlite_reads.list_events(conn, execution_id, version_from, length))

    async def list_responses(
        self, execution_id: ExecutionId, cursor_from: int, length: int, including_cursor: bool
    ) -> list[JoinSetResponseEvent]:
        return await self._read(
            lambda conn: sqlite_reads.list_responses(conn, execution_id, cursor_from, length, including_cursor)
        )

    # ------------------------------------------------------------------------------------------ waiting
    async def wait_for_pending(self, ffqns: Sequence[Ffqn], timeout: float) -> None:
        keys = [str(ffqn) for ffqn in ffqns]
        notifier = self._notifier
        future = notifier.register_pending(keys)
        try:
            missed = any(notifier.generation(k) != self._seen_generation.get(k, 0) for k in keys)
            if not missed:
                await wait_done(future, timeout)
        finally:
            notifier.unregister_pending(keys, future)
            for key in keys:
                self._seen_generation[key] = notifier.generation(key)

    @contextlib.contextmanager
    def watch_status(self, execution_id: ExecutionId) -> Iterator[StatusWatch[ExecutionStatus]]:
        watch: StatusWatch[ExecutionStatus] = self._notifier.watch(execution_id)
        try:
            yield watch
        finally:
            self._notifier.unwatch(watch)

    async def wait_for_change(self, execution_id: ExecutionId, known_version: int, timeout: float) -> None:
        with self.watch_status(execution_id) as watch:  # opened before the read: no change is missed
            current = await self._read(
                lambda conn: sqlite_reads.change_count(conn, execution_id), single_statement=True
            )
            if current == known_version:
                await watch.wait(timeout)

    # ------------------------------------------------------------------------------------------ lifecycle
    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        while (self._queue or self._flushing) and not self._flusher.done():
            # Queued writes finish first: their callers are awaiting them.
            self._wakeup.set()
            await asyncio.sleep(0.001)
        self._flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._flusher
        self._notifier.close()
        await self._db.close()


# ---------------------------------------------------------------------------------------------- DB-thread helpers
async def _in_thread(db: Any, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn(connection)`` on aiosqlite's worker thread in one hop.

    aiosqlite (checked: 0.22) has no public "run this callable" API; its private ``Connection._execute(fn, *args)``
    queues a callable on the worker thread, and ``_conn`` is the underlying ``sqlite3.Connection``. Both are used
    only here, so a change in aiosqlite breaks one function.
    """
    result: T = await db._execute(fn, db._conn)
    return result


def _read_snapshot(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Several SELECTs in one read transaction see one snapshot, even if another process writes meanwhile."""
    conn.execute("BEGIN")
    try:
        return fn(conn)
    finally:
        conn.execute("COMMIT")


def _run_group(conn: sqlite3.Connection, jobs: list[_Job]) -> tuple[list[_Outcome], bool]:
    """Apply ``jobs`` in one transaction, each in a savepoint; returns the outcomes and whether it committed.

    Some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, ...) make SQLite roll the whole transaction back by
    itself: then the jobs before lost their writes too, and the ones after would run outside any transaction,
    each statement committed on its own. So such an error ends the group at once and fails every job of it.
    """
    outcomes: list[_Outcome] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        if len(jobs) == 1:  # no savepoint needed: the transaction is the job
            effects = Effects()
            try:
                value = jobs[0].body(conn, effects)
            except Exception as exc:
                _raise_if_rolled_back(conn, exc)
                conn.execute("ROLLBACK")
                return [_Outcome(False, exc, None)], False
            conn.execute("COMMIT")
            return [_Outcome(True, value, effects)], True
        any_ok = False
        for job in jobs:
            effects = Effects()
            conn.execute("SAVEPOINT job")
            try:
                value = job.body(conn, effects)
            except Exception as exc:
                _raise_if_rolled_back(conn, exc)
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append(_Outcome(False, exc, None))
            else:
                conn.execute("RELEASE job")
                outcomes.append(_Outcome(True, value, effects))
                any_ok = True
        conn.execute("COMMIT" if any_ok else "ROLLBACK")
        return outcomes, any_ok
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _raise_if_rolled_back(conn: sqlite3.Connection, exc: Exception) -> None:
    """Re-raise ``exc`` for the whole group if SQLite already rolled the transaction back because of it."""
    if not conn.in_transaction:
        raise exc


_FAULT_CODES = frozenset(
    getattr(sqlite3, name)
    for name in ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN")
)


def _as_storage_error(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        primary_code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        kind = StorageFault if primary_code in _FAULT_CODES else StorageError
        error = kind(f"SQLite error: {exc}")
        error.__cause__ = exc
        return error
    return exc
