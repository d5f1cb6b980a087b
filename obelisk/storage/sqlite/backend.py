"""The SQLite storage backend (one file, WAL, durable commits by default): its connection.

One aiosqlite connection owns the database; its single worker thread runs every statement, reads and the group
commit's transactions alike (``BEGIN IMMEDIATE``: the database's one write lock). Each public method is one
synchronous function of ``read_flow`` or ``write_flow`` executed there in a single hop, over this package's
``SqliteReads``/``SqliteWrites``. Everything above the connection is ``SqlStorage``'s.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from obelisk.concepts.clock import Clock, SystemClock
from obelisk.storage import log_flow
from obelisk.storage.group_commit import GroupResult, Job, run_jobs
from obelisk.storage.interface import StorageClosed, StorageError, StorageFault, StorageFull, StorageUnavailable
from obelisk.storage.read_flow import ReadStatements
from obelisk.storage.row_cache import StaleRow
from obelisk.storage.sql_storage import SqlStorage
from obelisk.storage.sqlite import schema
from obelisk.storage.sqlite.errors import as_storage_error, open_error
from obelisk.storage.sqlite.writes import SqliteWrites
from obelisk.storage.write_flow import WriteStatements

T = TypeVar("T")
A = TypeVar("A")

PROBE_MIN_FREE_BYTES = 1 << 20
"""Free space the write probe wants on the database's file system: a commit appends its pages to the WAL file."""


class SqliteStorage(SqlStorage):
    def __init__(self, path: Path, db: Any, clock: Clock) -> None:
        self._path = path
        self._db = db
        self._statements = SqliteWrites(db._conn)
        """Reads and writes alike, on the one connection (see ``_in_thread`` for ``_conn``)."""
        super().__init__(str(path), clock, _Writer(path, db, self._statements))

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
            raise open_error(exc, path) from exc
        try:
            await _in_thread(db, lambda conn: schema.configure(conn, mode), db._conn)
            await _in_thread(db, lambda conn: schema.migrate(conn, path), db._conn)
        except (OSError, sqlite3.Error) as exc:
            await db.close()
            raise open_error(exc, path) from exc
        except BaseException:
            await db.close()
            raise
        storage = cls(path, db, clock or SystemClock())
        await storage._probe_at_open()
        return storage

    @property
    def path(self) -> Path:
        return self._path

    async def _read(self, fn: Callable[[ReadStatements], T], *, single_statement: bool = False) -> T:
        if self._closed:
            raise StorageClosed(self._name)
        statements = self._statements
        try:
            if single_statement:
                return await _in_thread(self._db, fn, statements)
            return await _in_thread(self._db, lambda conn: _read_snapshot(conn, fn, statements), self._db._conn)
        except sqlite3.Error as exc:
            raise as_storage_error(exc, self._path) from exc

    async def _logs_transaction(self, fn: Callable[[log_flow.Execute], T], *, write: bool) -> T:
        if self._closed:
            raise StorageClosed(self._name)
        try:
            return await _in_thread(self._db, lambda conn: _logs_transaction(conn, fn, write), self._db._conn)
        except sqlite3.Error as exc:
            raise as_storage_error(exc, self._path) from exc

    async def _close_connections(self) -> None:
        await self._db.close()


class _Writer:
    """The group commit's ``WriteConnection``: the same connection, on the same thread."""

    def __init__(self, path: Path, db: Any, statements: SqliteWrites) -> None:
        self._path = path
        self._db = db
        self._statements = statements

    def run_group(self, jobs: list[Job[WriteStatements]]) -> Awaitable[GroupResult]:
        return _in_thread(self._db, lambda conn: _run_group(conn, self._statements, jobs), self._db._conn)

    async def probe(self) -> BaseException | None:
        try:
            await _in_thread(self._db, lambda conn: _probe_writable(conn, self._path), self._db._conn)
        except StorageFault as fault:
            return fault
        except (OSError, sqlite3.Error) as exc:
            return open_error(exc, self._path)
        return None

    def write_error(self, exc: BaseException) -> BaseException:
        return as_storage_error(exc, self._path)

    def is_conflict(self, exc: BaseException) -> bool:
        # A row this writer knew had been changed by another process sharing the file: run the job again.
        return isinstance(exc, StaleRow)


# ---------------------------------------------------------------------------------------------- DB-thread helpers
def _in_thread(db: Any, fn: Callable[[A], T], arg: A) -> Awaitable[T]:
    """Run ``fn(arg)`` on aiosqlite's worker thread in one hop (``arg`` is ``db._conn`` or statements over it).

    aiosqlite (checked: 0.22) has no public "run this callable" API; its private ``Connection._execute(fn, *args)``
    queues a callable on the worker thread, and ``_conn`` is the underlying ``sqlite3.Connection``. Both are used
    only in this module, so a change in aiosqlite breaks one module.
    """
    result: Awaitable[T] = db._execute(fn, arg)
    return result


def _read_snapshot(conn: sqlite3.Connection, fn: Callable[[ReadStatements], T], statements: ReadStatements) -> T:
    """Several SELECTs in one read transaction see one snapshot, even if another process writes meanwhile."""
    conn.execute("BEGIN")
    try:
        return fn(statements)
    finally:
        conn.execute("COMMIT")


def _logs_transaction(conn: sqlite3.Connection, fn: Callable[[log_flow.Execute], T], write: bool) -> T:
    """``fn`` in a transaction of its own, between the group commit's (the same thread runs both)."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        result = fn(conn.execute)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _run_group(conn: sqlite3.Connection, statements: SqliteWrites, jobs: list[Job[WriteStatements]]) -> GroupResult:
    """``run_jobs`` in one ``BEGIN IMMEDIATE`` transaction; it wrote if its commit changed any row."""
    before = conn.total_changes
    known_rows = statements.known_rows
    conn.execute("BEGIN IMMEDIATE")
    try:
        outcomes, effects = run_jobs(
            jobs, statements, conn.execute, lambda: not conn.in_transaction, known_rows.discard_staged, statements.hold
        )
        conn.execute("ROLLBACK" if effects is None else "COMMIT")
    except BaseException:
        known_rows.discard_staged()
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    known_rows.commit()
    return GroupResult(outcomes, effects, effects is not None and conn.total_changes != before)


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
