"""W1: one ``fiboa(10, 500)`` workflow, i.e. 500 serial activity calls, each durably recorded before the next.

Measured from Submit to the finished status arriving on the GetStatus follow stream, on a fresh server and
database per run after one warm-up ``fiboa(10, 1)`` (so the figure is the steady state; W3 covers cold start).
The event timestamps the run left in the database then say where a step's time goes (a diagnostic line).
"""

from __future__ import annotations

from bench.harness import (
    EXAMPLES,
    Components,
    Row,
    StepBreakdown,
    WorkloadResult,
    ms,
    run_fiboa,
    running_server,
    step_breakdown,
)
from bench.shootdowns import ShootdownCount

ITERATIONS = 500
PEERS = {"Restate": 0.62, "DBOS": 0.93, "Temporal": 24.0}
"""Last recorded on this machine (bench/README.md); ``bench/run.py --peers DIR`` measures them in the same run."""
TIMEOUT_SECONDS = 120.0


async def one_run(components: Components = EXAMPLES) -> tuple[float, StepBreakdown | None]:
    async with running_server(components=components) as (_server, api, database):
        await run_fiboa(api, 10, 1, timeout=60)
        shootdowns = ShootdownCount()
        execution_id, elapsed = await run_fiboa(api, 10, ITERATIONS, timeout=TIMEOUT_SECONDS)
        return elapsed, step_breakdown(database, execution_id, shootdowns.stop().per(ITERATIONS))


async def run(runs: int) -> WorkloadResult:
    results = [await one_run() for _ in range(runs)]
    seconds = [elapsed for elapsed, _ in results]
    breakdowns = [f"W1 run {n}: {b.describe()}" for n, (_, b) in enumerate(results, 1) if b is not None]
    return WorkloadResult(
        "W1",
        [
            Row(
                "W1", f"fiboa(10, {ITERATIONS}) submit→finished", "s", seconds, peers=PEERS, target=min(PEERS.values())
            ),
            Row("W1", "per serial step", "ms", [ms(s) / ITERATIONS for s in seconds]),
        ],
        [
            f"W1: every run returned 55 ({runs} runs, {ITERATIONS} steps each); medians per step from the DB:",
            *breakdowns,
        ],
    )
