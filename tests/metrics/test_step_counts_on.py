"""Metrics on cost no work per step: the counted serial step and one-step workflow of ``bench.counts`` stay within
``bench/baseline.json`` with ``metrics.listening_addr`` set (counting is in memory; the database is read only when
Prometheus scrapes). The endpoint is scraped once the counting is over, to show that metrics were on."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench import counts, harness
from bench.databases import DATABASES

STEPS = 50


async def test_a_step_with_metrics_on_costs_no_more_than_the_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    port = harness.free_port()
    monkeypatch.setenv("OBELISK__metrics__listening_addr", f"127.0.0.1:{port}")  # the counted server's environment
    scraped: list[str] = []

    @contextlib.asynccontextmanager
    async def scraped_at_the_end(**kwargs: Any) -> AsyncIterator[Any]:
        async with harness.running_server(**kwargs) as running:
            yield running
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/metrics") as response,
            ):
                scraped.append(await response.text())

    monkeypatch.setattr(counts, "running_server", scraped_at_the_end)
    with DATABASES.using("sqlite"):
        measured, problems = await counts.measure_against(counts.load_baseline()["sqlite"], STEPS)
    assert measured.per_step["sql_data"] > 0, measured
    assert problems == []
    text = scraped[-1]
    created = {
        sample.labels["ffqn"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "obelisk_executions_created_total"
    }
    # Three fiboa workflows: the warm-up, the one-step one and the one of STEPS + 1 steps, each step a child.
    assert created["testing:fibo-workflow/workflow.fiboa"] == 3
    assert created["testing:fibo/fibo.fibo"] == 1 + 1 + STEPS + 1
