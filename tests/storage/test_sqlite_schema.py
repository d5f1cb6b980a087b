"""SQLite's own schema facts: WAL journal, ``user_version`` as the schema version, newer schemas refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from obelisk.storage.migrations import SchemaTooNew, load_migrations
from obelisk.storage.sqlite import SqliteStorage
from obelisk.storage.sqlite.schema import MIGRATIONS_PACKAGE

from .helpers import T0, created, new_id, opened


async def test_wal_and_user_version(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "db.sqlite"
    async with opened(path, synchronous="NORMAL") as storage:
        await storage.create(new_id(), created(), T0)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(load_migrations(MIGRATIONS_PACKAGE))
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute(f"PRAGMA user_version = {len(load_migrations(MIGRATIONS_PACKAGE)) + 1}")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(SchemaTooNew, match="newer Obelisk"):
        await SqliteStorage.open(path)


async def test_pending_delays_counted_when_a_version_2_database_is_upgraded(tmp_path: Path) -> None:
    """Migration 3 counts the delay rows an execution already has, so that its Finished still deletes them."""
    path = tmp_path / "db.sqlite"
    earlier = [m for m in load_migrations(MIGRATIONS_PACKAGE) if m.version < 3]
    assert [m.version for m in earlier] == [1, 2]
    conn = sqlite3.connect(path)
    try:
        for migration in earlier:
            conn.executescript(f"BEGIN;\n{migration.sql}\nPRAGMA user_version = {migration.version};\nCOMMIT;")
        for eid in ("waits", "idle"):
            conn.execute(
                "INSERT INTO execution_state (execution_id, next_version, ffqn, state, pending_expires_finished,"
                " created_at, scheduled_at, max_retries, retry_exp_backoff_us, component_id)"
                " VALUES (?, 4, 'a:b/c.d', 'BlockedByJoinSet', 0, 0, 0, 0, 0, 'c')",
                (eid,),
            )
        conn.executemany(
            "INSERT INTO delay (execution_id, join_set_id, delay_id, expires_at) VALUES ('waits', 'js', ?, 1)",
            [("one",), ("two",)],
        )
        conn.commit()
    finally:
        conn.close()
    async with opened(path):
        pass
    conn = sqlite3.connect(path)
    try:
        counts = conn.execute("SELECT execution_id, pending_delays FROM execution_state ORDER BY 1").fetchall()
    finally:
        conn.close()
    assert counts == [("idle", 0), ("waits", 2)]
