"""Connection set-up and numbered migrations of the SQLite backend.

Migrations are the ``migrations/NNNN_*.sql`` files of this package, applied in order, each in its own transaction
together with ``PRAGMA user_version = NNNN``, so a crash mid-upgrade leaves the previous version intact. A database
whose ``user_version`` is higher than the newest migration was written by newer code and is refused rather than
being misread.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from obelisk.storage.interface import StorageError

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNew(StorageError):
    def __init__(self, path: Path, found: int, supported: int) -> None:
        super().__init__(
            f"database {path} has schema version {found}, this program knows versions up to {supported}: "
            "it was written by a newer Obelisk; upgrade Obelisk or point it at another database"
        )
        self.path = path
        self.found = found
        self.supported = supported


class MigrationFailed(StorageError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The packaged migrations in version order; their numbers must run 1, 2, 3, ... without gaps."""
    found: list[Migration] = []
    for entry in (resources.files("obelisk.storage.sqlite") / "migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match is not None:
            found.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationFailed(f"migration {migration.name}: expected number {expected:04d} (no gaps allowed)")
    return found


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
    migrations = load_migrations()
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current > len(migrations):
        raise SchemaTooNew(path, current, len(migrations))
    for migration in migrations[current:]:
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
