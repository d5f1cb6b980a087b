"""``run_jobs`` on a real SQLite transaction: one savepoint per group while every job succeeds, and a job that
fails still rolls back only its own writes (the group runs again with a savepoint per job)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from obelisk.storage.group_commit import Job, run_jobs
from obelisk.storage.state_machine import Effects


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    yield conn
    conn.close()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


Body = Callable[[sqlite3.Connection, Effects], Any]


def _job(loop: asyncio.AbstractEventLoop, body: Body) -> Job[sqlite3.Connection]:
    return Job(body, loop.create_future(), 1)


def _insert(*keys: str) -> Callable[[sqlite3.Connection, Effects], Any]:
    def body(conn: sqlite3.Connection, effects: Effects) -> Any:
        del effects
        for key in keys:
            conn.execute("INSERT INTO t (k) VALUES (?)", (key,))
        return keys

    return body


def _run(conn: sqlite3.Connection, jobs: list[Job[sqlite3.Connection]]) -> tuple[list[Any], list[str]]:
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    conn.execute("BEGIN IMMEDIATE")
    outcomes, _effects = run_jobs(jobs, conn, conn.execute, lambda: not conn.in_transaction, lambda: None)
    conn.execute("COMMIT")
    conn.set_trace_callback(None)
    return [(o.ok, o.value if o.ok else type(o.value)) for o in outcomes], statements


def _keys(conn: sqlite3.Connection) -> list[str]:
    return [k for (k,) in conn.execute("SELECT k FROM t ORDER BY k")]


def test_a_group_that_succeeds_costs_one_savepoint_that_its_commit_ends(
    conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop
) -> None:
    jobs = [_job(loop, _insert(str(i))) for i in range(5)]
    outcomes, statements = _run(conn, jobs)
    assert outcomes == [(True, (str(i),)) for i in range(5)]
    assert [s for s in statements if "SAVEPOINT" in s] == ["SAVEPOINT jobs"]
    assert not conn.in_transaction
    assert _keys(conn) == [str(i) for i in range(5)]


def test_a_failed_job_rolls_back_only_its_own_writes(conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop) -> None:
    conn.execute("INSERT INTO t (k) VALUES ('taken')")
    # The middle job writes one row, then fails on a duplicate key: its first row must not survive, the other jobs'
    # rows (before and after it) must.
    jobs = [_job(loop, _insert("a")), _job(loop, _insert("b", "taken")), _job(loop, _insert("c"))]
    outcomes, statements = _run(conn, jobs)
    assert outcomes == [(True, ("a",)), (False, sqlite3.IntegrityError), (True, ("c",))]
    assert "ROLLBACK TO SAVEPOINT jobs" in statements
    assert statements.count("ROLLBACK TO SAVEPOINT job") == 1
    assert _keys(conn) == ["a", "c", "taken"]
