"""Hung guests: attempts that do not return by their deadline must not leak threads and instances.

Before: each timed-out attempt of ``sleep {"days": 1}`` kept its thread and its instance for the day (an epoch
deadline cannot interrupt a guest blocked inside wasmtime's WASI): 8 executions took a server from 22 to 65
threads and 155 to 331 MB. Now an activity's waits in WASI end at its deadline, so the attempt times out and its
thread and instance come back; and a guest stuck some other way (here: in a host call, the ``obelisk:log`` of a
log sink that blocks) is abandoned, counted, and bounded: at its component's bound the component takes no new
work and reports ``NOT_SERVING`` until its threads come back. In both, every execution ends as configured (timed
out after its retries, or run once the component takes work again), none is lost or run more than its retries
allow, and other components keep working.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from obelisk.concepts.events import Finished, Locked, TemporarilyTimedOut
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok, ReturnValue, Timeout
from obelisk.server import Server
from tests.faults.conftest import scaled, scaled_timeout
from tests.integration.server_harness import event_kinds, running_server, submit_and_wait, write_config
from tests.wasm.runtime_fixtures import activity_wasm
from tests.wat_fixtures import build_wat_fixture

WAT_CACHE = Path(__file__).resolve().parents[2] / "build" / "test-cache" / "wat"

SLEEP_INFLIGHT = 4
RSS_GROWTH_LIMIT_MIB = 32  # per round of hung attempts; before: ~20 MiB per stuck attempt, 16 per round


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def _events(server: Server, execution_id: ExecutionId) -> list[object]:
    return [e.event for e in (await server.executions.get(execution_id)).events]


async def _until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + scaled_timeout(timeout)
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_sleeping_activities_time_out_and_give_back_their_threads_and_memory(
    tmp_path: Path, built_components: Path, codegen_cache: Path, fault_scale: float
) -> None:
    count = scaled(8, fault_scale)
    config = write_config(
        tmp_path,
        codegen_cache,
        f"""
[[activity_wasm]]
name = "sleep"
location.path = "{built_components / "sleep_activity.wasm"}"
exec.lock_expiry = {{millis = 300}}
exec.max_inflight_instances = {SLEEP_INFLIGHT}
max_retries = 1
retry_exp_backoff = {{millis = 50}}

[[activity_wasm]]
name = "fibo"
location.path = "{built_components / "fibo_activity.wasm"}"
max_retries = 0
""",
    )
    async with running_server(config) as server:
        sleep_executor = next(e for e in server.executors if ":sleep:" in e.config.component_id)

        async def hang_round() -> None:
            sleeps = asyncio.gather(
                *(
                    submit_and_wait(server, "testing:sleep/sleep.sleep", [{"days": 1}], timeout=scaled_timeout(60))
                    for _ in range(count)
                )
            )
            await asyncio.sleep(0.1)
            _, fibo = await submit_and_wait(server, "testing:fibo/fibo.fibo", [10], timeout=scaled_timeout(10))
            assert fibo == Ok(ReturnValue(55)), "another component works while the sleeps hang"
            for execution_id, result in await sleeps:
                assert result == Timeout()
                events = await _events(server, execution_id)
                assert sum(isinstance(e, Locked) for e in events) == 2, "max_retries = 1: two attempts, no more"
                assert sum(isinstance(e, TemporarilyTimedOut) for e in events) == 1
                assert isinstance(events[-1], Finished)
            assert [e.abandoned_threads for e in server.executors] == [0, 0]
            await _until(lambda: sleep_executor.busy_threads == 0, 5, "every attempt's thread is back")

        # The first round also faults in each component's code and its allocator's arenas, which stay.
        await hang_round()
        threads_before, rss_before = threading.active_count(), _rss_mib()
        await hang_round()
        # Idle pool threads stay a while for the next attempts; none is stuck in a guest.
        assert threading.active_count() <= threads_before, threading.enumerate()
        assert _rss_mib() - rss_before < RSS_GROWTH_LIMIT_MIB, (rss_before, _rss_mib())


class _BlockingLogSink(logging.Handler):
    """A log sink that blocks on the messages ``hang`` until released, as a full pipe or a stalled disk would:
    a guest calling ``obelisk:log`` waits in a host call, where no deadline reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.unblock = threading.Event()
        self.blocked = 0

    def handle(self, record: logging.LogRecord) -> bool:  # not ``emit``: that runs under the handler's lock
        if "hang" in record.getMessage() and not self.unblock.is_set():
            self.blocked += 1
            self.unblock.wait(60)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        pass


@pytest.fixture
def log_sink() -> Iterator[_BlockingLogSink]:
    sink = _BlockingLogSink()
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


async def _health(port: int, component: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = await stub.Check(health_pb2.HealthCheckRequest(service=f"component:{component}"))
        return int(response.status)


async def test_guests_stuck_in_a_host_call_are_bounded_per_component(
    tmp_path: Path, codegen_cache: Path, log_sink: _BlockingLogSink, fault_scale: float
) -> None:
    bound = 2
    extra = scaled(2, fault_scale)
    config = write_config(
        tmp_path,
        codegen_cache,
        f"""
[[activity_wasm]]
name = "stuck"
location.path = "{activity_wasm()}"
exec.lock_expiry = {{millis = 200}}
exec.tick_sleep = {{millis = 50}}
exec.max_inflight_instances = {bound}
max_retries = 0

[[activity_wasm]]
name = "other"
location.path = "{build_wat_fixture("fibo", WAT_CACHE)}"
""",
    )
    async with running_server(config) as server:
        stuck = next(e for e in server.executors if ":stuck:" in e.config.component_id)
        first = [ExecutionId.generate() for _ in range(bound)]
        later = [ExecutionId.generate() for _ in range(extra)]
        for execution_id in first:
            await server.executions.submit(execution_id, "test:activity/probe.log-info", ["hang"])
        await _until(lambda: stuck.abandoned_threads == bound, 10, "both attempts are abandoned")
        for execution_id in first:
            result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), scaled_timeout(5))
            assert result == Timeout(), "recorded as timed out at the deadline, though its thread is stuck"
        assert await _health(server.api_port, "stuck") == health_pb2.HealthCheckResponse.NOT_SERVING
        assert await _health(server.api_port, "other") == health_pb2.HealthCheckResponse.SERVING

        for execution_id in later:
            await server.executions.submit(execution_id, "test:activity/probe.log-info", ["hang"])
        _, fibo = await submit_and_wait(server, "testing:fibo/fibo.fibo", [10], timeout=scaled_timeout(10))
        assert fibo == Ok(ReturnValue(55)), "another component keeps working"
        await asyncio.sleep(0.5)
        for execution_id in later:
            assert event_kinds((await server.executions.get(execution_id)).events) == ["Created"], "no new work"
        assert stuck.abandoned_threads == bound and log_sink.blocked == bound

        log_sink.unblock.set()
        await _until(lambda: stuck.abandoned_threads == 0, 5, "the stuck threads come back")
        for execution_id in later:
            result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), scaled_timeout(10))
            assert result == Ok(None)
            assert event_kinds((await server.executions.get(execution_id)).events) == ["Created", "Locked", "Finished"]
        for execution_id in first:  # the late results were refused: each ran once, as a timeout
            assert event_kinds((await server.executions.get(execution_id)).events) == ["Created", "Locked", "Finished"]
        assert await _health(server.api_port, "stuck") == health_pb2.HealthCheckResponse.SERVING
