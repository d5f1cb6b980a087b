"""SQLite listings and hot queries use their indexes (query plans), with 100,000 executions."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from obelisk.concepts.events import (
    event_to_json,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import ResultKind
from obelisk.storage.interface import (
    ExecutionQuery,
    ListDirection,
)
from obelisk.storage.row_codec import dumps
from obelisk.storage.sqlite.reads import list_executions_sql

from .helpers import T0, created, opened

FFQNS = [Ffqn.parse(f"testing:bulk/ifc.fn{i}") for i in range(10)]


def _plan(path: Path, query: ExecutionQuery) -> str:
    sql, params = list_executions_sql(query)
    conn = sqlite3.connect(path)
    try:
        return "\n".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    finally:
        conn.close()


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
        writes._select_due_sql(2): ("f", 1, 2, "g", 1, 2),
        reads._SELECT_EXPIRED_LOCKS: (1,),
        reads._SELECT_DUE_DELAYS: (1,),
        writes._NTH_RESPONSE_TIME: ("e", "js", "e", "js", 1),
    }
    conn = sqlite3.connect(path)
    try:
        for sql, params in checks.items():
            steps = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
            plan = " ".join(steps)
            # Every table is searched through an index (a subquery adds its own SEARCH line), none scanned.
            structure = ("SCALAR SUBQUERY", "COMPOUND QUERY", "LEFT-MOST SUBQUERY", "UNION ALL", "CO-ROUTINE")
            searches = [s for s in steps if not s.startswith(structure) and not s.startswith("SCAN (subquery")]
            indexed = [s.startswith("SEARCH") and ("INDEX" in s or "PRIMARY KEY" in s) for s in searches]
            assert all(indexed), (sql, plan)
            assert "TEMP B-TREE" not in plan, (sql, plan)
    finally:
        conn.close()
