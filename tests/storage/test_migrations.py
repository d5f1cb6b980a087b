"""The migration files every backend ships: numbered 1, 2, 3, ... and refused with a gap."""

from __future__ import annotations

from pathlib import Path

import pytest

from obelisk.storage.migrations import MigrationFailed, load_migrations
from obelisk.storage.postgres.schema import MIGRATIONS_PACKAGE as POSTGRES_MIGRATIONS
from obelisk.storage.sqlite.schema import MIGRATIONS_PACKAGE as SQLITE_MIGRATIONS


@pytest.mark.parametrize("package", [SQLITE_MIGRATIONS, POSTGRES_MIGRATIONS])
def test_each_backend_ships_numbered_migrations(package: str) -> None:
    migrations = load_migrations(package)
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "0001_initial.sql"
    assert "CREATE TABLE execution_state" in migrations[0].sql


def _package(root: Path, name: str, files: dict[str, str]) -> str:
    folder = root / name / "migrations"
    folder.mkdir(parents=True)
    (root / name / "__init__.py").write_text("", encoding="utf-8")
    for file, text in files.items():
        (folder / file).write_text(text, encoding="utf-8")
    return name


def test_files_load_in_number_order_and_others_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = _package(
        tmp_path,
        "ordered_migrations",
        {"0002_more.sql": "two", "0001_first.sql": "one", "README.md": "notes", "3_unnumbered.sql": "?"},
    )
    assert [(m.version, m.name, m.sql) for m in load_migrations(package)] == [
        (1, "0001_first.sql", "one"),
        (2, "0002_more.sql", "two"),
    ]


def test_a_gap_in_the_numbers_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = _package(tmp_path, "gapped_migrations", {"0001_first.sql": "one", "0003_third.sql": "three"})
    with pytest.raises(MigrationFailed, match=r"migration 0003_third\.sql: expected number 0002 \(no gaps allowed\)"):
        load_migrations(package)
