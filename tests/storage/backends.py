"""The storage backends the contract suite runs on, behind one small interface.

Every test of ``tests/storage`` that is about the ``Storage`` contract takes the ``storage_backend`` fixture
(``conftest.py``), parametrized over SQLite and PostgreSQL: it opens storages on a fresh database of its own
(several instances on the same database, as two servers would), and reads the database's tables directly, apart
from the storage under test, to check what was (not) written.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from obelisk.storage.interface import Storage
from obelisk.storage.postgres.backend import PostgresStorage
from obelisk.storage.sqlite import SqliteStorage
from tests.postgres_cluster import PostgresCluster

TABLES = ("execution_log", "execution_state", "join_set_response", "delay")


class Backend:
    kind: str

    async def open(self) -> Storage:
        """A new storage instance on this test's database (each call another instance, as another server)."""
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[Storage]:
        storage = await self.open()
        try:
            yield storage
        finally:
            await storage.close()

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (``?`` placeholders) read on a connection of its own."""
        raise NotImplementedError

    def dump(self) -> list[tuple[Any, ...]]:
        """Every row of every table, in a fixed order."""
        rows: list[tuple[Any, ...]] = []
        for table in TABLES:
            rows.extend((table, *r) for r in self.query(f"SELECT * FROM {table} ORDER BY 1, 2"))
        return rows

    def schema_version(self) -> int:
        raise NotImplementedError

    def set_schema_version(self, version: int) -> None:
        """Mark the database as written by a program that knows ``version``."""
        raise NotImplementedError


class SqliteBackend(Backend):
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def open(self) -> Storage:
        return await SqliteStorage.open(self.path)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.path)
        try:
            return list(conn.execute(sql, params))
        finally:
            conn.close()

    def schema_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0][0])

    def set_schema_version(self, version: int) -> None:
        conn = sqlite3.connect(self.path)
        try:
            conn.execute(f"PRAGMA user_version = {version}")
            conn.commit()
        finally:
            conn.close()


class PostgresBackend(Backend):
    kind = "postgres"

    def __init__(self, cluster: PostgresCluster, db_name: str) -> None:
        self.cluster = cluster
        self.db_name = db_name
        self.target = cluster.target(db_name)

    async def open(self) -> Storage:
        return await PostgresStorage.open(self.target)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.cluster.superuser_conninfo(self.db_name), autocommit=True) as conn:
            cursor = conn.execute(sql.replace("?", "%s").encode(), params)
            return list(cursor.fetchall()) if cursor.description else []

    def schema_version(self) -> int:
        return int(self.query("SELECT max(version) FROM schema_version")[0][0])

    def set_schema_version(self, version: int) -> None:
        self.query("INSERT INTO schema_version (version, name) VALUES (?, 'from the future')", (version,))
