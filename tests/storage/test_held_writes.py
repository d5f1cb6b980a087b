"""Writes held to the end of a group commit (``obelisk/storage/held_writes.py``), on both backends: a group of
serial steps leaves the rows the same steps leave written one by one; a held write refused at the group's end fails
only its own job and leaves nothing of it; a read in a job sees the held writes of the jobs before it.

The group's statements are counted on SQLite, in ``test_sqlite_held_writes.py``."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest

from obelisk.concepts.events import (
    ChildExecutionFinished,
    Finished,
    FinishedState,
    JoinNext,
    JoinSetCreated,
    Locked,
    Unlocked,
)
from obelisk.concepts.ids import ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import Ok, ResultKind, ReturnValue
from obelisk.storage.held_writes import HeldWriteRefused, StateUpdate, WriteHold
from obelisk.storage.interface import (
    AppendEvents,
    CreateExecution,
    DeliverResponse,
    ExecutionAlreadyExists,
    Storage,
    VersionMismatch,
    WriteOp,
)
from obelisk.storage.multi_row import NUMBERED, MultiRowInsert

from .backends import Backend
from .helpers import LEADER, SEC, T0, created, in_one_group, locked_parent, new_id, serial_steps, writes_of

STEPS = 12


# ---------------------------------------------------------------------------------------------- the hold alone
class _Writer:
    """A ``RowWriter`` that records what it is asked to write and refuses as told."""

    def __init__(self, *, inserted: int | None = None, updated: bool = True, responses: int | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._inserted, self._updated, self._responses = inserted, updated, responses

    def insert_states_now(self, rows: list[tuple[Any, ...]]) -> int:
        self.calls.append(("insert_states", rows))
        return len(rows) if self._inserted is None else self._inserted

    def update_states_now(self, updates: list[StateUpdate]) -> bool:
        self.calls.append(("update_states", updates))
        return self._updated

    def insert_events_now(self, rows: list[tuple[Any, ...]]) -> None:
        self.calls.append(("insert_events", rows))

    def insert_responses_now(self, rows: list[tuple[Any, ...]]) -> int:
        self.calls.append(("insert_responses", rows))
        return len(rows) if self._responses is None else self._responses


def _eid(n: int) -> ExecutionId:
    return new_id(n)


def test_a_row_created_and_updated_in_one_group_is_inserted_once_with_its_last_values() -> None:
    writer = _Writer()
    hold = WriteHold(writer, immutable_columns=2)
    hold.start()
    x = _eid(1)
    assert hold.insert_state((x, "ffqn", 1, 0, "Locked"))
    assert hold.update_states([(x, (2, 0, "Finished"), (1, 0, "Locked"))])
    hold.write()
    assert writer.calls == [("insert_states", [(x, "ffqn", 2, 0, "Finished")])]
    assert not hold.holds_writes


def test_a_row_updated_twice_is_updated_once_from_what_the_database_has() -> None:
    writer = _Writer()
    hold = WriteHold(writer, immutable_columns=2)
    hold.start()
    p = _eid(1)
    assert hold.update_states([(p, (5, 0, "Blocked"), (2, 0, "Locked"))])
    assert hold.update_states([(p, (8, 1, "Blocked"), (5, 0, "Blocked"))])
    hold.insert_events([("e1",)])
    hold.insert_events([("e2",), ("e3",)])
    hold.insert_response(("r1",))
    hold.write()
    assert writer.calls == [
        ("update_states", [(p, (8, 1, "Blocked"), (2, 0, "Locked"))]),
        ("insert_events", [("e1",), ("e2",), ("e3",)]),
        ("insert_responses", [("r1",)]),
    ]


def test_an_update_from_another_version_than_the_held_one_is_refused_at_once() -> None:
    hold = WriteHold(_Writer(), immutable_columns=2)
    hold.start()
    p, x = _eid(1), _eid(2)
    assert hold.update_states([(p, (5, 0, "Blocked"), (2, 0, "Locked"))])
    assert not hold.update_states([(p, (9, 0, "Blocked"), (6, 0, "Blocked"))])  # the database would match no row
    assert hold.insert_state((x, "ffqn", 1, 0, "Locked"))
    assert not hold.update_states([(x, (3, 0, "Finished"), (2, 0, "Locked"))])
    assert not hold.insert_state((x, "ffqn", 1, 0, "Locked"))  # a second creation is left to the database


@pytest.mark.parametrize(
    ("writer", "why"),
    [
        (_Writer(inserted=0), "exists already"),
        (_Writer(updated=False), "changed since"),
        (_Writer(responses=0), "delivered before"),
    ],
)
def test_a_held_write_the_database_refuses_raises_and_leaves_nothing_held(writer: _Writer, why: str) -> None:
    hold = WriteHold(writer, immutable_columns=2)
    hold.start()
    hold.insert_state((_eid(1), "ffqn", 1, 0, "Locked"))
    hold.update_states([(_eid(2), (5, 0, "Blocked"), (2, 0, "Locked"))])
    hold.insert_response(("r1",))
    with pytest.raises(HeldWriteRefused, match=why):
        hold.write()
    assert not hold.holds_writes


def test_once_a_write_failed_the_group_cannot_commit_even_if_the_error_was_caught() -> None:
    """A statement that first writes what is held raises that write's error; a job that catches errors of its own
    statement would take it for its own. The group's closing write refuses all the same."""

    class _Broken(_Writer):
        def insert_events_now(self, rows: list[tuple[Any, ...]]) -> None:
            raise sqlite3.IntegrityError("UNIQUE constraint failed: execution_log.execution_id, execution_log.version")

    hold = WriteHold(_Broken(), immutable_columns=2)
    hold.start()
    hold.insert_events([("e1",)])
    with pytest.raises(sqlite3.IntegrityError):
        hold.write()  # as a job's statement would: the job catches it and goes on
    assert not hold.holds_writes
    with pytest.raises(HeldWriteRefused, match="could not all be written"):
        hold.write()  # the group's end
    hold.stop()
    hold.start()
    hold.write()  # the next group starts clean


def test_a_multi_row_insert_goes_in_chunks_and_counts_what_the_database_inserted() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    conn.execute("INSERT INTO t VALUES ('b', 0)")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    insert = MultiRowInsert("INSERT OR IGNORE INTO t", ("k", "v"), "?", max_rows=2)
    assert insert.run(conn.execute, [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)]) == 4
    assert statements == [
        "INSERT OR IGNORE INTO t (k, v) VALUES ('a', 1), ('b', 2)",
        "INSERT OR IGNORE INTO t (k, v) VALUES ('c', 3), ('d', 4)",
        "INSERT OR IGNORE INTO t (k, v) VALUES ('e', 5)",
    ]
    rows = conn.execute("SELECT k, v FROM t ORDER BY k").fetchall()
    assert rows == [("a", 1), ("b", 0), ("c", 3), ("d", 4), ("e", 5)]
    assert insert.sql(1) is insert.sql(1)  # one text per row count, kept prepared by the driver


def test_postgresql_numbered_placeholders_run_on_across_rows_and_start_again_in_each_statement() -> None:
    insert = MultiRowInsert("INSERT INTO t", ("k", "v"), NUMBERED, tail=" ON CONFLICT DO NOTHING", max_rows=2)
    sent: list[tuple[str, list[Any]]] = []

    class _Result:
        rowcount = 1

    def execute(sql: str, params: list[Any]) -> _Result:
        sent.append((sql, params))
        return _Result()

    assert insert.run(execute, [("a", 1), ("b", 2), ("c", 3)]) == 2
    assert sent == [
        ("INSERT INTO t (k, v) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING", ["a", 1, "b", 2]),
        ("INSERT INTO t (k, v) VALUES ($1, $2) ON CONFLICT DO NOTHING", ["c", 3]),
    ]


# ---------------------------------------------------------------------------------------------- on a database
async def _family(storage: Storage, parent: ExecutionId, steps: int) -> str:
    """The parent's and its children's logs, responses and states, with the parent's id written as ``PARENT`` and
    without the responses' cursors (numbered across all executions)."""
    logs = [await storage.get(parent)] + [await storage.get(parent.child(k)) for k in range(steps)]
    return re.sub(r"cursor=\d+", "cursor=_", repr(logs).replace(str(parent), "PARENT"))


async def test_a_group_of_serial_steps_leaves_what_the_steps_one_by_one_leave(storage_backend: Backend) -> None:
    join_sets = [JoinSetId.generate() for _ in range(STEPS)]
    run = RunId.generate()
    grouped, apart = new_id(1), new_id(2)
    async with storage_backend.opened() as storage:
        for parent in (grouped, apart):
            await locked_parent(storage, parent, run)
        steps = serial_steps(grouped, join_sets, run)
        assert await in_one_group(storage, writes_of(storage, steps, T0 + SEC)) == [None] * STEPS
        for n, ops in enumerate(serial_steps(apart, join_sets, run)):
            await storage.write(ops, T0 + SEC + n)
        assert await _family(storage, grouped, STEPS) == await _family(storage, apart, STEPS)
        assert (await storage.get_status(grouped.child(0))).pending_state == FinishedState(T0 + SEC + 1, ResultKind.OK)


async def test_a_creation_refused_at_the_end_of_the_group_fails_only_its_own_write(storage_backend: Backend) -> None:
    taken, fresh = new_id(), [new_id(n) for n in range(1, 4)]
    async with storage_backend.opened() as storage:
        await storage.create(taken, created(), T0)
        writes: list[list[WriteOp]] = [
            [CreateExecution(fresh[0], created())],
            [CreateExecution(fresh[1], created()), CreateExecution(taken, created())],
            [CreateExecution(fresh[2], created())],
        ]
        results = await in_one_group(storage, writes_of(storage, writes, T0 + SEC))
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], ExecutionAlreadyExists)
        assert storage.stats.extra["rolled_back_jobs"] == 1
    rows = {r[0] for r in storage_backend.query("SELECT execution_id FROM execution_state")}
    assert rows == {taken, LEADER, fresh[0], fresh[2]}  # nothing of the refused write, not even its first creation


async def test_a_response_delivered_twice_in_one_group_is_stored_once(storage_backend: Backend) -> None:
    parent, run = new_id(), RunId.generate()
    js = JoinSetId.generate()
    child = parent.child(0)
    async with storage_backend.opened() as storage:
        await locked_parent(storage, parent, run)
        await storage.write(serial_steps(parent, [js], run)[0], T0 + SEC)
        result = Ok(ReturnValue(1))
        finish: list[WriteOp] = [AppendEvents(child, 2, [Finished(result)])]
        delivery: list[WriteOp] = [DeliverResponse(parent, js, ChildExecutionFinished(child, result))]
        results = await in_one_group(storage, writes_of(storage, [finish, delivery, delivery], T0 + 2 * SEC))
        assert results == [None, None, None]
        assert storage.stats.extra["duplicate_responses"] == 1
        assert len((await storage.get(parent)).responses) == 1


async def test_a_job_reads_what_the_jobs_before_it_in_the_group_hold(storage_backend: Backend) -> None:
    """A cancel reads its execution's row and log: created by the job before it, and not written yet when held."""
    eid = new_id()
    async with storage_backend.opened() as storage:
        create = storage.write([CreateExecution(eid, created())], T0 + SEC)
        cancel = storage.cancel(eid, "changed my mind", T0 + SEC + 1)
        assert await in_one_group(storage, [create, cancel]) == [None, [eid]]
        status = await storage.get_status(eid)
        assert status.pending_state == FinishedState(T0 + SEC + 1, ResultKind.CANCELLED)


async def test_a_row_another_server_moved_is_refused_at_the_end_of_the_group_and_only_its_write_fails(
    storage_backend: Backend,
) -> None:
    """The writer knows the row from its own last write; another server moved it meanwhile. The group's held update
    matches no row at the end: the group runs again job by job, the stale write is refused with what the row now
    is, and the other writes of the group commit."""
    eid, others = new_id(), [new_id(n) for n in range(1, 3)]
    async with storage_backend.opened() as a, storage_backend.opened() as b:
        executor, run = ExecutorId.generate(), RunId.generate()
        await a.create(eid, created(), T0)
        await a.append(eid, 1, [Locked("c", executor, run, T0 + 10 * SEC)], T0)  # A knows the row at version 2
        await b.append(eid, 2, [Unlocked(T0, "released by the other server")], T0)
        js = JoinSetId.generate()
        writes: list[list[WriteOp]] = [
            [CreateExecution(others[0], created())],
            [AppendEvents(eid, 2, [JoinSetCreated(js), JoinNext(js, T0 + SEC)])],
            [CreateExecution(others[1], created())],
        ]
        results = await in_one_group(a, writes_of(a, writes, T0 + SEC))
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], VersionMismatch)
        assert (results[1].expected, results[1].actual) == (2, 3)
        status = await b.get_status(eid)
        assert status.next_version == 3  # nothing of the refused write
        assert {r[0] for r in storage_backend.query("SELECT execution_id FROM execution_state")} >= set(others)
