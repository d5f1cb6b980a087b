"""Activities end to end: real componentize-py components, a real SQLite file, the engine's Python API."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from obelisk.concepts.events import Locked, TemporarilyFailed, TemporarilyTimedOut
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.json_values import ValueTypeError
from obelisk.concepts.results import ExecutionFailure, FallibleError, Ok, ReturnValue, Timeout
from obelisk.registry import FunctionNotFound
from obelisk.storage.interface import ExecutionNotFound
from tests.integration.server_harness import event_kinds, running_server, submit_and_wait, write_config

pytestmark = pytest.mark.slow


def activities(components: Path, *, flaky: str = "", sleep: str = "", http: str = "") -> str:
    return f"""
[[activity_wasm]]
name = "fibo"
location.path = "{components / "fibo_activity.wasm"}"
max_retries = 0

[[activity_wasm]]
name = "flaky"
location.path = "{components / "flaky_activity.wasm"}"
retry_exp_backoff = {{millis = 100}}
{flaky}

[[activity_wasm]]
name = "sleep"
location.path = "{components / "sleep_activity.wasm"}"
{sleep}

[[activity_wasm]]
name = "http"
location.path = "{components / "http_activity.wasm"}"
retry_exp_backoff = {{millis = 50}}
{http}
"""


@pytest.fixture
def config_path(tmp_path: Path, built_components: Path, codegen_cache: Path) -> Path:
    return write_config(
        tmp_path,
        codegen_cache,
        activities(
            built_components,
            flaky="max_retries = 3",
            sleep="exec.lock_expiry = {millis = 500}\nmax_retries = 1\nretry_exp_backoff = {millis = 100}",
        ),
    )


async def test_fibo_through_the_python_api(config_path: Path) -> None:
    async with running_server(config_path) as server:
        execution_id, result = await submit_and_wait(server, "testing:fibo/fibo.fibo", [10])
        assert result == Ok(ReturnValue(55))
        log = await server.executions.get(execution_id)
        assert event_kinds(log.events) == ["Created", "Locked", "Finished"]


async def test_trap_is_retried_until_success(config_path: Path) -> None:
    async with running_server(config_path) as server:
        succeed_at = int(time.time() * 1000) + 250
        execution_id, result = await submit_and_wait(server, "testing:flaky/flaky.trap-before", [succeed_at])
        assert isinstance(result, Ok)
        assert result.value is not None and result.value.json >= succeed_at
        events = [e.event for e in (await server.executions.get(execution_id)).events]
        failures = [e for e in events if isinstance(e, TemporarilyFailed)]
        assert len(failures) >= 2
        # Each attempt's failure is the guest's own error, its traceback leading the detail, the wasm trap below.
        assert all(f.reason.startswith("RuntimeError: too early by ") for f in failures)
        for failure in failures:
            assert failure.detail is not None
            traceback, _, trap = failure.detail.partition("\n\n")
            assert traceback.startswith("Traceback (most recent call last):\n")
            assert traceback.endswith(failure.reason)
            assert trap.startswith("wasm trap: wasm `unreachable` instruction executed\n")
        # backoff doubles: the second retry waits twice as long as the first
        assert failures[1].backoff_expires_at - failures[0].backoff_expires_at >= 150_000


async def test_retries_exhausted_finish_as_execution_failure(config_path: Path) -> None:
    never = int(time.time() * 1000) + 3_600_000
    async with running_server(config_path) as server:
        execution_id, result = await submit_and_wait(server, "testing:flaky/flaky.trap-before", [never])
        assert isinstance(result, ExecutionFailure)
        assert result.reason.startswith("permanently failed - RuntimeError: too early by ")
        assert result.detail is not None and result.detail.startswith("Traceback (most recent call last):\n")
        kinds = event_kinds((await server.executions.get(execution_id)).events)
        assert kinds.count("Locked") == 4  # max_retries = 3: four attempts
        assert kinds.count("TemporarilyFailed") == 3


async def test_a_call_the_sandbox_refuses_ends_the_execution_naming_it_without_a_host_traceback(
    config_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Python's ``socket`` asks WASI for a TCP socket, which an activity does not get: no retry can heal that."""
    caplog.set_level(logging.INFO)
    async with running_server(config_path) as server:
        execution_id, result = await submit_and_wait(server, "testing:flaky/flaky.open-socket", [])
        assert result == ExecutionFailure(
            "call refused: the component called wasi:sockets/tcp-create-socket@0.2.9#create-tcp-socket, which this"
            " host does not provide: activities and webhooks have no sockets; make HTTP requests with"
            " wasi:http/outgoing-handler"
        )
        kinds = event_kinds((await server.executions.get(execution_id)).events)
        assert kinds == ["Created", "Locked", "Finished"]  # max_retries = 3, none used
    assert not [r for r in caplog.records if r.exc_info], "a guest's fault printed a host traceback"
    logged = [r.getMessage() for r in caplog.records if execution_id in r.getMessage()]
    assert logged == [f"{execution_id}: attempt failed: {result.reason}"]


async def test_timeout_is_retried_then_finishes_as_timeout(config_path: Path) -> None:
    async with running_server(config_path) as server:
        started = time.monotonic()
        execution_id, result = await submit_and_wait(server, "testing:sleep/sleep.sleep", [{"seconds": 5}])
        elapsed = time.monotonic() - started
        assert result == Timeout()
        events = [e.event for e in (await server.executions.get(execution_id)).events]
        assert sum(isinstance(e, TemporarilyTimedOut) for e in events) == 1
        assert sum(isinstance(e, Locked) for e in events) == 2
        # two attempts of 0.5 s plus a 0.1 s backoff, enforced by the executor although the guest blocks in WASI
        assert elapsed < 3.0


async def test_err_is_retried_when_retry_on_err(config_path: Path) -> None:
    async with running_server(config_path) as server:
        succeed_at = int(time.time() * 1000) + 250
        execution_id, result = await submit_and_wait(server, "testing:flaky/flaky.err-before", [succeed_at])
        assert isinstance(result, Ok)
        assert result.value is not None and result.value.json["ok"] >= succeed_at
        events = [e.event for e in (await server.executions.get(execution_id)).events]
        failures = [e for e in events if isinstance(e, TemporarilyFailed)]
        assert failures and all(f.reason == "activity returned an error" for f in failures)
        assert failures[0].detail == '{"err": "too early"}'


async def test_err_is_not_retried_without_retry_on_err(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    path = write_config(tmp_path, codegen_cache, activities(built_components, flaky="retry_on_err = false"))
    never = int(time.time() * 1000) + 3_600_000
    async with running_server(path) as server:
        execution_id, result = await submit_and_wait(server, "testing:flaky/flaky.err-before", [never])
        assert result == FallibleError(ReturnValue({"err": "too early"}))
        assert event_kinds((await server.executions.get(execution_id)).events) == ["Created", "Locked", "Finished"]


async def test_bad_params_and_unknown_functions_are_rejected_before_anything_is_written(config_path: Path) -> None:
    async with running_server(config_path) as server:
        execution_id = ExecutionId.generate()
        with pytest.raises(ValueTypeError, match=r"n.*expected u8.*300"):
            await server.executions.submit(execution_id, "testing:fibo/fibo.fibo", [300])
        with pytest.raises(ValueTypeError, match="expected 1"):
            await server.executions.submit(execution_id, "testing:fibo/fibo.fibo", [])
        with pytest.raises(FunctionNotFound, match=r"testing:fibo/fibo\.fibo"):
            await server.executions.submit(execution_id, "testing:fibo/fibo.fib", [1])
        with pytest.raises(ExecutionNotFound):
            await server.executions.get(execution_id)


async def test_submit_is_idempotent_on_the_execution_id(config_path: Path) -> None:
    async with running_server(config_path) as server:
        execution_id = ExecutionId.generate()
        first = await server.executions.submit(execution_id, "testing:fibo/fibo.fibo", [5])
        second = await server.executions.submit(execution_id, "testing:fibo/fibo.fibo", [5])
        assert first.created and not second.created
        assert await server.executions.wait_for_result(execution_id, timeout=20) == Ok(ReturnValue(5))
