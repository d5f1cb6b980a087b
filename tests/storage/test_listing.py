"""Listings: cursor paging both ways, filters, events and responses pages (the storage contract)."""

from __future__ import annotations

from obelisk.concepts.events import ChildExecutionFinished, Finished, JoinSetCreated, Locked, ParentRef
from obelisk.concepts.ids import JoinSetId, RunId
from obelisk.concepts.results import ExecutionFailure, Ok, ResultKind
from obelisk.storage.interface import CreateExecution, DeliverResponse, ExecutionQuery, ListDirection

from .backends import Backend
from .helpers import ACTIVITY, EXECUTOR, T0, WORKFLOW, created, new_id


async def test_paging_both_ways_and_filters(storage_backend: Backend) -> None:
    async with storage_backend.opened() as storage:
        ids = [new_id(i) for i in range(10)]
        for i, eid in enumerate(ids):  # created_at increases with i, so ids[-1] is the newest
            await storage.create(eid, created(WORKFLOW if i % 2 else ACTIVITY), T0 + i)
        js = JoinSetId.generate()
        child = ids[1].child(0)
        await storage.write([CreateExecution(child, created(parent=ParentRef(ids[1], js)))], T0 + 100)
        await storage.append(ids[0], 1, [Locked("c", EXECUTOR, RunId.generate(), T0 + 99), Finished(Ok(None))], T0)
        failure = ExecutionFailure("boom")
        await storage.append(ids[2], 1, [Locked("c", EXECUTOR, RunId.generate(), T0 + 99), Finished(failure)], T0)

        page = await storage.list_executions(ExecutionQuery(length=4))
        assert [s.execution_id for s in page] == [child, ids[9], ids[8], ids[7]]
        assert page[0].parent_execution_id == ids[1]
        cursor = (page[-1].created_at, page[-1].execution_id)
        older = await storage.list_executions(ExecutionQuery(cursor=cursor, length=4))
        assert [s.execution_id for s in older] == [ids[6], ids[5], ids[4], ids[3]]
        back = (older[0].created_at, older[0].execution_id)
        newer = await storage.list_executions(ExecutionQuery(cursor=back, direction=ListDirection.NEWER, length=2))
        assert [s.execution_id for s in newer] == [ids[8], ids[7]]  # the page just newer, newest first
        including = await storage.list_executions(
            ExecutionQuery(cursor=back, direction=ListDirection.NEWER, length=2, including_cursor=True)
        )
        assert [s.execution_id for s in including] == [ids[7], ids[6]]

        top = await storage.list_executions(ExecutionQuery(top_level_only=True, length=100))
        assert child not in [s.execution_id for s in top] and len(top) == 10
        workflows = await storage.list_executions(ExecutionQuery(ffqn=WORKFLOW, length=100))
        assert [s.execution_id for s in workflows] == ids[9::-2]
        finished = await storage.list_executions(ExecutionQuery(state="Finished", length=100))
        assert [s.execution_id for s in finished] == [ids[2], ids[0]]
        failed = await storage.list_executions(ExecutionQuery(result_kind=ResultKind.EXECUTION_FAILURE))
        assert [s.execution_id for s in failed] == [ids[2]]

        await storage.append(child, 1, [JoinSetCreated(js)], T0)
        await storage.write([DeliverResponse(ids[1], js, ChildExecutionFinished(child, Ok(None)))], T0 + 5)
        await storage.write([DeliverResponse(ids[1], js, ChildExecutionFinished(ids[1].child(1), Ok(None)))], T0 + 6)
        events = await storage.list_events(child, 1, 10)
        assert [e.event for e in events] == [JoinSetCreated(js)]
        responses = await storage.list_responses(ids[1], -1, 10, False)
        assert len(responses) == 2
        after_first = await storage.list_responses(ids[1], responses[0].cursor, 10, False)
        assert after_first == responses[1:]
        assert await storage.list_responses(ids[1], responses[0].cursor, 1, True) == responses[:1]
