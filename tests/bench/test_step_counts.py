"""The work of one serial step, counted (not timed): it must not grow past ``bench/baseline.json``.

A real server subprocess (``bench.counted_server``: the counters are installed from outside the engine) runs W1
with the WAT fixtures on a real SQLite file, and on a database of the test session's PostgreSQL cluster.
Statements, commits and hand-offs per step are deterministic, so the comparison holds on any machine at any load.
When a change lowers a count, record the new baseline with ``bench/run.py --record-baseline [--db postgres]``;
when it must raise one, record it and say why in the commit.
"""

from __future__ import annotations

from bench import counts
from bench.databases import DATABASES
from tests.postgres_cluster import PostgresCluster

STEPS = 50


async def test_a_serial_step_and_a_workflow_cost_no_more_than_the_baseline() -> None:
    with DATABASES.using("sqlite"):
        measured = await counts.measure(STEPS)
    # The counters see the engine's work at all (a server that bypassed them would pass any baseline).
    assert measured.per_step["sql"] >= 1, measured
    assert measured.per_step["commits_written"] > 0, measured
    assert measured.per_workflow["thread_handoffs"] >= 1, measured
    assert counts.exceeded(measured, counts.load_baseline()["sqlite"]) == []


async def test_on_postgresql_too(postgres_cluster: PostgresCluster) -> None:
    with DATABASES.using_cluster(postgres_cluster):
        measured = await counts.measure(STEPS)
    assert measured.per_step["sql"] >= 1, measured
    assert measured.per_step["commits_written"] > 0, measured
    assert counts.exceeded(measured, counts.load_baseline()["postgres"]) == []


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
