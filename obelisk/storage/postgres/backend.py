"""The PostgreSQL storage backend: several servers share one database.

Connections, each used by one thread at a time (psycopg 3, synchronous; docs/decisions.md#storage):

* **one writer** on a dedicated thread runs every write. Writes go through a **group commit** as on SQLite: a
  ``write`` queues its job; one flusher takes everything queued while the previous transaction was in flight and
  applies it in one transaction, each job in its own SAVEPOINT, so one caller's ``VersionMismatch`` rolls back only
  its own ops. A job that PostgreSQL picked as a deadlock victim (two servers locking rows in opposite orders) is
  rolled back to its savepoint and run again in the next group. A write that finds nothing in flight commits at
  once. A lost connection fails the group with ``StorageUnavailable``; the next write (or the write probe)
  connects again.
* **``pool_size`` readers**, each read on one of them in a thread of the read pool; a read of several statements
  is one ``REPEATABLE READ, READ ONLY`` transaction.
* **one listener** for the notifications of the other servers (``notify.py``).

Notifications fire only after the commit succeeded: this process's own changes are pushed directly
(``notifications.Notifier``), and the same announcements go to the other servers with the commit (NOTIFY).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

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
from obelisk.storage.postgres import notify, reads, schema, writes
from obelisk.storage.postgres.errors import RETRYABLE_SQLSTATES, StorageClosed, as_storage_error
from obelisk.storage.postgres.target import PostgresTarget
from obelisk.storage.postgres.writes import Connection
from obelisk.storage.state_machine import Effects
from obelisk.storage.write_health import WriteHealth

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_GROUP_SIZE = 512
"""Jobs per group commit: bounds the latency a large group adds to the callers queued behind it."""
MAX_JOB_ATTEMPTS = 5
"""Times a job chosen as a deadlock or serialization victim is run again before its caller gets the fault."""
TIMED_WAKE_HORIZON_US = 60 * MICROS_PER_SECOND
"""Retries due within this horizon get a timed executor wake-up; later ones are found by the executors' poll."""
WRITE_PROBE_SECONDS = 2.0
"""While writes fail, how often the write probe checks whether they would work again."""
CLOSE_READ_WAIT_SECONDS = 10.0
"""How long ``close`` waits for reads still running to give their connections back."""
MIN_PROBE_GAP_SECONDS = 0.05
"""Probes woken by successful writes are at least this far apart."""
_PROBE_STATEMENTS = (
    "SET LOCAL statement_timeout = 5000",
    # A rolled-back row of a few pages (TOASTed, so a new page of the TOAST table) in a table of ours: shows that
    # a write transaction may start (not a standby, not read-only) and that the database may grow.
    "INSERT INTO schema_version (version, name)"
    " SELECT -1, string_agg(md5(random()::text), '') FROM generate_series(1, 512)",
)


@dataclass(slots=True)
class _Job:
    body: Callable[[Connection, Effects], Any]
    future: asyncio.Future[Any]
    operations: int
    attempts: int = 0


@dataclass(slots=True)
class _Outcome:
    ok: bool
    value: Any
    effects: Effects | None

    @property
    def retry(self) -> bool:
        return not self.ok and isinstance(self.value, psycopg.Error) and self.value.sqlstate in RETRYABLE_SQLSTATES


class _Reader:
    """A reader connection slot: its connection is made on first use and again after it was lost."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection | None) -> None:
        self.conn = conn


class PostgresStorage(Storage):
    def __init__(
        self,
        target: PostgresTarget,
        writer: Connection,
        readers: list[Connection],
        listener_conn: Connection,
        threads: tuple[ThreadPoolExecutor, ThreadPoolExecutor],
        clock: Clock,
    ) -> None:
        self._target = target
        self._writer: Connection | None = writer
        self._writer_suspect = False
        """Set after a write met ``StorageUnavailable``: the next write or probe connects anew, so that a session
        that went read-only (a failover to a standby) or half-dead is not kept."""
        self._write_thread, self._read_threads = threads
        self._readers: asyncio.Queue[_Reader] = asyncio.Queue()
        for conn in readers:
            self._readers.put_nowait(_Reader(conn))
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self._instance = secrets.token_hex(8)
        """Names this storage in the notifications it sends, so that it ignores their echo."""
        self._notifier = Notifier()
        self._queue: list[_Job] = []
        self._wakeup = asyncio.Event()
        self._closed = False
        self._flushing = False
        self._last_group_size = 0
        self._stats = StorageStats(
            extra={"groups": 0, "rolled_back_jobs": 0, "retried_jobs": 0, "duplicate_responses": 0}
        )
        self._seen_generation: dict[str, int] = {}
        self._flusher = self._loop.create_task(self._flush_forever(), name=f"postgres-flush {target.describe()}")
        self._write_health = WriteHealth(f"database {target.describe()}")
        self._prober: asyncio.Task[None] | None = None
        self._probe_wanted = asyncio.Event()
        self.write_probe_seconds = WRITE_PROBE_SECONDS
        self._resync: asyncio.Task[None] | None = None
        self._listener = notify.Listener(
            lambda: schema.connect(target),
            lambda payloads: self._loop.call_soon_threadsafe(self._on_notifications, payloads),
            lambda: self._loop.call_soon_threadsafe(self._on_listener_reconnected),
            name=f"postgres-listen {target.describe()}",
        )
        self._listener.start(listener_conn)

    @classmethod
    async def open(cls, target: PostgresTarget, *, clock: Clock | None = None) -> PostgresStorage:
        """Connect (creating the database when ``provision_policy`` is ``auto``), migrate, and probe writability.

        Raises ``DatabaseUnreachable``, ``AuthenticationFailed``, ``DatabaseMissing``, ``SchemaTooNew`` or the
        fault a write would meet (a read-only server); a full database opens, unwritable."""
        if target.pool_size < 1:
            raise StorageError(f"database {target.describe()}: pool_size must be at least 1, got {target.pool_size}")
        loop = asyncio.get_running_loop()
        write_thread = ThreadPoolExecutor(1, thread_name_prefix="postgres-write")
        read_threads = ThreadPoolExecutor(target.pool_size, thread_name_prefix="postgres-read")
        opened: list[Connection] = []

        def connect_writer() -> Connection:
            conn = schema.connect_provisioning(target)
            opened.append(conn)
            schema.migrate(conn, target)
            return conn

        def connect_one() -> Connection:
            conn = schema.connect(target)
            opened.append(conn)
            return conn

        try:
            writer = await loop.run_in_executor(write_thread, connect_writer)
            connections = await asyncio.gather(
                *(loop.run_in_executor(read_threads, connect_one) for _ in range(target.pool_size + 1))
            )
        except BaseException as exc:
            for conn in opened:
                conn.close()
            write_thread.shutdown(wait=False)
            read_threads.shutdown(wait=False)
            if isinstance(exc, psycopg.Error):
                raise as_storage_error(exc, target) from exc
            raise
        storage = cls(
            target, writer, list(connections[1:]), connections[0], (write_thread, read_threads), clock or SystemClock()
        )
        await storage._probe_at_open()
        return storage

    @property
    def target(self) -> PostgresTarget:
        return self._target

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

        def body(conn: Connection, effects: Effects) -> list[LockedExecution]:
            return writes.lock_pending(
                conn, ffqns, batch_size, now, executor_id, component_id, lock_expires_at, effects
            )

        locked: list[LockedExecution] = await self._submit(body, 0)
        self._stats.operations += len(locked)
        return locked

    async def _submit(self, body: Callable[[Connection, Effects], T], operations: int) -> T:
        if self._closed:
            raise StorageClosed(self._target)
        job = _Job(body, self._loop.create_future(), operations)
        if self._flushing or self._queue or self._last_group_size > 1:
            # Busy, or callers of a shared commit are about to come back: join the flusher's next group.
            self._queue.append(job)
            self._wakeup.set()
        else:
            # Nothing in flight: commit this job alone, right here (two loop hand-offs saved).
            self._flushing = True
            try:
                await self._flush([job])
            finally:
                self._flushing = False
                if self._queue:
                    self._wakeup.set()
        result: T = await job.future  # done, unless it was queued again after a deadlock
        return result

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
            outcomes, committed = await self._loop.run_in_executor(self._write_thread, self._run_group, jobs)
        except Exception as exc:  # the whole transaction failed (connection lost, COMMIT refused, ...)
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
            if not self._write_health.writable:
                self._probe_wanted.set()  # the probe decides, now rather than at its next interval
        effects = Effects()
        retry: list[_Job] = []
        for job, outcome in zip(jobs, outcomes, strict=True):
            if outcome.ok:
                assert outcome.effects is not None
                effects.merge(outcome.effects)
                stats.operations += job.operations
                if not job.future.done():
                    job.future.set_result(outcome.value)
            elif outcome.retry and job.attempts + 1 < MAX_JOB_ATTEMPTS and not job.future.done():
                job.attempts += 1
                stats.extra["retried_jobs"] += 1
                retry.append(job)
            else:
                stats.extra["rolled_back_jobs"] += 1
                if not job.future.done():
                    job.future.set_exception(self._storage_error(outcome.value))
        if retry:
            self._queue[:0] = retry
            self._wakeup.set()
        stats.extra["duplicate_responses"] += effects.duplicate_responses
        self._announce(effects)

    def _writer_connection(self) -> Connection:
        """The writer connection, made again if it was lost (on the write thread)."""
        conn = self._writer
        if conn is None or conn.closed or conn.broken or self._writer_suspect:
            self._writer_suspect = False
            if conn is not None:
                conn.close()
            self._writer = None
            conn = self._writer = schema.connect(self._target)
        return conn

    def _begin(self, connection: Callable[[], Connection], begin: str = "BEGIN") -> Connection:
        """``connection()`` with a transaction begun. A connection found dead at ``BEGIN`` (the server restarted,
        an administrator ended it) is made again once: nothing was sent on it yet, so nothing can be lost."""
        conn = connection()
        try:
            conn.execute(begin.encode())
        except psycopg.OperationalError:
            if not conn.broken:
                raise
            conn = connection()
            conn.execute(begin.encode())
        return conn

    def _run_group(self, jobs: list[_Job]) -> tuple[list[_Outcome], bool]:
        """Apply ``jobs`` in one transaction, each in a savepoint; the outcomes and whether it committed. The
        announcements of the jobs that succeeded are NOTIFYed in the same transaction. A lost connection (or a
        failed COMMIT) raises, failing every job."""
        conn = self._begin(self._writer_connection)
        outcomes: list[_Outcome] = []
        single = len(jobs) == 1
        try:
            for job in jobs:
                effects = Effects()
                if not single:
                    conn.execute("SAVEPOINT job")
                try:
                    value = job.body(conn, effects)
                except Exception as exc:
                    if conn.broken:
                        raise
                    conn.execute("ROLLBACK" if single else "ROLLBACK TO SAVEPOINT job")
                    if single:
                        return [_Outcome(False, exc, None)], False
                    conn.execute("RELEASE SAVEPOINT job")
                    outcomes.append(_Outcome(False, exc, None))
                else:
                    if not single:
                        conn.execute("RELEASE SAVEPOINT job")
                    outcomes.append(_Outcome(True, value, effects))
            succeeded = [o.effects for o in outcomes if o.effects is not None]
            if not succeeded:
                conn.execute("ROLLBACK")
                return outcomes, False
            merged = Effects()
            for effects in succeeded:
                merged.merge(effects)
            for payload in notify.encode(self._instance, merged):
                conn.execute("SELECT pg_notify(%s, %s)", (notify.CHANNEL, payload))
            conn.execute("COMMIT")
            return outcomes, True
        except BaseException:
            if not conn.broken and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            raise

    def _storage_error(self, exc: BaseException) -> BaseException:
        """The typed error for a failed write; a ``StorageFault`` also marks the database unwritable."""
        error = as_storage_error(exc, self._target)
        if isinstance(error, StorageUnavailable):
            self._writer_suspect = True
        conflict = isinstance(exc, psycopg.Error) and exc.sqlstate in RETRYABLE_SQLSTATES
        if isinstance(error, StorageFault) and not conflict:  # a lost deadlock says nothing of the database
            self._write_health.failed(error)
            if self._prober is None or self._prober.done():
                self._prober = self._loop.create_task(
                    self._probe_until_writable(), name=f"postgres-write-probe {self._target.describe()}"
                )
        return error

    # ------------------------------------------------------------------------------------------ write probe
    async def _probe_at_open(self) -> None:
        """A database that cannot be written at all (a read-only server) is refused now, with one clear error; a
        full one opens, unwritable, so that its executions can still be read."""
        fault = await self._probe()
        if isinstance(fault, StorageFull):
            self._storage_error(fault)
        elif fault is not None:
            await self.close()
            raise fault

    async def _probe(self) -> BaseException | None:
        """What a write would meet now (``None``: it would work), writing nothing; reconnects a lost writer."""

        def probe() -> None:
            conn = self._begin(self._writer_connection)
            try:
                for statement in _PROBE_STATEMENTS:
                    conn.execute(statement)
            finally:
                if not conn.broken:
                    conn.execute("ROLLBACK")

        try:
            await self._loop.run_in_executor(self._write_thread, probe)
        except StorageError as error:
            fault: BaseException = error
        except psycopg.Error as exc:
            fault = as_storage_error(exc, self._target)
        else:
            return None
        if isinstance(fault, StorageUnavailable):
            self._writer_suspect = True
        return fault

    async def _probe_until_writable(self) -> None:
        """While writes fail, check every ``write_probe_seconds`` (and after any commit) whether a write would work
        again; an idle server makes no writes of its own to find out."""
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

    # ------------------------------------------------------------------------------------------ notifications
    def _announce(self, effects: Effects) -> None:
        self._announce_pending(effects.pending_now, effects.pending_later)
        self._notifier.notify_changed(effects.changed, state_machine.status)

    def _announce_pending(self, pending_now: Sequence[str] | set[str], pending_later: dict[str, int]) -> None:
        notifier = self._notifier
        if pending_now:
            notifier.notify_pending(pending_now)
        if pending_later:
            now = self._clock.now_us()
            for ffqn, at in pending_later.items():
                if at - now <= TIMED_WAKE_HORIZON_US:
                    notifier.notify_pending_at(ffqn, (at - now) / MICROS_PER_SECOND)

    def _on_notifications(self, payloads: list[str]) -> None:
        """Another server committed: wake this server's executors and followers as its own commits would."""
        if self._closed:
            return
        for payload in payloads:
            try:
                announcement = notify.decode(payload)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring a malformed notification on channel %s: %s", notify.CHANNEL, exc)
                continue
            if announcement.source == self._instance:
                continue
            self._announce_pending(announcement.pending_now, announcement.pending_later)
            self._notifier.notify_changed(announcement.statuses, _same)

    def _on_listener_reconnected(self) -> None:
        """Notifications may have been missed while the listener was away: every waiter looks again."""
        if self._closed:
            return
        self._notifier.notify_pending(self._notifier.waiting_ffqns())
        if self._resync is None or self._resync.done():
            self._resync = self._loop.create_task(self._push_watched_statuses())

    async def _push_watched_statuses(self) -> None:
        for execution_id in self._notifier.watched_executions():
            with contextlib.suppress(StorageError):
                current = await self.get_status(ExecutionId(execution_id))
                self._notifier.notify_changed({execution_id: current}, _same)

    # ------------------------------------------------------------------------------------------ reads
    async def _read(self, fn: Callable[[Connection], T], *, single_statement: bool = False) -> T:
        """Run ``fn`` on a reader connection in a thread of the read pool; a read of several statements in one
        ``REPEATABLE READ, READ ONLY`` transaction, a ``single_statement`` one on its own."""
        if self._closed:
            raise StorageClosed(self._target)
        reader = await self._readers.get()
        try:
            return await self._loop.run_in_executor(self._read_threads, self._run_read, reader, fn, single_statement)
        except psycopg.Error as exc:
            raise as_storage_error(exc, self._target) from exc
        finally:
            self._readers.put_nowait(reader)

    def _run_read(self, reader: _Reader, fn: Callable[[Connection], T], single_statement: bool) -> T:
        def connection() -> Connection:
            conn = reader.conn
            if conn is None or conn.closed or conn.broken:
                if conn is not None:
                    conn.close()
                reader.conn = None
                conn = reader.conn = schema.connect(self._target)
            return conn

        if single_statement:
            # Reads change nothing: one found dead is run again, once, on a new connection.
            try:
                return fn(connection())
            except psycopg.OperationalError:
                if reader.conn is None or not reader.conn.broken:
                    raise
            return fn(connection())
        conn = self._begin(connection, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        try:
            result = fn(conn)
        except BaseException:
            if not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def held_locks(self, executor_id: ExecutorId, now: int) -> list[HeldLock]:
        return await self._read(lambda conn: reads.held_locks(conn, executor_id, now))

    async def get(self, execution_id: ExecutionId) -> ExecutionLog:
        return await self._read(lambda conn: reads.get_log(conn, execution_id))

    async def get_pending_state(self, execution_id: ExecutionId) -> PendingState:
        return await self._read(lambda conn: reads.get_pending_state(conn, execution_id), single_statement=True)

    async def get_status(self, execution_id: ExecutionId) -> ExecutionStatus:
        return await self._read(lambda conn: reads.get_status(conn, execution_id), single_statement=True)

    async def get_expired_timers(self, now: int) -> list[ExpiredLock | ExpiredDelay]:
        return await self._read(lambda conn: reads.get_expired_timers(conn, now))

    async def list_executions(self, query: ExecutionQuery) -> list[ExecutionSummary]:
        return await self._read(lambda conn: reads.list_executions(conn, query), single_statement=True)

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
        """Changes committed by any server on this database are pushed: this process's directly, the others'
        through NOTIFY."""
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
        for task in (self._flusher, self._prober, self._resync):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._notifier.close()
        await self._loop.run_in_executor(None, self._listener.stop)
        writer, self._writer = self._writer, None
        if writer is not None:
            await self._loop.run_in_executor(self._write_thread, writer.close)
        for _ in range(self._target.pool_size):  # each reader once it is back from a read still running
            try:
                reader = await asyncio.wait_for(self._readers.get(), CLOSE_READ_WAIT_SECONDS)
            except TimeoutError:
                log.warning("closing %s with a read still running", self._target.describe())
                break
            if reader.conn is not None:
                await self._loop.run_in_executor(self._read_threads, reader.conn.close)
        self._write_thread.shutdown(wait=False)
        self._read_threads.shutdown(wait=False)


def _same(status: ExecutionStatus) -> ExecutionStatus:
    return status
