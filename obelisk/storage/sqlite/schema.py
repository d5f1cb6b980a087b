"""Connection set-up and the migrations of the SQLite backend.

The migrations are this package's ``migrations/NNNN_*.sql`` files (loaded and checked by
``obelisk.storage.migrations``), each applied in its own transaction together with ``PRAGMA user_version = NNNN``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from obelisk.storage.interface import StorageError
from obelisk.storage.migrations import MigrationFailed, load_migrations, refuse_newer

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
MIGRATIONS_PACKAGE = "obelisk.storage.sqlite"


def configure(conn: sqlite3.Connection, synchronous: str) -> None:
    """Pragmas of the original (docs/compatibility.md#storage), but ``synchronous`` defaults to FULL: a commit
    survives power loss."""
    if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
        conn.execute("PRAGMA page_size = 8192")  # only effective before the first table exists
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StorageError(f"could not switch the database to WAL journal mode (got {mode!r})")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA cache_size = 10000")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA mmap_size = 134217728")
    conn.execute("PRAGMA journal_size_limit = 67108864")


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the schema up to date; returns the resulting version."""
    known = load_migrations(MIGRATIONS_PACKAGE)
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    refuse_newer(str(path), current, known)
    for migration in known[current:]:
        # executescript commits any open transaction first, so BEGIN/COMMIT are part of the script itself.
        script = f"BEGIN IMMEDIATE;\n{migration.sql}\nPRAGMA user_version = {migration.version};\nCOMMIT;\n"
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise MigrationFailed(f"migration {migration.name} failed on {path}: {exc}") from exc
        current = migration.version
    return current
