"""The rows a writer knows from its own last write (``obelisk/storage/row_cache.py``) are not read back, yet a row
another server (or process) changed meanwhile is neither overwritten nor wrongly refused: every update names the
version and response count it was known at, and a mismatch runs the job again with its rows read."""

from __future__ import annotations

from obelisk.concepts.events import (
    ChildExecutionFinished,
    JoinNext,
    JoinSetCreated,
    Locked,
    LockedState,
    PendingAt,
    Unlocked,
)
from obelisk.concepts.ids import ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.storage.interface import AppendEvents, CreateExecution, DeliverResponse, VersionMismatch

from .backends import Backend
from .helpers import SEC, T0, WORKFLOW, created, new_id


async def test_a_row_changed_by_another_server_is_neither_overwritten_nor_wrongly_refused(
    storage_backend: Backend,
) -> None:
    async with storage_backend.opened() as a, storage_backend.opened() as b:
        eid = new_id()
        executor = ExecutorId.generate()
        first_run = RunId.generate()
        # A writes the row twice: it knows it at version 2 from then on.
        await a.write([CreateExecution(eid, created(WORKFLOW))], T0)
        await a.append(eid, 1, [Locked("c", executor, first_run, T0 + 10 * SEC)], T0)
        # B moves it on behind A's back: the run is unlocked, and a response arrives.
        await b.append(eid, 2, [Unlocked(T0, "server stopped")], T0)
        js = JoinSetId.generate()
        response = ChildExecutionFinished(eid.child(0), Ok(ReturnValue(1)))
        await b.write([DeliverResponse(eid, js, response)], T0)

        # A's stale view is refused as stale, with nothing written ...
        try:
            await a.append(eid, 2, [JoinNext(js, T0 + SEC)], T0)
        except VersionMismatch as refused:
            assert (refused.expected, refused.actual) == (2, 3)
        else:
            raise AssertionError("an append at a stale version was accepted")
        # ... and a write at the right version is not refused for what A knew: it is applied to the row as it is.
        second_run = RunId.generate()
        await a.append(eid, 3, [Locked("c", executor, second_run, T0 + 20 * SEC)], T0 + SEC)
        await a.append(eid, 4, [JoinSetCreated(js), JoinNext(js, T0 + 20 * SEC)], T0 + SEC)

        status = await b.get_status(eid)
        assert status.next_version == 6
        assert status.pending_state == PendingAt(T0 + 20 * SEC)  # the response B delivered was found and kept
        assert (await b.get(eid)).responses[0].response == response
        # And what A now knows is right again: its next write needs no retry to succeed.
        await a.append(eid, 6, [Locked("c", executor, second_run, T0 + 30 * SEC)], T0 + 2 * SEC)
        assert await b.get_pending_state(eid) == LockedState(executor, second_run, T0 + 30 * SEC)


async def test_a_job_that_finishes_two_rows_writes_both_or_neither(storage_backend: Backend) -> None:
    """The rows of one job may share an UPDATE: when one of them had changed, none is written."""
    async with storage_backend.opened() as a, storage_backend.opened() as b:
        parent, child = new_id(), new_id(1)
        executor, run = ExecutorId.generate(), RunId.generate()
        await a.write([CreateExecution(parent, created(WORKFLOW)), CreateExecution(child, created())], T0)
        for eid in (parent, child):
            await a.append(eid, 1, [Locked("c", executor, run, T0 + 10 * SEC)], T0)
        await b.append(child, 2, [Unlocked(T0, "released")], T0)  # A's view of the child is stale now
        finish = [
            AppendEvents(child, 2, [Unlocked(T0, "again")]),
            AppendEvents(parent, 2, [Unlocked(T0, "too")]),
        ]
        try:
            await a.write(finish, T0)
        except VersionMismatch:
            pass
        else:
            raise AssertionError("a write over a stale row was accepted")
        assert (await b.get_status(parent)).next_version == 2  # the parent's half was not written either
        assert (await b.get_status(child)).next_version == 3
