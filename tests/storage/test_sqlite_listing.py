"""Listings: cursor paging both ways, filters, and index use with 100,000 executions."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from obelisk.concepts.events import (
    ChildExecutionFinished,
    Finished,
    JoinSetCreated,
    Locked,
    ParentRef,
    event_to_json,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, JoinSetId, RunId
from obelisk.concepts.results import ExecutionFailure, Ok, ResultKind
from obelisk.storage.interface import (
    CreateExecution,
    DeliverResponse,
    ExecutionQuery,
    ListDirection,
)
from obelisk.storage.sqlite.reads import list_executions_sql
from obelisk.storage.sqlite.writes import dumps

from .helpers import ACTIVITY, EXECUTOR, T0, WORKFLOW, created, new_id, opened

FFQNS = [Ffqn.parse(f"testing:bulk/ifc.fn{i}") for i in range(10)]


def _plan(path: Path, query: ExecutionQuery) -> str:
    sql, params = list_executions_sql(query)
    conn = sqlite3.connect(path)
    try:
        return "\n".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    finally:
        conn.close()


async def test_paging_both_ways_and_filters(tmp_path: Path) -> None:
    async with opened(tmp_path / "db.sqlite") as storage:
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


def _bulk_insert(path: Path, ids: list[ExecutionId], finished_every: int) -> None:
    """Rows as the storage writes them, inserted with executemany: 100k ``write`` calls would time the writer."""
    created_json = dumps(event_to_json(created()))
    states = []
    for i, eid in enumerate(ids):
        done = i % finished_every == 0
        states.append(
            (
                eid,
                str(FFQNS[i % len(FFQNS)]),
                "Finished" if done else "PendingAt",
                T0 + i,
                T0 + i,
                T0 + i,
                "Ok" if done else None,
                T0 + i if done else None,
            )
        )
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO execution_state (execution_id, next_version, ffqn, state, pending_expires_finished,"
                " created_at, scheduled_at, max_retries, retry_exp_backoff_us, component_id, result_kind, finished_at)"
                " VALUES (?, 1, ?, ?, ?, ?, ?, 5, 100000, 'c', ?, ?)",
                states,
            )
            conn.executemany(
                "INSERT INTO execution_log (execution_id, version, created_at, event_type, json)"
                " VALUES (?, 0, ?, 'Created', ?)",
                [(eid, T0 + i, created_json) for i, eid in enumerate(ids)],
            )
    finally:
        conn.close()


async def test_listing_100k_uses_indexes(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with opened(path):  # creates the schema
        pass
    started = time.perf_counter()
    count = 100_000
    ids = [ExecutionId.generate(T0 // 1000 + i) for i in range(count)]
    _bulk_insert(path, ids, finished_every=100)
    inserted = time.perf_counter() - started
    done = ids[::100]
    async with opened(path) as storage:
        queries = [
            ExecutionQuery(),
            ExecutionQuery(ffqn=FFQNS[3]),
            ExecutionQuery(state="Finished"),
            ExecutionQuery(ffqn=FFQNS[0], state="Finished"),
            ExecutionQuery(result_kind=ResultKind.OK),
            ExecutionQuery(top_level_only=True),
            ExecutionQuery(ffqn=FFQNS[3], top_level_only=True),
            ExecutionQuery(ffqn=FFQNS[3], cursor=(T0 + 50_003, ids[50_003]), direction=ListDirection.NEWER),
            ExecutionQuery(state="PendingAt", cursor=(T0 + 50_001, ids[50_001])),
        ]
        for query in queries:
            plan = _plan(path, query)
            assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (query, plan)
            assert "TEMP B-TREE" not in plan, (query, plan)  # no sort of the whole table
            assert not any(line.startswith("SCAN") and "INDEX" not in line for line in plan.splitlines()), plan

        started = time.perf_counter()
        page = await storage.list_executions(ExecutionQuery(ffqn=FFQNS[3], length=20))
        assert len(page) == 20 and all(s.ffqn == FFQNS[3] for s in page)
        finished = await storage.list_executions(ExecutionQuery(state="Finished", length=20))
        assert len(finished) == 20 and all(s.execution_id in set(done) for s in finished)
        cursor = (page[-1].created_at, page[-1].execution_id)
        older = await storage.list_executions(ExecutionQuery(ffqn=FFQNS[3], cursor=cursor, length=20))
        assert older[0].created_at < page[-1].created_at
        assert page[0].execution_id == ids[-7]  # 99_993 is the newest with i % 10 == 3
        listed = time.perf_counter() - started
        print(f"100k executions inserted in {inserted:.2f}s; three listings took {listed * 1000:.1f} ms")
        assert listed < 0.5


async def test_hot_queries_use_their_indexes(tmp_path: Path) -> None:
    """Locking, timers and JoinNext must not scan: each runs on every step of every execution."""
    from obelisk.storage.sqlite import reads, writes

    path = tmp_path / "db.sqlite"
    async with opened(path):
        pass
    checks = {
        writes._SELECT_DUE: ("f", 1, 2),
        reads._SELECT_EXPIRED_LOCKS: (1,),
        reads._SELECT_DUE_DELAYS: (1,),
        writes._COUNT_JOIN_NEXT: ("e", "js"),
        writes._NTH_RESPONSE_TIME: ("e", "js", 1),
    }
    conn = sqlite3.connect(path)
    try:
        for sql, params in checks.items():
            plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert plan.startswith("SEARCH") and "INDEX" in plan and "TEMP B-TREE" not in plan, (sql, plan)
    finally:
        conn.close()
