"""The ``/metrics`` listener of in-process servers: where it may listen, one registry per server, the counters the
workload test cannot reach (expired locks), and the Grafana dashboard built on exactly these metric names."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from obelisk.concepts.clock import SystemClock
from obelisk.concepts.events import Created, Locked
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, ExecutorId, RunId
from obelisk.config import ConfigError, load_config
from obelisk.config.exposure import is_loopback
from obelisk.server import Server
from obelisk.storage.interface import AppendEvents, CreateExecution
from tests.integration.server_harness import running_server, submit_and_wait, write_config
from tests.wasm.runtime_fixtures import activity_wasm
from tests.wat_fixtures import build_wat_fixture

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "docs" / "grafana-dashboard.json"
FIBO = "testing:fibo/fibo.fibo"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _config(tmp_path: Path, metrics: str) -> Path:
    components = f'[[activity_wasm]]\nname = "fibo"\nlocation.path = "{build_wat_fixture("fibo", tmp_path / "wat")}"\n'
    return write_config(tmp_path, tmp_path / "codegen", components, extra=metrics)


async def _scrape(server: Server) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.metrics_port}/metrics") as response,
    ):
        assert response.status == 200
        return await response.text()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.parametrize(
    ("addr", "loopback"),
    [
        *[("127.0.0.1:9464", True), ("127.3.4.5:1", True), ("[::1]:9464", True), ("localhost:9464", True)],
        *[("0.0.0.0:9464", False), ("[::]:9464", False), ("192.168.1.5:9464", False), ("example.org:9464", False)],
    ],
)
def test_loopback_addresses(addr: str, loopback: bool) -> None:
    assert is_loopback(addr) is loopback


def test_a_listener_off_loopback_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "obelisk.toml"
    path.write_text('api.listening_addr = "127.0.0.1:5005"\nmetrics.listening_addr = "0.0.0.0:9464"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path, {"HOME": str(tmp_path)})
    message = str(refused.value)
    assert "metrics.listening_addr" in message and "metrics.allow_unauthenticated = true" in message
    allowed = '[metrics]\nlistening_addr = "0.0.0.0:9464"\nallow_unauthenticated = true\n'
    path.write_text('api.listening_addr = "127.0.0.1:5005"\n' + allowed)
    assert load_config(path, {"HOME": str(tmp_path)}).config.metrics.listening_addr == "0.0.0.0:9464"


async def test_off_by_default_and_one_registry_per_server(tmp_path: Path) -> None:
    async with running_server(_config(tmp_path / "off", "")) as off:
        assert off.metrics is None
        with pytest.raises(RuntimeError, match=r"metrics\.listening_addr is not set"):
            _ = off.metrics_port
    first_path = _config(tmp_path / "a", 'metrics.listening_addr = "127.0.0.1:0"')
    second_path = _config(tmp_path / "b", 'metrics.listening_addr = "127.0.0.1:0"')
    async with running_server(first_path) as first, running_server(second_path) as second:
        await submit_and_wait(first, FIBO, [10])
        await submit_and_wait(first, FIBO, [11])
        await submit_and_wait(second, FIBO, [12])
        created = "obelisk_executions_created_total", frozenset({("ffqn", FIBO)})
        assert _samples(await _scrape(first))[created] == 2
        assert _samples(await _scrape(second))[created] == 1


async def test_a_lock_expired_by_the_timers_watcher_is_counted_with_its_lag(tmp_path: Path) -> None:
    """A run of another (dead) server, locked until a moment from now: this server's watcher ends it."""
    async with running_server(_config(tmp_path, 'metrics.listening_addr = "127.0.0.1:0"')) as server:
        (fibo,) = [e for e in server.registry.components if e.name == "fibo"]
        now = SystemClock().now_us()
        execution_id = ExecutionId.generate()
        created = Created(Ffqn.parse(FIBO), [10], now, str(fibo.component_id), 1, 0)
        locked = Locked(str(fibo.component_id), ExecutorId.generate(), RunId.generate(), now + 50_000)
        await server.storage.write(
            [CreateExecution(execution_id, created), AppendEvents(execution_id, 1, [locked])], now
        )
        await asyncio.wait_for(server.executions.wait_for_result(execution_id), 10)
        samples = _samples(await _scrape(server))
    assert samples["obelisk_expired_locks_total", frozenset({("ffqn", FIBO)})] == 1
    assert samples["obelisk_timer_lag_seconds_count", frozenset({("kind", "lock")})] == 1


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def _label_names(server: Server) -> dict[str, set[str]]:
    """Each metric's label names, read from the metric objects: a labelled metric without a sample yet (no webhook
    request so far) shows none in the exposition."""
    assert server.metrics is not None
    return {
        metric._name: set(metric._labelnames)
        for metric in vars(server.metrics).values()
        if isinstance(metric, MetricWrapperBase)
    }


async def test_every_dashboard_query_uses_metrics_and_labels_the_server_exports(tmp_path: Path) -> None:
    async with running_server(_config(tmp_path, 'metrics.listening_addr = "127.0.0.1:0"')) as server:
        await submit_and_wait(server, FIBO, [10])
        families = list(text_string_to_metric_families(await _scrape(server)))
        label_names = _label_names(server)
    exported = {family.name + suffix for family in families for suffix in SUFFIXES[family.type]}
    assert {family.name for family in families} == set(label_names)
    assert {
        "obelisk_executions_created_total",
        "obelisk_expired_locks_total",
        "obelisk_database_size_bytes",
    } <= exported
    exprs = _dashboard_exprs()
    assert len(exprs) >= 10
    used: set[str] = set()
    for expr in exprs:
        names = set(re.findall(r"\bobelisk_[a-z_]+", expr))
        assert names, f"a query without an obelisk metric: {expr}"
        assert names <= exported, f"{expr}: {sorted(names - exported)} not exported"
        used |= names
        families_used = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in names}
        labels = {"instance", "job", "le"}.union(*(label_names[family] for family in families_used))
        grouped = {
            label.strip()
            for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
            for label in clause.split(",")
            if label.strip()
        }
        selected = set(re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)\s*\"", expr))
        assert grouped | selected <= labels, f"{expr}: labels {sorted((grouped | selected) - labels)} not exported"
    # Every metric has a panel.
    assert set(label_names) <= {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used}


class _BlockingGuestLog(logging.Handler):
    """Blocks a guest's ``obelisk:log`` call with "hang" until released: a guest stuck in a host call, where no
    deadline reaches it, so its attempt's thread is abandoned (as ``tests/faults/test_hung_guests.py`` does)."""

    def __init__(self) -> None:
        super().__init__()
        self.unblock = threading.Event()

    def handle(self, record: logging.LogRecord) -> bool:
        if "hang" in record.getMessage() and not self.unblock.is_set():
            self.unblock.wait(60)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        pass


@pytest.fixture
def blocking_guest_log() -> Iterator[_BlockingGuestLog]:
    sink = _BlockingGuestLog()
    guest_logger = logging.getLogger("obelisk.guest")
    guest_logger.addHandler(sink)
    previous = guest_logger.level
    guest_logger.setLevel(logging.INFO)
    try:
        yield sink
    finally:
        sink.unblock.set()
        guest_logger.removeHandler(sink)
        guest_logger.setLevel(previous)


async def test_an_abandoned_attempt_its_thread_and_the_backlog_behind_it(
    tmp_path: Path, blocking_guest_log: _BlockingGuestLog
) -> None:
    """A component at its bound of abandoned threads takes no work: what waits shows as its due backlog."""
    components = f"""
[[activity_wasm]]
name = "stuck"
location.path = "{activity_wasm()}"
exec.lock_expiry = {{millis = 200}}
exec.tick_sleep = {{millis = 50}}
exec.max_inflight_instances = 1
max_retries = 0
"""
    path = write_config(tmp_path, tmp_path / "codegen", components, extra='metrics.listening_addr = "127.0.0.1:0"')
    stuck = frozenset({("component", "stuck")})
    async with running_server(path) as server:
        hung = ExecutionId.generate()
        await server.executions.submit(hung, "test:activity/probe.log-info", ["hang"])
        await asyncio.wait_for(server.executions.wait_for_result(hung), 10)
        waiting = [ExecutionId.generate() for _ in range(2)]
        for execution_id in waiting:
            await server.executions.submit(execution_id, "test:activity/probe.log-info", ["hang"])
        during = _samples(await _scrape(server))
        blocking_guest_log.unblock.set()
        for execution_id in waiting:
            await asyncio.wait_for(server.executions.wait_for_result(execution_id), 10)
        after = _samples(await _scrape(server))
    assert during["obelisk_abandoned_attempts_total", stuck] == 1
    assert during["obelisk_abandoned_threads", stuck] == 1
    assert during["obelisk_executor_due_backlog", stuck] == len(waiting)
    assert during["obelisk_executor_permits_in_use", stuck] == 0, "the timed-out run gave its permit back"
    assert during["obelisk_attempt_duration_seconds_count", stuck | {("outcome", "timed_out")}] == 1
    assert after["obelisk_abandoned_attempts_total", stuck] == 1
    assert after["obelisk_abandoned_threads", stuck] == 0
    assert after["obelisk_executor_due_backlog", stuck] == 0
    assert after["obelisk_attempt_duration_seconds_count", stuck | {("outcome", "succeeded")}] == len(waiting)
