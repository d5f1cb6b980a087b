"""W1-engine: W1 (one ``fiboa(10, 500)``, 500 serial activity calls) with the project's tiny WAT fixtures as the
activity and the workflow instead of the componentize-py examples.

Instantiating a WAT component and calling it take microseconds, so what a step costs here is the engine's own
work around it: the workflow's host call, the step's writes and their commit, the hand-offs between threads.
Same method as W1: a fresh server and database per run, one warm-up ``fiboa(10, 1)``, Submit → finished status.
"""

from __future__ import annotations

from bench import w1_serial
from bench.harness import Row, WorkloadResult, ms, wat_components

ITERATIONS = w1_serial.ITERATIONS
TARGET_MS_PER_STEP = 0.4
"""Engine overhead per durable step the hot-path work aims at (when the floor probe reads under 1 ms)."""


async def run(runs: int) -> WorkloadResult:
    components = wat_components()
    results = [await w1_serial.one_run(components) for _ in range(runs)]
    seconds = [elapsed for elapsed, _ in results]
    breakdowns = [f"W1-engine run {n}: {b.describe()}" for n, (_, b) in enumerate(results, 1) if b is not None]
    return WorkloadResult(
        "W1-engine",
        [
            Row("W1-engine", f"fiboa(10, {ITERATIONS}) submit→finished, WAT", "s", seconds),
            Row(
                "W1-engine",
                "per serial step",
                "ms",
                [ms(s) / ITERATIONS for s in seconds],
                target=TARGET_MS_PER_STEP,
            ),
        ],
        [
            f"W1-engine: every run returned 55 ({runs} runs, {ITERATIONS} steps each, WAT fixtures);"
            " medians per step from the DB:",
            *breakdowns,
        ],
    )
