"""Writes held to the end of a group commit (``obelisk/storage/held_writes.py``): a group of serial steps writes
each row once and the same rows as the same steps written one by one; a held write refused at the group's end
fails only its own job; a read in a job sees the held writes of the jobs before it.

SQLite's writer holds writes; the statements are counted on its connection, hence SQLite-only."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from obelisk.concepts.events import (
    ChildExecutionFinished,
    ChildExecutionRequest,
    Finished,
    FinishedState,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    Locked,
    ParentRef,
)
from obelisk.concepts.ids import ExecutionId, JoinSetId, RunId
from obelisk.concepts.results import Ok, ResultKind, ReturnValue
from obelisk.storage.held_writes import HeldWriteRefused, StateUpdate, WriteHold
from obelisk.storage.interface import (
    AppendEvents,
    CreateExecution,
    DeliverResponse,
    ExecutionAlreadyExists,
    WriteOp,
)
from obelisk.storage.sqlite import SqliteStorage

from .backends import TABLES
from .helpers import EXECUTOR, SEC, T0, WORKFLOW, created, new_id, opened

STEPS = 12
LOCK = T0 + 60 * SEC
PARENT_RUN = RunId.generate()


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


# ---------------------------------------------------------------------------------------------- on a database
def _dump(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return [(t, *r) for t in TABLES for r in conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2")]
    finally:
        conn.close()


def _serial_steps(parent: ExecutionId, steps: int) -> list[list[WriteOp]]:
    """What a serial workflow's run writes for ``steps`` inline activity calls: each step finishes the child the
    step before created (its response unblocks the parent), asks for the next child, and creates it locked."""
    jobs: list[list[WriteOp]] = []
    version = 2  # Created, Locked
    previous: tuple[ExecutionId, JoinSetId] | None = None
    for k in range(steps):
        ops: list[WriteOp] = []
        if previous is not None:
            child, js = previous
            result = Ok(ReturnValue(k))
            ops += [
                AppendEvents(child, 2, [Finished(result)]),
                DeliverResponse(parent, js, ChildExecutionFinished(child, result)),
            ]
        js = JoinSetId.generate()
        child = parent.child(k)
        ops += [
            AppendEvents(
                parent,
                version,
                [JoinSetCreated(js), JoinSetRequest(js, ChildExecutionRequest(child)), JoinNext(js, LOCK)],
            ),
            CreateExecution(child, created(parent=ParentRef(parent, js))),
            AppendEvents(child, 1, [Locked("c", EXECUTOR, RunId.generate(), LOCK)]),
        ]
        version += 3
        previous = (child, js)
        jobs.append(ops)
    return jobs


async def _locked_parent(storage: SqliteStorage, parent: ExecutionId) -> None:
    await storage.create(parent, created(WORKFLOW), T0)
    await storage.append(parent, 1, [Locked("w", EXECUTOR, PARENT_RUN, LOCK)], T0)


LEADER = new_id(999)
"""Created by the write that finds the flusher idle and so commits alone: the writes queued behind it form one group."""


async def _in_one_group(storage: SqliteStorage, submits: list[Awaitable[Any]]) -> list[Any]:
    """Run ``submits`` (not started yet) while a leading write commits, so that they commit as one group (checked)."""
    groups = storage.stats.extra["groups"]
    leader = storage.write([CreateExecution(LEADER, created())], T0)
    results = await asyncio.gather(leader, *submits, return_exceptions=True)
    assert storage.stats.extra["groups"] - groups == 2, "the writes did not share one group commit"
    assert results[0] is None
    return results[1:]


def _writes(storage: SqliteStorage, writes: list[list[WriteOp]], first_now: int) -> list[Awaitable[None]]:
    return [storage.write(ops, first_now + n) for n, ops in enumerate(writes)]


async def test_a_group_of_serial_steps_writes_the_same_rows_as_the_steps_one_by_one(tmp_path: Path) -> None:
    parent = new_id()
    steps = _serial_steps(parent, STEPS)
    async with opened(tmp_path / "grouped.sqlite") as grouped, opened(tmp_path / "apart.sqlite") as apart:
        for storage in (grouped, apart):
            await _locked_parent(storage, parent)
        statements: list[str] = []
        await grouped._db.set_trace_callback(statements.append)
        assert await _in_one_group(grouped, _writes(grouped, steps, T0 + SEC)) == [None] * STEPS
        await grouped._db.set_trace_callback(None)
        await apart.write([CreateExecution(LEADER, created())], T0)
        for n, ops in enumerate(steps):
            await apart.write(ops, T0 + SEC + n)
        assert (await grouped.get_status(parent.child(0))).pending_state == FinishedState(T0 + SEC + 1, ResultKind.OK)
    assert _dump(tmp_path / "grouped.sqlite") == _dump(tmp_path / "apart.sqlite")
    # Each row once: the children inserted in one statement (all but the last already finished), the parent and the
    # first child (created before the group) updated, the log rows and the responses inserted, one statement each.
    group = statements[statements.index("SAVEPOINT jobs") :]  # the leader's own transaction came first
    writes = [s for s in group if s.split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert len(writes) <= 5, writes
    assert sum(s.startswith("INSERT INTO execution_state") for s in writes) == 1


async def test_a_creation_refused_at_the_end_of_the_group_fails_only_its_own_write(tmp_path: Path) -> None:
    taken, fresh = new_id(), [new_id(n) for n in range(1, 4)]
    async with opened(tmp_path / "db.sqlite") as storage:
        await storage.create(taken, created(), T0)
        before = _dump(tmp_path / "db.sqlite")
        writes: list[list[WriteOp]] = [
            [CreateExecution(fresh[0], created())],
            [CreateExecution(taken, created()), CreateExecution(fresh[1], created())],
            [CreateExecution(fresh[2], created())],
        ]
        results = await _in_one_group(storage, _writes(storage, writes, T0 + SEC))
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], ExecutionAlreadyExists)
        assert storage.stats.extra["rolled_back_jobs"] == 1
    after = _dump(tmp_path / "db.sqlite")
    created_rows = {r[1] for r in after if r[0] == "execution_state"} - {
        r[1] for r in before if r[0] == "execution_state"
    }
    assert created_rows == {LEADER, fresh[0], fresh[2]}  # nothing of the refused write, not even its second creation


async def test_a_response_delivered_twice_in_one_group_is_stored_once(tmp_path: Path) -> None:
    parent = new_id()
    [first_step] = _serial_steps(parent, 1)
    child = parent.child(0)
    async with opened(tmp_path / "db.sqlite") as storage:
        await _locked_parent(storage, parent)
        await storage.write(first_step, T0 + SEC)
        join_set = (await storage.get(child)).created.parent
        assert join_set is not None
        response = ChildExecutionFinished(child, Ok(ReturnValue(1)))
        delivery: list[WriteOp] = [DeliverResponse(parent, join_set.join_set_id, response)]
        finish: list[WriteOp] = [AppendEvents(child, 2, [Finished(Ok(ReturnValue(1)))])]
        results = await _in_one_group(storage, _writes(storage, [finish, delivery, delivery], T0 + 2 * SEC))
        assert results == [None, None, None]
        assert storage.stats.extra["duplicate_responses"] == 1
        assert len((await storage.get(parent)).responses) == 1
        assert (await storage.get_status(parent)).next_version == 5


async def test_a_job_reads_what_the_jobs_before_it_in_the_group_hold(tmp_path: Path) -> None:
    """A cancel reads its execution's row and log: created by the job before it, and not written yet when held."""
    eid = new_id()
    async with opened(tmp_path / "db.sqlite") as storage:
        create = storage.write([CreateExecution(eid, created())], T0 + SEC)
        cancel = storage.cancel(eid, "changed my mind", T0 + SEC + 1)
        assert await _in_one_group(storage, [create, cancel]) == [None, [eid]]
        status = await storage.get_status(eid)
        assert status.pending_state == FinishedState(T0 + SEC + 1, ResultKind.CANCELLED)
