"""The work of one serial step, counted (not timed): it must not grow past ``bench/baseline.json``.

A real server subprocess (``bench.counted_server``: the counters are installed from outside the engine) runs W1
with the WAT fixtures on a real SQLite file, and on a database of the test session's PostgreSQL cluster.
Statements and commits per step are deterministic, so the comparison holds on any machine at any load; the hand-off
figures depend on timing a little, and are measured again when only they exceed (``counts.measure_against``).
When a change lowers a count, record the new baseline with ``bench/run.py --record-baseline [--db postgres]``;
when it must raise one, record it and say why in the commit.
"""

from __future__ import annotations

import pytest

from bench import counts
from bench.databases import DATABASES
from tests.postgres_cluster import PostgresCluster

STEPS = 50


async def test_a_serial_step_and_a_workflow_cost_no_more_than_the_baseline() -> None:
    with DATABASES.using("sqlite"):
        measured, problems = await counts.measure_against(counts.load_baseline()["sqlite"], STEPS)
    # The counters see the engine's work at all (a server that bypassed them would pass any baseline).
    assert measured.per_step["sql_data"] > 0, measured
    assert measured.per_step["commits_written"] > 0, measured
    assert measured.per_workflow["thread_handoffs"] >= 1, measured
    assert problems == []


async def test_on_postgresql_too(postgres_cluster: PostgresCluster) -> None:
    with DATABASES.using_cluster(postgres_cluster):
        measured, problems = await counts.measure_against(counts.load_baseline()["postgres"], STEPS)
    assert measured.per_step["sql_data"] > 0, measured
    assert measured.per_step["commits_written"] > 0, measured
    assert problems == []


def test_the_check_refuses_a_count_above_the_baseline() -> None:
    baseline = counts.load_baseline()["sqlite"]
    grown = counts.StepCounts(
        per_step={**baseline["per_step"], "sql": baseline["per_step"]["sql"] + 2},
        per_workflow=dict(baseline["per_workflow"]),
        idle={},
    )
    (problem,) = counts.exceeded(grown, baseline)
    assert problem.startswith("sql per step:"), problem
    assert counts.exceeded(counts.StepCounts(baseline["per_step"], baseline["per_workflow"], {}), baseline) == []


async def test_only_timing_figures_are_measured_again_and_their_smallest_reading_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    baseline = counts.load_baseline()["sqlite"]

    def reading(sql: float = 0.0, hops: float = 0.0) -> counts.StepCounts:
        per_step = dict(baseline["per_step"])
        per_step["sql"] += sql
        per_step["event_loop_hops"] += hops
        return counts.StepCounts(per_step, dict(baseline["per_workflow"]), {})

    async def check(readings: list[counts.StepCounts]) -> tuple[list[str], int]:
        taken = iter(readings)
        calls = 0

        async def measure(steps: int = counts.STEPS) -> counts.StepCounts:
            nonlocal calls
            calls += 1
            return next(taken)

        monkeypatch.setattr(counts, "measure", measure)
        _, problems = await counts.measure_against(baseline)
        return problems, calls

    assert await check([reading(hops=1.5), reading()]) == ([], 2)  # a spike in one reading
    problems, calls = await check([reading(hops=1.0), reading(hops=1.2), reading(hops=1.1)])  # a hop added per step
    assert calls == counts.TIMING_ATTEMPTS and [p.split(":")[0] for p in problems] == ["event_loop_hops per step"]
    problems, calls = await check([reading(sql=2), reading()])  # deterministic figures are read once
    assert calls == 1 and [p.split(":")[0] for p in problems] == ["sql per step"]
