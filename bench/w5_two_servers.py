"""W5: W2 on PostgreSQL with one server, then with two servers sharing the database; workflows/s of each.

Each run makes a fresh database, starts one server, runs ``WORKFLOWS`` one-step workflows (``fiboa(10, 1)``) at
once through its API and stops it; then a fresh database with two servers (subprocesses, each with a data
directory and an API port of its own), half of the workflows submitted to and followed on each. The client is
the benchmark process, beside the servers and PostgreSQL on the same cores, so on a 2-core machine two servers
compete with each other for CPU: the ratio is reported, with no target. Checked: every workflow returns 55, and
with two servers both ran some of them (the executor ids of the ``Locked`` events in the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bench.databases import DATABASES, BenchDatabase
from bench.harness import (
    FIBOA,
    Api,
    BenchError,
    Row,
    ServerProcess,
    WorkloadResult,
    free_port,
    ok_value,
    run_fiboa,
    write_config,
)
from obelisk.concepts.events import Locked, event_from_json

WORKFLOWS = 200
TIMEOUT_SECONDS = 120.0


@contextlib.asynccontextmanager
async def _servers(count: int) -> AsyncIterator[tuple[list[Api], BenchDatabase]]:
    """``count`` servers on one fresh database, ready, each with its client."""
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="obelisk-bench-w5-")))
        database = stack.enter_context(DATABASES.fresh(root))
        servers: list[ServerProcess] = []
        apis: list[Api] = []
        try:
            for index in range(count):
                directory = root / f"server-{index}"
                directory.mkdir()
                port = free_port()
                servers.append(ServerProcess(write_config(directory, port, database)).launch())
                apis.append(Api(port))
            for server in servers:
                await server.wait_ready()
            yield apis, database
        finally:
            for api in apis:
                await api.close()
            for server in servers:
                server.stop()
                server.kill()


async def _submit_and_follow(api: Api, execution_id: str) -> float:
    await api.submit(execution_id, FIBOA, [10, 1])
    status = await api.finished(execution_id, timeout=TIMEOUT_SECONDS)
    if ok_value(status) != 55:
        raise BenchError(f"{execution_id} returned {ok_value(status)!r}, expected 55")
    return time.perf_counter()


async def _throughput(count: int) -> tuple[float, int]:
    """(workflows/s, how many servers ran workflows) with ``count`` servers."""
    async with _servers(count) as (apis, database):
        for api in apis:
            await run_fiboa(api, 10, 1, timeout=60)  # warm-up: each server's first run of each component
        ids = await apis[0].generate_ids(WORKFLOWS)
        started = time.perf_counter()
        finished_at = await asyncio.wait_for(
            asyncio.gather(*(_submit_and_follow(apis[i % count], eid) for i, eid in enumerate(ids))),
            TIMEOUT_SECONDS,
        )
        elapsed = max(finished_at) - started
        return WORKFLOWS / elapsed, _workflow_runners(database, ids)


def _workflow_runners(database: BenchDatabase, ids: list[str]) -> int:
    """How many executors locked the measured workflows (from their ``Locked`` events' JSON)."""
    placeholders = ", ".join("?" for _ in ids)
    rows = database.rows(
        f"SELECT json FROM execution_log WHERE event_type = 'Locked' AND execution_id IN ({placeholders})", ids
    )
    return len({_locked_by(text) for (text,) in rows})


def _locked_by(text: str) -> str:
    event = event_from_json(json.loads(text))
    assert isinstance(event, Locked), event
    return str(event.executor_id)


async def run(runs: int) -> WorkloadResult:
    if DATABASES.kind != "postgres":
        raise BenchError("W5 runs on PostgreSQL only: bench/run.py --db postgres")
    one: list[float] = []
    two: list[float] = []
    for _ in range(runs):
        rate, _runners = await _throughput(1)
        one.append(rate)
        rate, runners = await _throughput(2)
        if runners < 2:
            raise BenchError(f"with two servers only {runners} executor ran the workflows")
        two.append(rate)
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    return WorkloadResult(
        "W5",
        [
            Row("W5", f"{WORKFLOWS} x fiboa(10, 1), one server", "wf/s", one, higher_is_better=True, decimals=1),
            Row("W5", f"{WORKFLOWS} x fiboa(10, 1), two servers", "wf/s", two, higher_is_better=True, decimals=1),
            Row("W5", "two servers / one server", "x", ratios, higher_is_better=True, decimals=2),
        ],
        [f"W5: all {WORKFLOWS} workflows returned 55 in each run; with two servers both ran some ({runs} runs)"],
    )
