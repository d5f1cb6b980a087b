"""Numbered schema migrations: the files, their numbering, and the refusal of a newer schema, on every backend.

A backend's migrations are the ``migrations/NNNN_*.sql`` files of its package, numbered 1, 2, 3, ... without gaps.
Each is applied in a transaction of its own together with the record of its number, so a crash mid-upgrade leaves
the previous version intact; where the number is recorded (SQLite's ``user_version``, PostgreSQL's
``schema_version`` table) and how a script runs are the backend's (its ``schema.py``). A database whose recorded
version is beyond the newest migration was written by newer code and is refused rather than misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from obelisk.storage.interface import StorageError

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNew(StorageError):
    def __init__(self, database: str, found: int, supported: int) -> None:
        super().__init__(
            f"database {database} has schema version {found}, this program knows versions up to {supported}: "
            "it was written by a newer Obelisk; upgrade Obelisk or point it at another database"
        )
        self.database = database
        self.found = found
        self.supported = supported


class MigrationFailed(StorageError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(package: str) -> list[Migration]:
    """The migrations packaged in ``package``'s ``migrations/`` folder, in version order; their numbers must run
    1, 2, 3, ... without gaps (a gap is a file lost in packaging, and skipping it would misread every later one)."""
    found: list[Migration] = []
    for entry in (resources.files(package) / "migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match is not None:
            found.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationFailed(f"migration {migration.name}: expected number {expected:04d} (no gaps allowed)")
    return found


def refuse_newer(database: str, current: int, migrations: list[Migration]) -> None:
    """Raise ``SchemaTooNew`` if the database's schema ``current`` is beyond the newest of ``migrations``."""
    if current > len(migrations):
        raise SchemaTooNew(database, current, len(migrations))
