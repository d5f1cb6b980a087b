"""Listing by function scope and states (``service/listing.py``) over both real storage backends.

A scope or a set of states becomes several storage queries whose pages are merged: pages must still follow each
other without gap or overlap in both directions, and ``PendingAt`` split by its scheduled time must read past a
storage page of the other half.
"""

from __future__ import annotations

from obelisk.concepts.events import Finished, Locked, ParentRef
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, JoinSetId, RunId
from obelisk.concepts.results import ExecutionFailure, FallibleError, FinishedResult, Ok, ReturnValue, Timeout
from obelisk.service.listing import FunctionScope, InvalidFilter, ListFilter, ScopeKind, StateFilter, list_filtered
from obelisk.storage.interface import CreateExecution, ExecutionQuery, ExecutionSummary, ListDirection, Storage
from tests.storage.backends import Backend
from tests.storage.conftest import storage_backend  # noqa: F401  (the fixture: SQLite and PostgreSQL)
from tests.storage.helpers import EXECUTOR, SEC, T0, created, new_id

FIBO = Ffqn.parse("testing:fibo/fibo.fibo")
FIBO_V2 = Ffqn.parse("testing:fibo/fibo@2.0.0.fibo")
FIBOA = Ffqn.parse("testing:fibo-workflow/workflow.fiboa")
NESTED = Ffqn.parse("testing:fibo-workflow/workflow-nesting.nested")
OTHER = Ffqn.parse("other:pkg/ifc.fn")
KNOWN = [FIBO, FIBO_V2, FIBOA, NESTED, OTHER]
NOW = T0 + 1_000 * SEC


async def listed(
    storage: Storage,
    list_filter: ListFilter,
    *,
    length: int = 100,
    cursor: ExecutionSummary | None = None,
    newer: bool = False,
) -> list[ExecutionId]:
    page = ExecutionQuery(
        cursor=None if cursor is None else (cursor.created_at, cursor.execution_id),
        direction=ListDirection.NEWER if newer else ListDirection.OLDER,
        length=length,
    )
    found = await list_filtered(storage.list_executions, KNOWN, list_filter, page, NOW)
    return [s.execution_id for s in found]


async def finish(storage: Storage, execution_id: ExecutionId, result: FinishedResult) -> None:
    locked = Locked("c", EXECUTOR, RunId.generate(), NOW + SEC)
    await storage.append(execution_id, 1, [locked, Finished(result)], NOW)


async def test_scopes_states_and_merged_pages(storage_backend: Backend) -> None:  # noqa: F811
    async with storage_backend.opened() as storage:
        ffqns = [FIBO, FIBOA, FIBO_V2, NESTED, OTHER]
        ids = [new_id(i) for i in range(10)]  # created_at grows with i: ids[-1] is the newest
        for i, eid in enumerate(ids):
            await storage.create(eid, created(ffqns[i % 5]), T0 + i)
        child = ids[1].child(0)
        await storage.write(
            [CreateExecution(child, created(FIBO, parent=ParentRef(ids[1], JoinSetId.generate())))], T0 + 50
        )
        await finish(storage, ids[0], Ok(None))
        await finish(storage, ids[2], FallibleError(ReturnValue({"err": "no"})))
        await finish(storage, ids[3], ExecutionFailure("boom"))
        await finish(storage, ids[4], Timeout())
        newest_first = ids[::-1]

        everything = await listed(storage, ListFilter())
        assert everything == [child, *newest_first]
        assert await listed(storage, ListFilter(top_level_only=True)) == newest_first

        fibo_package = ListFilter(scope=FunctionScope.of(ScopeKind.PACKAGE, "testing:fibo"))
        assert await listed(storage, fibo_package) == [child, ids[7], ids[5], ids[2], ids[0]]
        v2 = ListFilter(scope=FunctionScope.of(ScopeKind.PACKAGE, "testing:fibo@2.0.0"))
        assert await listed(storage, v2) == [ids[7], ids[2]]
        interface = ListFilter(scope=FunctionScope.of(ScopeKind.INTERFACE, "testing:fibo-workflow/workflow"))
        assert await listed(storage, interface) == [ids[6], ids[1]]
        exact = ListFilter(scope=FunctionScope.of(ScopeKind.FUNCTION, str(NESTED)), top_level_only=True)
        assert await listed(storage, exact) == [ids[8], ids[3]]
        unknown = ListFilter(scope=FunctionScope.of(ScopeKind.PACKAGE, "testing:nothing"))
        assert await listed(storage, unknown) == []

        def states(*wanted: StateFilter) -> ListFilter:
            return ListFilter(states=frozenset(wanted), top_level_only=True)

        assert await listed(storage, states(StateFilter.FINISHED_OK)) == [ids[0]]
        assert await listed(storage, states(StateFilter.FINISHED_ERROR)) == [ids[2]]
        assert await listed(storage, states(StateFilter.FINISHED_EXECUTION_FAILURE)) == [ids[4], ids[3]]
        assert await listed(storage, states(StateFilter.FINISHED)) == [ids[4], ids[3], ids[2], ids[0]]
        ok_or_failed = states(StateFilter.FINISHED_OK, StateFilter.FINISHED_EXECUTION_FAILURE)
        assert await listed(storage, ok_or_failed) == [ids[4], ids[3], ids[0]]
        assert await listed(storage, states(StateFilter.PENDING)) == [*newest_first[:5], ids[1]]
        assert await listed(storage, states(StateFilter.SCHEDULED, StateFilter.LOCKED)) == []

        # Pages of a merged listing follow each other without gap or overlap, both ways.
        merged = ListFilter(scope=fibo_package.scope, states=frozenset({StateFilter.PENDING, StateFilter.FINISHED}))
        whole = await listed(storage, merged)
        assert whole == [child, ids[7], ids[5], ids[2], ids[0]]
        summaries = {s.execution_id: s for s in await storage.list_executions(ExecutionQuery(length=100))}
        first = await listed(storage, merged, length=2)
        second = await listed(storage, merged, length=2, cursor=summaries[first[-1]])
        third = await listed(storage, merged, length=2, cursor=summaries[second[-1]])
        assert first + second + third == whole
        back = await listed(storage, merged, length=2, cursor=summaries[third[0]], newer=True)
        assert sorted(back) == sorted(second)


async def test_pending_and_scheduled_read_past_a_page_of_the_other_half(storage_backend: Backend) -> None:  # noqa: F811
    async with storage_backend.opened() as storage:
        due = [new_id(i) for i in range(3)]
        later = [new_id(10 + i) for i in range(7)]  # newer than every due one: the first pages hold only these
        for i, eid in enumerate(due):
            await storage.create(eid, created(FIBO, scheduled_at=NOW - SEC), T0 + i)
        for i, eid in enumerate(later):
            await storage.create(eid, created(FIBO, scheduled_at=NOW + SEC), T0 + 10 + i)
        pending = ListFilter(states=frozenset({StateFilter.PENDING}))
        assert await listed(storage, pending, length=2) == due[::-1][:2]
        assert await listed(storage, pending, length=5) == due[::-1]
        scheduled = ListFilter(states=frozenset({StateFilter.SCHEDULED}))
        assert await listed(storage, scheduled, length=3) == later[::-1][:3]
        both = ListFilter(states=frozenset({StateFilter.PENDING, StateFilter.SCHEDULED}))
        assert await listed(storage, both) == [*later[::-1], *due[::-1]]


def test_malformed_scopes_are_refused_with_the_expected_form() -> None:
    for kind, name, expected in (
        (ScopeKind.PACKAGE, "Testing", "namespace:package[@version]"),
        (ScopeKind.INTERFACE, "testing:fibo", "namespace:package/interface[@version]"),
        (ScopeKind.FUNCTION, "testing:fibo/fibo", "namespace:package/interface.function"),
    ):
        try:
            FunctionScope.of(kind, name)
        except InvalidFilter as error:
            assert repr(name) in str(error) and expected in str(error)
        else:
            raise AssertionError(f"{kind} {name!r} was accepted")
