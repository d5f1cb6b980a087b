#!/usr/bin/env python3
"""Which PostgreSQL driver for the storage backend: psycopg 3 on a dedicated thread, or asyncpg on the loop.

Usage: .venv/bin/python bench/postgres_driver.py [--runs 5] [--steps 300] [--durable]

Starts the tests' throwaway cluster (tests/postgres_cluster.py) and times the backend's hot statements with both
drivers, each called from an asyncio event loop the way the backend would call it:

* psycopg 3 (synchronous, C implementation) on one dedicated thread: one loop-to-thread hop per transaction,
  every statement run back to back on that thread;
* asyncpg on the event loop: one ``await`` (a round trip through the loop) per statement.

Workloads, each with prepared statements:

* ``step``: a W1-like workflow step, one transaction: ``SELECT ... FOR UPDATE`` of a state row, ``INSERT`` an
  event, ``UPDATE`` the row, ``INSERT`` a response, ``COMMIT``;
* ``group``: 20 such steps in one transaction, each in its own ``SAVEPOINT`` (what group commit does under load);
* ``lock``: lock 10 due rows with ``FOR UPDATE SKIP LOCKED`` and mark them locked, one transaction;
* ``step, busy loop``: ``step`` while another task keeps the event loop busy (200 us slices of Python between
  yields), as executors and the API do on a loaded server: each statement awaited on the loop waits for its turn.

Each figure is per transaction: wall time, and the CPU time of the Python process (both drivers' work happens in
it; on 2 shared cores CPU is what limits throughput). Median of ``--runs`` runs with min-max. Without
``--durable`` the cluster runs with ``fsync=off``: a disk flush per commit would hide the drivers' difference.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.postgres_cluster import PostgresCluster

SCHEMA = """
CREATE TABLE state (id TEXT PRIMARY KEY, ffqn TEXT NOT NULL, state TEXT NOT NULL, next_version BIGINT NOT NULL,
    pending_expires_finished BIGINT NOT NULL, executor_id TEXT, run_id TEXT);
CREATE INDEX state_pending ON state (ffqn, pending_expires_finished) WHERE state = 'PendingAt';
CREATE TABLE log (id TEXT NOT NULL, version BIGINT NOT NULL, created_at BIGINT NOT NULL, event_type TEXT NOT NULL,
    json TEXT NOT NULL, PRIMARY KEY (id, version));
CREATE TABLE response (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL, join_set_id TEXT NOT NULL,
    created_at BIGINT NOT NULL, json TEXT NOT NULL);
"""
SELECT_ROW = "SELECT next_version, state FROM state WHERE id = %s FOR UPDATE"
INSERT_EVENT = "INSERT INTO log (id, version, created_at, event_type, json) VALUES (%s, %s, %s, %s, %s)"
UPDATE_ROW = "UPDATE state SET next_version = %s, state = %s WHERE id = %s"
INSERT_RESPONSE = "INSERT INTO response (id, join_set_id, created_at, json) VALUES (%s, %s, %s, %s)"
LOCK_DUE = (
    "UPDATE state SET state = 'Locked', executor_id = %s, run_id = %s WHERE id IN (SELECT id FROM state"
    " WHERE state = 'PendingAt' AND ffqn = %s AND pending_expires_finished <= %s"
    " ORDER BY pending_expires_finished LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id, next_version"
)
EVENT_JSON = '{"JoinSetRequest":{"join_set_id":"JoinSet_g:1","request":{"ChildExecutionRequest":"E_01J.g:1"}}}'
RESPONSE_JSON = '{"ChildExecutionFinished":{"child":"E_01J.g:1","result":{"Ok":{"value":55}}}}'
GROUP = 20
LOCK_BATCH = 10
FFQN = "testing:fibo/fibo.fibo"


def dollar(sql: str) -> str:
    """asyncpg's placeholders are ``$1, $2, ...``."""
    counter = iter(range(1, 100))
    return re.sub("%s", lambda _: f"${next(counter)}", sql)


def seed(conninfo: str, rows: int) -> None:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS state, log, response")
        conn.execute(SCHEMA)
        copy_sql = "COPY state (id, ffqn, state, next_version, pending_expires_finished) FROM STDIN"
        with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for i in range(rows):
                copy.write_row((f"E_{i:08d}", FFQN, "PendingAt", 1, i))
        conn.execute("VACUUM ANALYZE state")


# ---------------------------------------------------------------------------------------------- psycopg
class PsycopgDriver:
    name = "psycopg 3 (sync, own thread)"

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="db")
        self._conn: Any = None

    async def _hop(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    async def open(self) -> None:
        import psycopg

        def connect() -> None:
            self._conn = psycopg.connect(self._conninfo, prepare_threshold=0)

        await self._hop(connect)

    async def close(self) -> None:
        await self._hop(self._conn.close)
        self._thread.shutdown()

    def _one_step(self, execution_id: str, version: int, savepoint: bool) -> None:
        conn = self._conn
        if savepoint:
            conn.execute("SAVEPOINT job")
        (next_version, _state) = conn.execute(SELECT_ROW, (execution_id,)).fetchone()
        conn.execute(INSERT_EVENT, (execution_id, next_version, version, "JoinSetRequest", EVENT_JSON))
        conn.execute(UPDATE_ROW, (next_version + 1, "PendingAt", execution_id))
        conn.execute(INSERT_RESPONSE, (execution_id, "JoinSet_g:1", version, RESPONSE_JSON))
        if savepoint:
            conn.execute("RELEASE job")

    async def step(self, execution_id: str, version: int) -> None:
        def body() -> None:
            self._one_step(execution_id, version, False)
            self._conn.commit()

        await self._hop(body)

    async def group(self, execution_ids: list[str], version: int) -> None:
        def body() -> None:
            for execution_id in execution_ids:
                self._one_step(execution_id, version, True)
            self._conn.commit()

        await self._hop(body)

    async def lock(self, now: int) -> int:
        def body() -> int:
            rows = self._conn.execute(LOCK_DUE, ("exr", "run", FFQN, now, LOCK_BATCH)).fetchall()
            self._conn.commit()
            return len(rows)

        result: int = await self._hop(body)
        return result


class PsycopgPipelineDriver(PsycopgDriver):
    """The same on the same thread, in pipeline mode: statements whose results are not needed go out without
    waiting; only the ``SELECT ... FOR UPDATE`` (its row decides what to write) and the commit wait for the
    server."""

    name = "psycopg 3 (own thread, pipeline)"

    async def step(self, execution_id: str, version: int) -> None:
        def body() -> None:
            with self._conn.pipeline():
                self._one_step(execution_id, version, False)
                self._conn.commit()

        await self._hop(body)

    async def group(self, execution_ids: list[str], version: int) -> None:
        def body() -> None:
            with self._conn.pipeline():
                for execution_id in execution_ids:
                    self._one_step(execution_id, version, True)
                self._conn.commit()

        await self._hop(body)


# ---------------------------------------------------------------------------------------------- asyncpg
class AsyncpgDriver:
    name = "asyncpg (on the event loop)"

    def __init__(self, dsn: dict[str, Any]) -> None:
        self._dsn = dsn
        self._conn: Any = None

    async def open(self) -> None:
        import asyncpg

        self._conn = await asyncpg.connect(**self._dsn)
        self._select = await self._conn.prepare(dollar(SELECT_ROW))
        self._insert_event = await self._conn.prepare(dollar(INSERT_EVENT))
        self._update = await self._conn.prepare(dollar(UPDATE_ROW))
        self._insert_response = await self._conn.prepare(dollar(INSERT_RESPONSE))
        self._lock = await self._conn.prepare(dollar(LOCK_DUE))

    async def close(self) -> None:
        await self._conn.close()

    async def _one_step(self, execution_id: str, version: int) -> None:
        row = await self._select.fetchrow(execution_id)
        next_version = row[0]
        await self._insert_event.fetch(execution_id, next_version, version, "JoinSetRequest", EVENT_JSON)
        await self._update.fetch(next_version + 1, "PendingAt", execution_id)
        await self._insert_response.fetch(execution_id, "JoinSet_g:1", version, RESPONSE_JSON)

    async def step(self, execution_id: str, version: int) -> None:
        async with self._conn.transaction():
            await self._one_step(execution_id, version)

    async def group(self, execution_ids: list[str], version: int) -> None:
        async with self._conn.transaction():
            for execution_id in execution_ids:
                async with self._conn.transaction():  # nested: a SAVEPOINT
                    await self._one_step(execution_id, version)

    async def lock(self, now: int) -> int:
        async with self._conn.transaction():
            rows = await self._lock.fetch("exr", "run", FFQN, now, LOCK_BATCH)
        return len(rows)


# ---------------------------------------------------------------------------------------------- timing
async def timed(n: int, fn: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    """Wall and process CPU microseconds per call of ``fn(i)``, ``i`` in ``range(n)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        await fn(i)
    return (time.perf_counter() - wall) / n * 1e6, (time.process_time() - cpu) / n * 1e6


LOAD_SLICE_SECONDS = 0.0002


async def busy_loop() -> None:
    """Other work on the event loop (executors, the API): 200 us slices of Python, yielding between them."""
    while True:
        until = time.perf_counter() + LOAD_SLICE_SECONDS
        while time.perf_counter() < until:
            pass
        await asyncio.sleep(0)


async def one_run(driver: Any, conninfo: str, steps: int) -> dict[str, tuple[float, float]]:
    seed(conninfo, rows=max(steps * GROUP, steps * LOCK_BATCH) + 100)
    await driver.open()
    try:
        ids = [f"E_{i:08d}" for i in range(steps * GROUP)]
        for i in range(20):  # warm-up: connections, prepared statements, caches
            await driver.step(ids[i], 0)
        figures = {
            "step": await timed(steps, lambda i: driver.step(ids[i % len(ids)], i)),
            "group": await timed(steps // 4, lambda i: driver.group(ids[i * GROUP : (i + 1) * GROUP], i)),
        }
        # Lock fresh due rows each time: rows locked by the previous call are no longer PendingAt.
        figures["lock"] = await timed(steps, lambda i: driver.lock(steps * GROUP + 100))
        busy = asyncio.get_running_loop().create_task(busy_loop())
        try:
            figures["step, busy loop"] = await timed(steps, lambda i: driver.step(ids[i % len(ids)], i))
        finally:
            busy.cancel()
        return figures
    finally:
        await driver.close()


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.0f} ({min(values):.0f}-{max(values):.0f})"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--durable", action="store_true", help="fsync and synchronous_commit on")
    args = parser.parse_args()
    cluster = PostgresCluster.start(durable=args.durable)
    try:
        cluster.sql("CREATE DATABASE bench OWNER obelisk_test")
        target = cluster.target("bench")
        conninfo = f"host=127.0.0.1 port={target.port} user={target.user} password={target.password} dbname=bench"
        dsn = {"host": "127.0.0.1", "port": target.port, "user": target.user, "password": target.password}
        dsn["database"] = "bench"
        results: dict[str, dict[str, list[tuple[float, float]]]] = {}
        drivers: list[Callable[[], Any]] = [
            lambda: PsycopgDriver(conninfo),
            lambda: PsycopgPipelineDriver(conninfo),
            lambda: AsyncpgDriver(dsn),
        ]
        for _ in range(args.runs):  # interleaved, so that a slow moment of the machine hits both
            for make in drivers:
                driver = make()
                for workload, figure in (await one_run(driver, conninfo, args.steps)).items():
                    results.setdefault(driver.name, {}).setdefault(workload, []).append(figure)
    finally:
        cluster.stop()
    print(f"PostgreSQL test cluster, fsync {'on' if args.durable else 'off'}; {args.runs} runs, median (min-max)")
    print(f"{'driver':32} {'workload':16} {'wall us/txn':>22} {'CPU us/txn':>22}")
    for name, workloads in results.items():
        for workload, figures in workloads.items():
            wall = summary([w for w, _ in figures])
            cpu = summary([c for _, c in figures])
            print(f"{name:32} {workload:16} {wall:>22} {cpu:>22}")


if __name__ == "__main__":
    asyncio.run(main())
