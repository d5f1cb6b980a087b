"""W2: 200 one-step workflows (``fiboa(10, 1)``) submitted at once; workflows/s from first submit to last finished.

All 200 submits and their GetStatus follows run concurrently over one grpc.aio channel; ids are generated
before the clock starts. One warm-up ``fiboa(10, 1)`` runs first on each fresh server.
"""

from __future__ import annotations

import asyncio
import time

from bench.harness import (
    FIBOA,
    Api,
    BenchError,
    Row,
    WorkloadResult,
    ok_value,
    run_fiboa,
    running_server,
)
from bench.shootdowns import ShootdownCount

WORKFLOWS = 200
PEERS = {"Restate": 160.0, "DBOS": 131.0, "Temporal": 27.0}
TIMEOUT_SECONDS = 120.0


async def _submit_and_follow(api: Api, execution_id: str) -> float:
    await api.submit(execution_id, FIBOA, [10, 1])
    status = await api.finished(execution_id, timeout=TIMEOUT_SECONDS)
    if ok_value(status) != 55:
        raise BenchError(f"{execution_id} returned {ok_value(status)!r}, expected 55")
    return time.perf_counter()


async def one_run() -> tuple[float, float, float | None]:
    """(workflows/s, seconds from first submit to last finished, TLB shootdowns per workflow)."""
    async with running_server() as (_server, api, _tmp):
        await run_fiboa(api, 10, 1, timeout=60)
        ids = await api.generate_ids(WORKFLOWS)
        shootdowns = ShootdownCount()
        started = time.perf_counter()
        finished_at = await asyncio.wait_for(
            asyncio.gather(*(_submit_and_follow(api, execution_id) for execution_id in ids)), TIMEOUT_SECONDS
        )
        elapsed = max(finished_at) - started
        return WORKFLOWS / elapsed, elapsed, shootdowns.stop().per(WORKFLOWS)


async def run(runs: int) -> WorkloadResult:
    results = [await one_run() for _ in range(runs)]
    best = max(PEERS.values())
    return WorkloadResult(
        "W2",
        [
            Row(
                "W2",
                f"{WORKFLOWS} x fiboa(10, 1) at once",
                "wf/s",
                [r[0] for r in results],
                higher_is_better=True,
                peers=PEERS,
                target=best,
                decimals=1,
            ),
            Row("W2", "first submit→last finished", "s", [r[1] for r in results]),
        ],
        [
            f"W2: all {WORKFLOWS} workflows returned 55 in each of {runs} runs",
            *(
                f"W2 run {n}: {per:.1f} TLB shootdowns per workflow"
                for n, (_, _, per) in enumerate(results, 1)
                if per is not None
            ),
        ],
    )
