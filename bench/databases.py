"""The database a benchmark server runs on: a fresh SQLite file, or a fresh database in a throwaway PostgreSQL.

``bench/run.py --db postgres`` starts one PostgreSQL cluster for the whole suite (durable: ``fsync`` on, as SQLite
runs with ``synchronous = FULL``), and every server run gets a database of its own in it. Workloads read the
engine's tables through ``BenchDatabase.rows`` for their checks, with ``?`` placeholders on either backend.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

DatabaseKind = Literal["sqlite", "postgres"]

_names = itertools.count(1)


@dataclass(frozen=True)
class BenchDatabase:
    """One server run's database: the config tables that select it and read access for the checks."""

    kind: DatabaseKind
    config_toml: str
    sqlite_file: Path | None = None
    conninfo: str | None = None

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read-only query of the server's database while it runs (WAL on SQLite, MVCC on PostgreSQL)."""
        if self.sqlite_file is not None:
            connection = sqlite3.connect(f"file:{self.sqlite_file}?mode=ro", uri=True, timeout=10)
            try:
                return list(connection.execute(query, params))
            finally:
                connection.close()
        import psycopg

        assert self.conninfo is not None
        with psycopg.connect(self.conninfo, autocommit=True) as pg:
            return list(pg.execute(query.replace("?", "%s"), params).fetchall())


class Databases:
    """Where the suite's databases come from; ``kind`` is chosen once, by ``bench/run.py --db``."""

    def __init__(self) -> None:
        self.kind: DatabaseKind = "sqlite"
        self._cluster: Any = None

    def describe(self) -> str:
        if self.kind == "sqlite":
            return "SQLite, defaults (synchronous = FULL, WAL)"
        return "PostgreSQL (a throwaway local cluster, fsync on, over 127.0.0.1 TCP)"

    @contextlib.contextmanager
    def using(self, kind: DatabaseKind) -> Iterator[None]:
        """Select ``kind`` for the suite; PostgreSQL starts its cluster here and stops it on exit."""
        self.kind = kind
        if kind == "sqlite":
            yield
            return
        from tests.postgres_cluster import running_cluster

        with running_cluster(durable=True) as cluster:
            self._cluster = cluster
            try:
                yield
            finally:
                self._cluster = None

    @contextlib.contextmanager
    def using_cluster(self, cluster: Any) -> Iterator[None]:
        """PostgreSQL in a cluster that is already running (the test session's), left running on exit."""
        self.kind, self._cluster = "postgres", cluster
        try:
            yield
        finally:
            self.kind, self._cluster = "sqlite", None

    @contextlib.contextmanager
    def fresh(self, directory: Path) -> Iterator[BenchDatabase]:
        """A new, empty database for one server run (several servers may share it)."""
        if self.kind == "sqlite":
            file = directory / "db" / "obelisk.sqlite"
            yield BenchDatabase("sqlite", f'[sqlite]\nfile = "{file}"\n', sqlite_file=file)
            return
        cluster = self._cluster
        assert cluster is not None, "Databases.using('postgres') starts the cluster first"
        name = f"bench_{next(_names)}"
        target = cluster.target(name)
        cluster.sql(f'CREATE DATABASE "{name}" OWNER "{target.user}"')
        toml = (
            "[database.postgres]\n"
            f'host = "{target.host}"\nport = {target.port}\nuser = "{target.user}"\n'
            f'password = "{target.password}"\ndb_name = "{name}"\n'
        )
        try:
            yield BenchDatabase("postgres", toml, conninfo=cluster.superuser_conninfo(name))
        finally:
            cluster.drop_database(name)


DATABASES = Databases()
