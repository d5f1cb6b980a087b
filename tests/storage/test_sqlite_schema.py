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
