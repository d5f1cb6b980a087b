"""The SQLite storage backend (one file, WAL, durable commits by default).

One aiosqlite connection owns the database; its single worker thread runs every statement. Each public method is
one synchronous function from ``writes`` or ``reads``, executed there in a single hop.

Writes go through a **group commit**: a ``write`` queues its job; one flusher task takes everything queued while
the previous transaction was in flight and applies it in one transaction, each job in its own SAVEPOINT, so one
caller's ``VersionMismatch`` rolls back only its own ops and fails only its own call while the others share one
fsync. A write that finds nothing in flight commits at once in its own coroutine.

Notifications (``notifications.py``) fire only after the commit succeeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
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
from obelisk.storage import state_machine
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
    StorageFull,
    StorageStats,
    StorageUnavailable,
    WriteOp,
)
from obelisk.storage.notifications import Notifier, StatusWatch, wait_done
from obelisk.storage.sqlite import reads, schema, writes
from obelisk.storage.state_machine import Effects
from obelisk.storage.write_health import WriteHealth

T = TypeVar("T")

MAX_GROUP_SIZE = 512
"""Jobs per group commit: bounds the latency a large group adds to the callers queued behind it."""
TIMED_WAKE_HORIZON_US = 60 * MICROS_PER_SECOND
"""Retries due within this horizon get a timed executor wake-up; later ones are found by the executors' poll."""
WRITE_PROBE_SECONDS = 2.0
"""While writes fail, how often the write probe checks whether they would work again (an idle server makes no
writes of its own to find out)."""
MIN_PROBE_GAP_SECONDS = 0.05
"""Probes woken by successful writes are at least this far apart."""
PROBE_MIN_FREE_BYTES = 1 << 20
"""Free space the write probe wants on the database's file system: a commit appends its pages to the WAL file."""


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
        self._write_health = WriteHealth(f"database {path}")
        self._prober: asyncio.Task[None] | None = None
        self._probe_wanted = asyncio.Event()
        self.write_probe_seconds = WRITE_PROBE_SECONDS

    @classmethod
    async def open(cls, path: Path, *, synchronous: str = "FULL", clock: Clock | None = None) -> SqliteStorage:
        mode = synchronous.upper()
        if mode not in schema.SYNCHRONOUS_MODES:
            raise StorageError(
                f"synchronous: expected one of {', '.join(schema.SYNCHRONOUS_MODES)}, got {synchronous!r}"
            )
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE) by the group commit.
            db = await aiosqlite.connect(path, isolation_level=None, cached_statements=256)
        except (OSError, sqlite3.Error) as exc:
            raise _open_error(exc, path) from exc
        try:
            await _in_thread(db, lambda conn: schema.configure(conn, mode))
            await _in_thread(db, lambda conn: schema.migrate(conn, path))
        except (OSError, sqlite3.Error) as exc:
            await db.close()
            raise _open_error(exc, path) from exc
        except BaseException:
            await db.close()
            raise
        storage = cls(path, db, clock or SystemClock())
        await storage._probe_at_open()
        return storage

    async def _probe_at_open(self) -> None:
        """A database that cannot be written at all (a read-only file) is refused now, with one clear error, rather
        than by the first write; a full one opens, unwritable, so that its executions can still be read."""
        fault = await self._probe()
        if isinstance(fault, StorageFull):
            self._storage_error(fault)
        elif fault is not None:
            await self.close()
            raise fault

    async def _probe(self) -> BaseException | None:
        """What ``_probe_writable`` found: ``None`` when a write would work now."""
        try:
            await _in_thread(self._db, lambda conn: _probe_writable(conn, self._path))
        except StorageFault as fault:
            return fault
        except (OSError, sqlite3.Error) as exc:
            return _open_error(exc, self._path)
        return None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def stats(self) -> StorageStats:
        return self._stats

    @property
    def write_health(self) -> WriteHealth:
        return self._write_health

    # ------------------------------------------------------------------------------------------ writes
    async def write(self, ops: Sequence[WriteOp], now: int) -> None:
        ops = list(ops)
        await self._submit(lambda conn, effects: writes.apply_ops(conn, ops, now, effects), len(ops))

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
            return writes.lock_pending(
                conn, ffqns, batch_size, now, executor_id, component_id, lock_expires_at, effects
            )

        locked: list[LockedExecution] = await self._submit(body, 0)
        self._stats.operations += len(locked)
        return locked

    async def held_locks(self, executor_id: ExecutorId, now: int) -> list[HeldLock]:
        return await self._read(lambda conn: reads.held_locks(conn, executor_id, now))

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
            outcomes, committed, wrote = await _in_thread(self._db, lambda conn: _run_group_counted(conn, jobs))
        except Exception as exc:  # the whole transaction failed (COMMIT, disk full, ...)
            failure = self._storage_error(exc)
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
        if wrote and not self._write_health.writable:
            # Not proof by itself: on a full database a change that fits in its pages commits while anything that
            # needs a new page fails. The probe decides, now rather than at its next interval.
            self._probe_wanted.set()
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
                    job.future.set_exception(self._storage_error(outcome.value))
        stats.extra["duplicate_responses"] += effects.duplicate_responses
        self._announce(effects)

    def _storage_error(self, exc: BaseException) -> BaseException:
        """The typed error for a failed write; a ``StorageFault`` also marks the database unwritable."""
        error = _as_storage_error(exc, self._path)
        if isinstance(error, StorageFault):
            self._write_health.failed(error)
            if self._prober is None or self._prober.done():
                self._prober = asyncio.get_running_loop().create_task(
                    self._probe_until_writable(), name=f"sqlite-write-probe {self._path}"
                )
        return error

    async def _probe_until_writable(self) -> None:
        """While writes fail, check every ``write_probe_seconds`` (and after any write that committed a change)
        whether a write would work, writing nothing; the state changes only here and on a failed write.

        An idle server makes no writes of its own, and its health would otherwise stay ``NOT_SERVING`` after the
        space is freed. One small rolled-back transaction per interval, only while the fault lasts.
        """
        while not self._closed and not self._write_health.writable:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._probe_wanted.wait(), self.write_probe_seconds)
            self._probe_wanted.clear()
            if self._closed or self._write_health.writable:
                return
            fault = await self._probe()
            if fault is None:
                self._write_health.succeeded()
            elif isinstance(fault, StorageFault):
                self._write_health.failed(fault)
            await asyncio.sleep(MIN_PROBE_GAP_SECONDS)

    def _announce(self, effects: Effects) -> None:
        notifier = self._notifier
        if effects.pending_now:
            notifier.notify_pending(effects.pending_now)
        if effects.pending_later:
            now = self._clock.now_us()
            for ffqn, at in effects.pending_later.items():
                if at - now <= TIMED_WAKE_HORIZON_US:
                    notifier.notify_pending_at(ffqn, (at - now) / MICROS_PER_SECOND)
        notifier.notify_changed(effects.changed, state_machine.status)

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
            raise _as_storage_error(exc, self._path) from exc

    async def get(self, execution_id: ExecutionId) -> ExecutionLog:
        return await self._read(lambda conn: reads.get_log(conn, execution_id))

    async def get_pending_state(self, execution_id: ExecutionId) -> PendingState:
        return await self._read(lambda conn: reads.get_pending_state(conn, execution_id), single_statement=True)

    async def get_status(self, execution_id: ExecutionId) -> ExecutionStatus:
        return await self._read(lambda conn: reads.get_status(conn, execution_id), single_statement=True)

    async def get_expired_timers(self, now: int) -> list[ExpiredLock | ExpiredDelay]:
        return await self._read(lambda conn: reads.get_expired_timers(conn, now))

    async def list_executions(self, query: ExecutionQuery) -> list[ExecutionSummary]:
        return await self._read(lambda conn: reads.list_executions(conn, query))

    async def list_events(self, execution_id: ExecutionId, version_from: int, length: int) -> list[ExecutionEvent]:
        return await self._read(lambda conn: reads.list_events(conn, execution_id, version_from, length))

    async def list_responses(
        self, execution_id: ExecutionId, cursor_from: int, length: int, including_cursor: bool
    ) -> list[JoinSetResponseEvent]:
        return await self._read(
            lambda conn: reads.list_responses(conn, execution_id, cursor_from, length, including_cursor)
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
            current = await self._read(lambda conn: reads.change_count(conn, execution_id), single_statement=True)
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
        for task in (self._flusher, self._prober):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
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


def _run_group_counted(conn: sqlite3.Connection, jobs: list[_Job]) -> tuple[list[_Outcome], bool, bool]:
    """``_run_group`` plus whether its commit changed any row: only such a commit shows that writes work."""
    before = conn.total_changes
    outcomes, committed = _run_group(conn, jobs)
    return outcomes, committed, committed and conn.total_changes != before


_FULL = frozenset({sqlite3.SQLITE_FULL})
_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_PROTOCOL,
    }
)


def _as_storage_error(exc: BaseException, path: Path) -> BaseException:
    """The typed storage error for a ``sqlite3.Error`` (by its primary result code); other exceptions as they are."""
    if not isinstance(exc, sqlite3.Error):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    name = getattr(exc, "sqlite_errorname", None) or "no SQLite error code"
    primary = code & 0xFF if isinstance(code, int) else None
    error: StorageError
    if primary in _FULL:
        error = StorageFull(f"database {path} is full: {exc} ({name}); free disk space")
    elif primary in _UNAVAILABLE:
        error = StorageUnavailable(f"database {path} is unavailable: {exc} ({name}){_file_system_hint(path)}")
    else:
        error = StorageError(f"database {path}: SQLite error: {exc} ({name})")
    error.__cause__ = exc
    return error


def _open_error(exc: OSError | sqlite3.Error, path: Path) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        return _as_storage_error(exc, path)
    return StorageUnavailable(f"database {path} cannot be opened: {exc.strerror or exc}{_file_system_hint(path)}")


def _file_system_hint(path: Path) -> str:
    """Why SQLite may not open or write ``path`` when its own message ("unable to open database file") does not say:
    WAL mode needs to create and write ``-wal`` and ``-shm`` files next to the database."""
    try:
        flags = os.statvfs(path.parent).f_flag
    except OSError:
        return ""
    if flags & os.ST_RDONLY:
        return f"; the file system of {path.parent} is read-only"
    if not os.access(path.parent, os.W_OK):
        return f"; the directory {path.parent} is not writable (WAL mode creates files next to the database)"
    return ""


def _probe_writable(conn: sqlite3.Connection, path: Path) -> None:
    """Raise the fault a write would meet now, writing nothing to the database.

    A transaction that allocates a page (a new table and a page-sized row) shows that the write lock can be taken
    and the database may grow (``max_page_count``, read-only files); it is rolled back, so nothing reaches the disk.
    Space for the commit itself is checked on the file system.
    """
    stats = os.statvfs(path.parent)
    if stats.f_flag & os.ST_RDONLY:
        raise StorageUnavailable(f"database {path} is unavailable: the file system of {path.parent} is read-only")
    if stats.f_bavail * stats.f_frsize < PROBE_MIN_FREE_BYTES:
        raise StorageFull(f"database {path} is full: less than {PROBE_MIN_FREE_BYTES} bytes free on its file system")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE obelisk_write_probe (x BLOB)")
        conn.execute("INSERT INTO obelisk_write_probe VALUES (zeroblob(?))", (page_size,))
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
