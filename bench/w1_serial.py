"""W1: one ``fiboa(10, 500)`` workflow, i.e. 500 serial activity calls, each durably recorded before the next.

Measured from Submit to the finished status arriving on the GetStatus follow stream, on a fresh server and
database per run after one warm-up ``fiboa(10, 1)`` (so the figure is the steady state; W3 covers cold start).
"""

from __future__ import annotations

from bench.harness import Row, WorkloadResult, ms, run_fiboa, running_server

ITERATIONS = 500
PEERS = {"Restate": 0.62, "DBOS": 0.93, "Temporal": 24.0}
TIMEOUT_SECONDS = 120.0


async def one_run() -> float:
    async with running_server() as (_server, api, _tmp):
        await run_fiboa(api, 10, 1, timeout=60)
        _id, elapsed = await run_fiboa(api, 10, ITERATIONS, timeout=TIMEOUT_SECONDS)
        return elapsed


async def run(runs: int) -> WorkloadResult:
    seconds = [await one_run() for _ in range(runs)]
    return WorkloadResult(
        "W1",
        [
            Row(
                "W1", f"fiboa(10, {ITERATIONS}) submit→finished", "s", seconds, peers=PEERS, target=min(PEERS.values())
            ),
            Row("W1", "per serial step", "ms", [ms(s) / ITERATIONS for s in seconds]),
        ],
        [f"W1: every run returned 55 ({runs} runs, {ITERATIONS} steps each)"],
    )
