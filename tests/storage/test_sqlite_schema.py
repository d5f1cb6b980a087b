"""SQLite's own schema facts: WAL journal, ``user_version`` as the schema version, newer schemas refused."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from obelisk.concepts.events import JoinNext, PendingAt
from obelisk.concepts.ids import JoinSetId
from obelisk.storage.migrations import SchemaTooNew, load_migrations
from obelisk.storage.sqlite import SqliteStorage
from obelisk.storage.sqlite.schema import MIGRATIONS_PACKAGE
from obelisk.storage.sqlite.writes import INDEXED_MUTABLE_COLUMNS
from obelisk.storage.write_flow import MUTABLE_COLUMNS

from .helpers import SEC, T0, created, new_id, opened


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


async def test_the_columns_that_cost_index_writes_are_those_the_indexes_name(tmp_path: Path) -> None:
    """``update_states`` lets rows share an UPDATE only when that rewrites no more index entries: it must know
    every mutable column an index of ``execution_state`` covers or filters on."""
    path = tmp_path / "db.sqlite"
    async with opened(path):
        pass
    conn = sqlite3.connect(path)
    try:
        indexes = [
            sql
            for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index'"
                " AND tbl_name = 'execution_state' AND sql IS NOT NULL"
            )
        ]
    finally:
        conn.close()
    named = {c for c in MUTABLE_COLUMNS if any(re.search(rf"\b{c}\b", sql) for sql in indexes)}
    assert named == INDEXED_MUTABLE_COLUMNS


async def test_an_upgraded_database_still_finds_the_responses_that_arrived_before(tmp_path: Path) -> None:
    """Migration 6 starts every row's matched responses at 0: below the truth, so a JoinNext of an execution that
    has responses looks them up (none is taken as missing)."""
    path = tmp_path / "db.sqlite"
    earlier = [m for m in load_migrations(MIGRATIONS_PACKAGE) if m.version < 6]
    conn = sqlite3.connect(path)
    eid, js = new_id(), "JoinSet_01M8W59PMC51A7CB8RJ2A30RRK"
    try:
        for migration in earlier:
            conn.executescript(f"BEGIN;\n{migration.sql}\nPRAGMA user_version = {migration.version};\nCOMMIT;")
        conn.execute(
            "INSERT INTO execution_state (execution_id, next_version, response_count, ffqn, state,"
            " pending_expires_finished, created_at, scheduled_at, max_retries, retry_exp_backoff_us, component_id,"
            " executor_id, run_id) VALUES (?, 3, 1, 'a:b/c.d', 'Locked', ?, 0, 0, 0, 0, 'c', 'Exr_x', 'Run_x')",
            (eid, T0 + 60 * SEC),
        )
        conn.execute(
            "INSERT INTO join_set_response (execution_id, join_set_id, created_at, json, child_execution_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (eid, js, T0, '{"type":"ChildExecutionFinished","child_execution_id":"x","result":{"ok":null}}', "x"),
        )
        conn.commit()
    finally:
        conn.close()
    async with opened(path) as storage:
        await storage.append(eid, 3, [JoinNext(JoinSetId(js), T0 + SEC)], T0 + 2 * SEC)
        assert await storage.get_pending_state(eid) == PendingAt(T0 + SEC)
