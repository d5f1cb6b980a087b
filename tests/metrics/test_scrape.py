"""``/metrics`` of a real ``obelisk server run``: a workload of WAT components and webhook requests, then a scrape
over HTTP parsed with prometheus_client's own parser, checked against what the workload did; and again after a
restart, when the counters start from zero and the gauges read from the database are still right."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from obelisk.api.client import ApiClient
from tests.integration.server_harness import write_config
from tests.integration.server_process import ServerProcess
from tests.wat_fixtures import build_wat_fixture

pytestmark = pytest.mark.slow

FIBO = "testing:fibo/fibo.fibo"
TRAP = "testing:trap/trap.trap"
SLEEP = "testing:fibo-workflow/workflow.sleep-ms"
FIBO_RUNS = 5
TRAP_RUNS = 2

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> Samples:
    """Every sample of ``/metrics``, keyed by name and labels, as Prometheus would read them."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def run_to_end(client: ApiClient, ffqn: str, params: list[object]) -> None:
    execution_id = client.generate_execution_id()
    client.submit(execution_id, ffqn, params)
    for status in client.get_status(execution_id, follow=True):
        if status.HasField("finished_status"):
            return
    raise AssertionError(f"{execution_id} of {ffqn} did not finish")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.fixture
def config(tmp_path: Path, codegen_cache: Path, built_components: Path) -> Iterator[tuple[Path, dict[str, int]]]:
    wat = tmp_path / "wat"
    ports = {name: _free_port() for name in ("api", "metrics", "http")}
    components = f"""
[[activity_wasm]]
name = "fibo"
location.path = "{build_wat_fixture("fibo", wat)}"
exec.max_inflight_instances = 3

[[activity_wasm]]
name = "trap"
location.path = "{build_wat_fixture("trap", wat)}"
max_retries = 0

[[workflow]]
name = "sleeper"
location.path = "{build_wat_fixture("fibo_workflow", wat)}"

[[http_server]]
name = "external"
listening_addr = "127.0.0.1:{ports["http"]}"

[[webhook_endpoint]]
name = "trap_webhook"
location.path = "{built_components / "trap_webhook.wasm"}"
http_server = "external"
routes = ["/ok", "/trap/*"]
"""
    path = write_config(
        tmp_path, codegen_cache, components, extra=f'metrics.listening_addr = "127.0.0.1:{ports["metrics"]}"'
    )
    text = path.read_text().replace(
        'api.listening_addr = "127.0.0.1:0"', f'api.listening_addr = "127.0.0.1:{ports["api"]}"'
    )
    path.write_text(text)
    yield path, ports


def test_scraped_values_match_the_workload_and_the_gauges_survive_a_restart(
    config: tuple[Path, dict[str, int]],
) -> None:
    path, ports = config
    process = ServerProcess(path).start()
    try:
        with ApiClient(f"http://127.0.0.1:{ports['api']}") as client:
            for n in range(FIBO_RUNS):
                run_to_end(client, FIBO, [10 + n])
            for _ in range(TRAP_RUNS):
                run_to_end(client, TRAP, [])
            run_to_end(client, SLEEP, [50])
        http = f"http://127.0.0.1:{ports['http']}"
        statuses = [http_status(f"{http}/ok"), http_status(f"{http}/trap/now"), http_status(f"{http}/nowhere")]
        assert statuses == [200, 500, 404]
        samples = scrape(ports["metrics"])
    finally:
        process.terminate()

    assert value(samples, "obelisk_executions_created_total", ffqn=FIBO) == FIBO_RUNS
    assert value(samples, "obelisk_executions_finished_total", ffqn=FIBO, outcome="Ok") == FIBO_RUNS
    assert value(samples, "obelisk_executions_created_total", ffqn=TRAP) == TRAP_RUNS
    assert total(samples, "obelisk_executions_finished_total", ffqn=TRAP) == TRAP_RUNS
    assert value(samples, "obelisk_executions_finished_total", ffqn=TRAP, outcome="Ok") == 0
    assert value(samples, "obelisk_executions_finished_total", ffqn=SLEEP, outcome="Ok") == 1

    assert value(samples, "obelisk_executions", ffqn=FIBO, state="Finished") == FIBO_RUNS
    assert value(samples, "obelisk_executions", ffqn=FIBO, state="PendingAt") == 0
    assert value(samples, "obelisk_executions", ffqn=TRAP, state="Finished") == TRAP_RUNS

    # One attempt per fibo execution and per trap execution (no retries); the workflow's run waits out its short
    # sleep in place, so it may be one run.
    assert value(samples, "obelisk_attempt_duration_seconds_count", component="fibo", outcome="succeeded") == FIBO_RUNS
    assert total(samples, "obelisk_attempt_duration_seconds_count", component="trap") == TRAP_RUNS
    assert total(samples, "obelisk_attempt_duration_seconds_count", component="sleeper") >= 1
    inf_bucket = value(
        samples, "obelisk_attempt_duration_seconds_bucket", component="fibo", outcome="succeeded", le="+Inf"
    )
    assert inf_bucket == FIBO_RUNS
    assert value(samples, "obelisk_storage_commit_duration_seconds_count") >= FIBO_RUNS + TRAP_RUNS
    assert value(samples, "obelisk_timer_lag_seconds_count", kind="delay") == 1

    assert value(samples, "obelisk_webhook_requests_total", endpoint="trap_webhook", status="200") == 1
    assert value(samples, "obelisk_webhook_requests_total", endpoint="trap_webhook", status="500") == 1
    assert value(samples, "obelisk_webhook_requests_total", endpoint="", status="404") == 1

    assert value(samples, "obelisk_executor_permits", component="fibo") == 3
    assert value(samples, "obelisk_executor_permits_in_use", component="fibo") == 0
    assert value(samples, "obelisk_executor_due_backlog", component="fibo") == 0
    assert value(samples, "obelisk_abandoned_threads", component="trap") == 0
    assert value(samples, "obelisk_database_size_bytes") > 0

    restarted = ServerProcess(path).start()
    try:
        after = scrape(ports["metrics"])
    finally:
        restarted.terminate()
    assert value(after, "obelisk_executions_created_total", ffqn=FIBO) == 0  # counters are this process's
    assert value(after, "obelisk_executions", ffqn=FIBO, state="Finished") == FIBO_RUNS  # gauges are the database's
    assert value(after, "obelisk_executions", ffqn=TRAP, state="Finished") == TRAP_RUNS
    assert value(after, "obelisk_database_size_bytes") >= value(samples, "obelisk_database_size_bytes")
