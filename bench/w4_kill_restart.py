"""W4: ``kill -9`` of the server in the middle of W1, restart, and check that nothing recorded runs again.

A ``fiboa(10, 500)`` runs until ~150 of its activity results are recorded (read from the database), then the
server gets SIGKILL and a new process starts on the same database. Reported: launch of the new process → the
first activity result recorded after it (the earliest child ``Finished`` event created after the launch, from
the event timestamps in the database). Checked: the workflow finishes with 55, it has exactly 500 children, each
child has exactly one ``Finished`` event, and at most one child (the one in flight at the kill) was locked more
than once, so no activity whose result was recorded ran again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

from bench.databases import BenchDatabase
from bench.harness import (
    FIBOA,
    BenchError,
    Row,
    ServerProcess,
    WorkloadResult,
    ok_value,
    running_server,
)
from bench.w3_cold_start import warm_bytecode_cache

ITERATIONS = 500
KILL_AFTER_STEPS = 150
TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.005
TARGET_SECONDS = 0.5


@dataclass(frozen=True)
class Crash:
    to_first_step: float
    """Launch of the restarted process → first child ``Finished`` after it."""
    ready_to_first_step: float
    to_ready_line: float
    steps_before_kill: int
    rerun_activities: int
    total_seconds: float
    """Submit → finished, including the crash and restart."""


async def _wait_for_steps(database: BenchDatabase, execution_id: str, steps: int, server: ServerProcess) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        rows = database.rows("SELECT response_count FROM execution_state WHERE execution_id = ?", (execution_id,))
        if rows and rows[0][0] >= steps:
            return
        if server.process is not None and server.process.poll() is not None:
            raise BenchError(f"server exited before the kill:\n{server.output()}")
        if time.monotonic() > deadline:
            raise BenchError(f"{execution_id}: fewer than {steps} steps within {TIMEOUT_SECONDS:.0f} s")
        await asyncio.sleep(POLL_SECONDS)


def _check_children(database: BenchDatabase, execution_id: str, restarted_at_us: int) -> tuple[int, int]:
    """(reruns, µs timestamp of the first child Finished after the restart); raises on a broken guarantee."""
    events = database.rows(
        "SELECT l.execution_id, l.event_type, l.created_at FROM execution_log AS l "
        "JOIN execution_state AS s ON s.execution_id = l.execution_id WHERE s.parent_execution_id = ?",
        (execution_id,),
    )
    children = {row[0] for row in events}
    if len(children) != ITERATIONS:
        raise BenchError(f"{execution_id} has {len(children)} children, expected {ITERATIONS}")
    finished = Counter(row[0] for row in events if row[1] == "Finished")
    locked = Counter(row[0] for row in events if row[1] == "Locked")
    wrong = {child: finished[child] for child in children if finished[child] != 1}
    if wrong:
        raise BenchError(f"children without exactly one Finished event: {sorted(wrong.items())[:5]}")
    reruns = sum(1 for child in children if locked[child] > 1)
    if reruns > 1:
        raise BenchError(f"{reruns} activities were locked more than once: a recorded step ran again")
    after = [row[2] for row in events if row[1] == "Finished" and row[2] >= restarted_at_us]
    if not after:
        raise BenchError("no activity result was recorded after the restart")
    return reruns, min(after)


async def one_run() -> Crash:
    async with running_server() as (server, api, database):
        (execution_id,) = await api.generate_ids(1)
        started = time.perf_counter()
        await api.submit(execution_id, FIBOA, [10, ITERATIONS])
        await _wait_for_steps(database, execution_id, KILL_AFTER_STEPS, server)
        server.kill()
        steps = database.rows("SELECT response_count FROM execution_state WHERE execution_id = ?", (execution_id,))
        server.launch()  # the same config and database: a restart
        status = await api.finished(execution_id, timeout=TIMEOUT_SECONDS)
        total = time.perf_counter() - started
        value = ok_value(status)
        if value != 55:
            raise BenchError(f"fiboa(10, {ITERATIONS}) returned {value!r} after the restart, expected 55")
        ready = await server.wait_ready(10)
        launched_us = int(server.launched_wall * 1_000_000)
        reruns, first_us = _check_children(database, execution_id, launched_us)
        to_first = (first_us - launched_us) / 1_000_000
        return Crash(to_first, to_first - ready, ready, int(steps[0][0]), reruns, total)


async def run(runs: int) -> WorkloadResult:
    stale = warm_bytecode_cache()  # as in W3: the restart is timed with the bytecode an installed package has
    results = [await one_run() for _ in range(runs)]
    return WorkloadResult(
        "W4",
        [
            Row("W4", "restart launch→first new step", "s", [r.to_first_step for r in results], target=TARGET_SECONDS),
            Row("W4", "restart launch→'Server is ready' line", "s", [r.to_ready_line for r in results]),
            Row("W4", "'Server is ready'→first new step", "s", [r.ready_to_first_step for r in results]),
            Row("W4", f"fiboa(10, {ITERATIONS}) submit→finished incl. crash", "s", [r.total_seconds for r in results]),
        ],
        [
            f"W4: passed {runs}/{runs}: result 55, {ITERATIONS} children each Finished exactly once; "
            f"killed after {', '.join(str(r.steps_before_kill) for r in results)} recorded steps; "
            "activities locked twice (the one in flight at the kill): "
            + ", ".join(str(r.rerun_activities) for r in results)
            + f"; {stale} stale .pyc files of obelisk compiled before the runs"
        ],
    )
