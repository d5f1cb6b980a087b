"""SLEEP-RSS: 1,000 workflows blocked in a durable sleep must not hold 1,000 instances.

Submits ``sleep-host-activity({"seconds": 120})`` 1,000 times (bounded concurrency), waits until ListExecutions
shows all of them ``BlockedByJoinSet``, and reads the server's VmRSS from ``/proc/<pid>/status``: right after
start-up, once the first workflow is blocked (the one-off cost of loading and instantiating the component is
then paid), and once all 1,000 are. The marginal KiB per workflow (1 -> 1,000) is what a sleeping workflow
costs; a live componentize-py instance costs ~3 MiB, so holding instances would show as ~3 GiB. The server is
stopped without waiting for the timers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.harness import SLEEP_HOST_ACTIVITY, Api, BenchError, Row, ServerProcess, WorkloadResult, running_server

WORKFLOWS = 1000
FIRST_BATCH = 1
SLEEP_SECONDS = 120
SUBMIT_CONCURRENCY = 50
TIMEOUT_SECONDS = 120.0
INSTANCE_KIB = 3 * 1024


@dataclass(frozen=True)
class Footprint:
    baseline_kib: int
    first_batch_kib: int
    all_kib: int
    peak_kib: int
    threads_baseline: int
    threads_all: int
    blocked_after: float
    """Seconds from the first submit until all were BlockedByJoinSet."""

    @property
    def per_workflow_kib(self) -> float:
        return (self.all_kib - self.baseline_kib) / WORKFLOWS

    @property
    def marginal_kib(self) -> float:
        return (self.all_kib - self.first_batch_kib) / (WORKFLOWS - FIRST_BATCH)


async def _submit_all(api: Api, ids: list[str]) -> None:
    permits = asyncio.Semaphore(SUBMIT_CONCURRENCY)

    async def one(execution_id: str) -> None:
        async with permits:
            await api.submit(execution_id, SLEEP_HOST_ACTIVITY, [{"seconds": SLEEP_SECONDS}])

    await asyncio.gather(*(one(execution_id) for execution_id in ids))


async def _wait_all_blocked(api: Api, server: ServerProcess, count: int, deadline: float) -> None:
    while True:
        states = await api.states(SLEEP_HOST_ACTIVITY, limit=WORKFLOWS)
        if states["blocked_by_join_set"] >= count:
            return
        if server.process is not None and server.process.poll() is not None:
            raise BenchError(f"server exited:\n{server.output()}")
        if time.monotonic() > deadline:
            raise BenchError(f"only {dict(states)} of {count} sleeping workflows blocked in time")
        await asyncio.sleep(0.2)


async def one_run() -> Footprint:
    async with running_server() as (server, api, _tmp):
        await asyncio.sleep(0.5)  # let start-up allocations settle
        baseline = server.proc_status()
        ids = await api.generate_ids(WORKFLOWS)
        started = time.perf_counter()
        deadline = time.monotonic() + TIMEOUT_SECONDS
        await _submit_all(api, ids[:FIRST_BATCH])
        await _wait_all_blocked(api, server, FIRST_BATCH, deadline)
        first_batch = server.rss_kib()
        await _submit_all(api, ids[FIRST_BATCH:])
        await _wait_all_blocked(api, server, WORKFLOWS, deadline)
        blocked_after = time.perf_counter() - started
        after = server.proc_status()
        return Footprint(
            baseline_kib=int(baseline["VmRSS"].split()[0]),
            first_batch_kib=first_batch,
            all_kib=int(after["VmRSS"].split()[0]),
            peak_kib=int(after["VmHWM"].split()[0]),
            threads_baseline=int(baseline["Threads"]),
            threads_all=int(after["Threads"]),
            blocked_after=blocked_after,
        )


async def run(runs: int) -> WorkloadResult:
    results = [await one_run() for _ in range(runs)]
    mib = 1024.0
    median_marginal = sorted(r.marginal_kib for r in results)[len(results) // 2]
    return WorkloadResult(
        "SLEEP-RSS",
        [
            Row("SLEEP-RSS", "server RSS after start-up", "MiB", [r.baseline_kib / mib for r in results], decimals=1),
            Row(
                "SLEEP-RSS",
                f"server RSS, {WORKFLOWS} workflows sleeping",
                "MiB",
                [r.all_kib / mib for r in results],
                decimals=1,
            ),
            Row(
                "SLEEP-RSS",
                "per sleeping workflow (vs start-up)",
                "KiB",
                [r.per_workflow_kib for r in results],
                target=INSTANCE_KIB,
                decimals=1,
            ),
            Row(
                "SLEEP-RSS",
                f"per sleeping workflow (marginal, {FIRST_BATCH}→{WORKFLOWS})",
                "KiB",
                [r.marginal_kib for r in results],
                target=INSTANCE_KIB,
                decimals=1,
            ),
            Row("SLEEP-RSS", "peak RSS (VmHWM)", "MiB", [r.peak_kib / mib for r in results], decimals=1),
            Row("SLEEP-RSS", f"first submit→all {WORKFLOWS} blocked", "s", [r.blocked_after for r in results]),
        ],
        [
            f"SLEEP-RSS: all {WORKFLOWS} BlockedByJoinSet in every run; server threads "
            + ", ".join(f"{r.threads_baseline}→{r.threads_all}" for r in results)
            + f"; holding a ~3 MiB instance each would add ~{WORKFLOWS * INSTANCE_KIB / mib / 1024:.1f} GiB, "
            f"measured marginal cost is {median_marginal:.1f} KiB/workflow "
            f"({median_marginal / INSTANCE_KIB * 100:.1f} % of one instance)"
        ],
    )
