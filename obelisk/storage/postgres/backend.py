"""The PostgreSQL storage backend: several servers share one database. Its connections and notifications.

Connections, each used by one thread at a time (psycopg 3, synchronous; docs/decisions.md#storage):

* **one writer** on a dedicated thread runs the group commit's transactions (``group_commit``: a job in a
  SAVEPOINT each, a job that PostgreSQL picked as a deadlock victim run again in the next group). A lost
  connection fails the group with ``StorageUnavailable``; the next write (or the write probe) connects again.
* **``pool_size`` readers**, each read on one of them in a thread of the read pool; a read of several statements
  is one ``REPEATABLE READ, READ ONLY`` transaction.
* **one listener** for the notifications of the other servers (``notify.py``).

Notifications fire only after the commit succeeded: this process's own changes are pushed directly (``SqlStorage``),
and the same announcements go to the other servers with the commit (NOTIFY). Everything above the connections
is ``SqlStorage``'s; the SQL is ``reads.py``'s and ``writes.py``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg

from obelisk.concepts.clock import Clock, SystemClock
from obelisk.concepts.ids import ExecutionId
from obelisk.storage import log_flow
from obelisk.storage.group_commit import GroupResult, Job, run_jobs
from obelisk.storage.interface import ExecutionStatus, StorageClosed, StorageError, StorageUnavailable
from obelisk.storage.postgres import notify, schema
from obelisk.storage.postgres.errors import RETRYABLE_SQLSTATES, as_storage_error
from obelisk.storage.postgres.reads import Connection, PostgresReads
from obelisk.storage.postgres.target import PostgresTarget
from obelisk.storage.postgres.writes import PostgresWrites
from obelisk.storage.read_flow import ReadStatements
from obelisk.storage.row_cache import RowCache, StaleRow
from obelisk.storage.sql_storage import SqlStorage
from obelisk.storage.write_flow import WriteStatements

log = logging.getLogger(__name__)

T = TypeVar("T")

CLOSE_READ_WAIT_SECONDS = 10.0
"""How long ``close`` waits for reads still running to give their connections back."""
_PROBE_STATEMENTS = (
    "SET LOCAL statement_timeout = 5000",
    # A rolled-back row of a few pages (TOASTed, so a new page of the TOAST table) in a table of ours: shows that
    # a write transaction may start (not a standby, not read-only) and that the database may grow.
    "INSERT INTO schema_version (version, name)"
    " SELECT -1, string_agg(md5(random()::text), '') FROM generate_series(1, 512)",
)


class _Reader:
    """A reader connection slot: its connection is made on first use and again after it was lost."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection | None) -> None:
        self.conn = conn


class PostgresStorage(SqlStorage):
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
        self._loop = asyncio.get_running_loop()
        self._instance = secrets.token_hex(8)
        """Names this storage in the notifications it sends, so that it ignores their echo."""
        write_thread, self._read_threads = threads
        self._writer = _Writer(target, writer, write_thread, self._instance)
        self._readers: asyncio.Queue[_Reader] = asyncio.Queue()
        for conn in readers:
            self._readers.put_nowait(_Reader(conn))
        super().__init__(target.describe(), clock, self._writer)
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

    # ------------------------------------------------------------------------------------------ notifications
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
    async def _read(self, fn: Callable[[ReadStatements], T], *, single_statement: bool = False) -> T:
        if self._closed:
            raise StorageClosed(self._name)
        reader = await self._readers.get()
        try:
            return await self._loop.run_in_executor(self._read_threads, self._run_read, reader, fn, single_statement)
        except psycopg.Error as exc:
            raise as_storage_error(exc, self._target) from exc
        finally:
            self._readers.put_nowait(reader)

    def _reader_connection(self, reader: _Reader) -> Connection:
        """The reader's connection, made again if it was lost (on a read thread)."""
        conn = reader.conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            reader.conn = None
            conn = reader.conn = schema.connect(self._target)
        return conn

    def _run_read(self, reader: _Reader, fn: Callable[[ReadStatements], T], single_statement: bool) -> T:
        def connection() -> Connection:
            return self._reader_connection(reader)

        if single_statement:
            # Reads change nothing: one found dead is run again, once, on a new connection.
            try:
                return fn(PostgresReads(connection()))
            except psycopg.OperationalError:
                if reader.conn is None or not reader.conn.broken:
                    raise
            return fn(PostgresReads(connection()))
        conn = _begin(connection, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        try:
            result = fn(PostgresReads(conn))
        except BaseException:
            if not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # ------------------------------------------------------------------------------------------ guest logs
    async def _logs_transaction(self, fn: Callable[[log_flow.Execute], T], *, write: bool) -> T:
        """On a reader connection (the writer is the group commit's), in a transaction of its own."""
        if self._closed:
            raise StorageClosed(self._name)
        reader = await self._readers.get()
        try:
            return await self._loop.run_in_executor(self._read_threads, self._run_logs, reader, fn, write)
        except psycopg.Error as exc:
            raise as_storage_error(exc, self._target) from exc
        finally:
            self._readers.put_nowait(reader)

    def _run_logs(self, reader: _Reader, fn: Callable[[log_flow.Execute], T], write: bool) -> T:
        def connection() -> Connection:
            return self._reader_connection(reader)

        conn = _begin(connection, "BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")

        def execute(sql: str, params: Sequence[Any]) -> log_flow.Cursor:
            return conn.execute(sql.replace("?", "%s").encode(), params)

        try:
            result = fn(execute)
        except BaseException:
            if not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # ------------------------------------------------------------------------------------------ lifecycle
    async def _close_connections(self) -> None:
        if self._resync is not None:
            self._resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync
        await self._loop.run_in_executor(None, self._listener.stop)
        await self._writer.close()
        for _ in range(self._target.pool_size):  # each reader once it is back from a read still running
            try:
                reader = await asyncio.wait_for(self._readers.get(), CLOSE_READ_WAIT_SECONDS)
            except TimeoutError:
                log.warning("closing %s with a read still running", self._target.describe())
                break
            if reader.conn is not None:
                await self._loop.run_in_executor(self._read_threads, reader.conn.close)
        self._read_threads.shutdown(wait=False)


class _Writer:
    """The group commit's ``WriteConnection``: the writer connection on its own thread, made again when lost."""

    def __init__(self, target: PostgresTarget, conn: Connection, thread: ThreadPoolExecutor, instance: str) -> None:
        self._target = target
        self._conn: Connection | None = conn
        self._thread = thread
        self._instance = instance
        self._known_rows = RowCache()
        """The rows this writer last wrote (``row_cache``); checked against the database when written."""
        self._suspect = False
        """Set after a write met ``StorageUnavailable``: the next write or probe connects anew, so that a session
        that went read-only (a failover to a standby) or half-dead is not kept."""

    def _connection(self) -> Connection:
        """The writer connection, made again if it was lost (on the write thread)."""
        conn = self._conn
        if conn is None or conn.closed or conn.broken or self._suspect:
            self._suspect = False
            if conn is not None:
                conn.close()
            self._conn = None
            conn = self._conn = schema.connect(self._target)
        return conn

    def run_group(self, jobs: list[Job[WriteStatements]]) -> Awaitable[GroupResult]:
        return asyncio.get_running_loop().run_in_executor(self._thread, self._run_group, jobs)

    def _run_group(self, jobs: list[Job[WriteStatements]]) -> GroupResult:
        """``run_jobs`` in one transaction; the announcements of the jobs that succeeded are NOTIFYed in it, so that
        the other servers hear of exactly what committed, when it did."""
        conn = _begin(self._connection)
        known_rows = self._known_rows
        try:
            statements = PostgresWrites(conn, known_rows)
            outcomes, effects = run_jobs(
                jobs, statements, conn.execute, lambda: conn.broken, known_rows.discard_staged, statements.hold
            )
            if effects is None:
                conn.execute("ROLLBACK")
            else:
                for payload in notify.encode(self._instance, effects):
                    conn.execute("SELECT pg_notify(%s, %s)", (notify.CHANNEL, payload))
                conn.execute("COMMIT")
        except BaseException:
            known_rows.discard_staged()
            if not conn.broken and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            raise
        known_rows.commit()
        return GroupResult(outcomes, effects, effects is not None)

    async def probe(self) -> BaseException | None:
        """What a write would meet now, writing nothing; reconnects a lost writer."""

        def probe() -> None:
            conn = _begin(self._connection)
            try:
                for statement in _PROBE_STATEMENTS:
                    conn.execute(statement)
            finally:
                if not conn.broken:
                    conn.execute("ROLLBACK")

        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, probe)
        except StorageError as error:
            fault: BaseException = error
        except psycopg.Error as exc:
            fault = as_storage_error(exc, self._target)
        else:
            return None
        if isinstance(fault, StorageUnavailable):
            self._suspect = True
        return fault

    def write_error(self, exc: BaseException) -> BaseException:
        """The typed error; after ``StorageUnavailable`` the next write connects anew."""
        error = as_storage_error(exc, self._target)
        if isinstance(error, StorageUnavailable):
            self._suspect = True
        return error

    def is_conflict(self, exc: BaseException) -> bool:
        # StaleRow: a row this writer knew had been changed by another server (or a cancel) meanwhile.
        return isinstance(exc, StaleRow) or (isinstance(exc, psycopg.Error) and exc.sqlstate in RETRYABLE_SQLSTATES)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
        self._thread.shutdown(wait=False)


def _begin(connection: Callable[[], Connection], begin: str = "BEGIN") -> Connection:
    """``connection()`` with a transaction begun. A connection found dead at ``BEGIN`` (the server restarted, an
    administrator ended it) is made again once: nothing was sent on it yet, so nothing can be lost."""
    conn = connection()
    try:
        conn.execute(begin.encode())
    except psycopg.OperationalError:
        if not conn.broken:
            raise
        conn = connection()
        conn.execute(begin.encode())
    return conn


def _same(status: ExecutionStatus) -> ExecutionStatus:
    return status
