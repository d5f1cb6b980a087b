"""The contract suite's fixture: every storage test that takes ``storage_backend`` runs on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.storage.backends import Backend, PostgresBackend, SqliteBackend


@pytest.fixture(params=["sqlite", "postgres"])
def storage_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return SqliteBackend(tmp_path / "db.sqlite")
    cluster = request.getfixturevalue("postgres_cluster")
    db_name = request.getfixturevalue("postgres_database")
    return PostgresBackend(cluster, db_name)
