"""Writes held to the end of a group commit, counted on SQLite: a group of serial steps writes each row once, in a
handful of statements, and leaves exactly the tables (row for row, in a second database) that the same steps leave
committed one by one. The behaviour on both backends is ``test_held_writes.py``'s."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from obelisk.concepts.ids import JoinSetId, RunId
from obelisk.storage.interface import CreateExecution

from .backends import TABLES
from .helpers import LEADER, SEC, T0, created, in_one_group, locked_parent, new_id, opened, serial_steps, writes_of

STEPS = 12


def _dump(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return [(t, *r) for t in TABLES for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2")]
    finally:
        conn.close()


async def test_a_group_of_serial_steps_writes_each_row_once_and_the_same_tables(tmp_path: Path) -> None:
    parent, run = new_id(), RunId.generate()
    steps = serial_steps(parent, [JoinSetId.generate() for _ in range(STEPS)], run)
    async with opened(tmp_path / "grouped.sqlite") as grouped, opened(tmp_path / "apart.sqlite") as apart:
        for storage in (grouped, apart):
            await locked_parent(storage, parent, run)
        statements: list[str] = []
        await grouped._db.set_trace_callback(statements.append)
        assert await in_one_group(grouped, writes_of(grouped, steps, T0 + SEC)) == [None] * STEPS
        await grouped._db.set_trace_callback(None)
        await apart.write([CreateExecution(LEADER, created())], T0)
        for n, ops in enumerate(steps):
            await apart.write(ops, T0 + SEC + n)
    assert _dump(tmp_path / "grouped.sqlite") == _dump(tmp_path / "apart.sqlite")
    # Each row once: the children inserted in one statement (all but the last already finished), the parent and the
    # first child (created before the group) updated, the log rows and the responses inserted, one statement each.
    group = statements[statements.index("SAVEPOINT jobs") :]  # the leader's own transaction came first
    writes = [s for s in group if s.split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert len(writes) <= 5, writes
    assert sum(s.startswith("INSERT INTO execution_state") for s in writes) == 1


async def test_a_read_in_a_group_sees_the_held_writes_without_running_the_group_again(tmp_path: Path) -> None:
    """A cancel reads the row and the log of the execution the job before it created: what is held is written before
    the read, so the cancel succeeds at once, not only when the group runs again job by job."""
    eid = new_id(1)
    async with opened(tmp_path / "db.sqlite") as storage:
        statements: list[str] = []
        await storage._db.set_trace_callback(statements.append)
        create = storage.write([CreateExecution(eid, created())], T0 + SEC)
        cancel = storage.cancel(eid, "changed my mind", T0 + SEC + 1)
        assert await in_one_group(storage, [create, cancel]) == [None, [eid]]
        await storage._db.set_trace_callback(None)
    group = statements[statements.index("SAVEPOINT jobs") :]
    assert "ROLLBACK TO SAVEPOINT jobs" not in group
    first_insert = min(i for i, s in enumerate(group) if s.startswith("INSERT INTO execution_state"))
    assert first_insert < min(i for i, s in enumerate(group) if s.startswith("SELECT"))  # written before the read
