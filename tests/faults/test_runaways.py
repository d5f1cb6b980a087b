"""Runaway workflows: faults that recur on every run must end the execution, not be retried for ever.

Also the scheduled-id squat: an id a workflow derives for what it schedules, taken by a client first.

A workflow in an endless loop is stopped by its lock's deadline on every run; a workflow that calls Python's
``time.sleep`` hits a forbidden call on every replay. Both used to be retried without end (79 CPU-seconds in
90 s for the loop).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from obelisk.concepts.events import Locked, TemporarilyTimedOut
from obelisk.concepts.ids import DeterministicIds, ExecutionId
from obelisk.concepts.results import ExecutionFailure, Ok
from obelisk.workers.workflow.worker import MAX_TIMEOUTS_IN_A_ROW
from tests.faults.conftest import scaled_timeout
from tests.integration.server_harness import running_server, submit_and_wait, write_config

pytestmark = pytest.mark.slow


def _components(built: Path) -> str:
    return f"""
[[activity_wasm]]
name = "flaky"
location.path = "{built / "flaky_activity.wasm"}"

[[workflow]]
name = "checks"
location.path = "{built / "checks_workflow.wasm"}"
exec.lock_expiry = {{millis = 400}}
retry_exp_backoff = {{millis = 10}}
"""


async def test_a_workflow_in_an_endless_loop_ends_after_its_timeouts_in_a_row(
    tmp_path: Path, built_components: Path, codegen_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_config(tmp_path, codegen_cache, _components(built_components))
    caplog.set_level(logging.INFO)
    async with running_server(path) as server:
        execution_id, result = await submit_and_wait(
            server, "testing:checks/workflow.endless-loop", [], timeout=scaled_timeout(30)
        )
        assert isinstance(result, ExecutionFailure)
        assert f"timed out {MAX_TIMEOUTS_IN_A_ROW} times in a row without recording progress" in result.reason
        events = [e.event for e in (await server.storage.get(execution_id)).events]
        assert sum(isinstance(e, Locked) for e in events) == MAX_TIMEOUTS_IN_A_ROW
        assert sum(isinstance(e, TemporarilyTimedOut) for e in events) == MAX_TIMEOUTS_IN_A_ROW - 1
    assert not [r for r in caplog.records if r.exc_info], "a guest's fault printed a host traceback"


async def test_a_forbidden_call_in_a_workflow_ends_it_at_once_with_what_to_use_instead(
    tmp_path: Path, built_components: Path, codegen_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_config(tmp_path, codegen_cache, _components(built_components))
    caplog.set_level(logging.INFO)
    async with running_server(path) as server:
        execution_id, result = await submit_and_wait(server, "testing:checks/workflow.forbidden-sleep", [10])
        assert isinstance(result, ExecutionFailure)
        # It names the call (time.sleep subscribes to an instant of the monotonic clock) and what to use instead.
        assert result.reason.startswith(
            "workflow error: the workflow called wasi:clocks/monotonic-clock@0.2.9#subscribe-instant"
            " (Python's time.sleep, or an asyncio timer): a workflow cannot wait on the real clock"
        )
        assert result.reason.endswith("use obelisk:workflow/host-activities.sleep instead, a durable sleep")
        events = [e.event for e in (await server.storage.get(execution_id)).events]
        assert sum(isinstance(e, Locked) for e in events) == 1
    assert not [r for r in caplog.records if r.exc_info], "a guest's fault printed a host traceback"


async def test_a_sleep_longer_than_time_can_hold_ends_the_workflow_naming_the_call(
    tmp_path: Path, built_components: Path, codegen_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``u64`` milliseconds fit the WIT type but not the database's times: it used to crash the worker with a
    storage traceback on every run."""
    path = write_config(tmp_path, codegen_cache, _components(built_components))
    caplog.set_level(logging.INFO)
    async with running_server(path) as server:
        execution_id, result = await submit_and_wait(server, "testing:checks/workflow.clock-random", [2**64 - 1])
        assert isinstance(result, ExecutionFailure)
        assert result.reason.startswith(
            "workflow error: obelisk:workflow/host-activities.sleep: invalid duration"
            " {'milliseconds': 18446744073709551615}: beyond what this host can hold"
        )
        events = [e.event for e in (await server.storage.get(execution_id)).events]
        assert sum(isinstance(e, Locked) for e in events) == 1
    assert not [r for r in caplog.records if r.exc_info], "a guest's fault printed a host traceback"


async def test_a_squatted_scheduled_id_ends_the_workflow_instead_of_looping(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    """The id of an execution a workflow schedules is derived from the workflow's own (public) id, so a client
    can create it first. Every replay derives the same id: the workflow must end, naming it, not retry for ever."""
    path = write_config(tmp_path, codegen_cache, _sleep_components(built_components))
    workflow = ExecutionId.generate()
    squatted = DeterministicIds(workflow).execution_id()
    async with running_server(path) as server:
        await server.executions.submit(squatted, "testing:sleep/sleep.sleep", [{"milliseconds": 1}])
        await server.executions.submit(workflow, "testing:sleep-workflow/workflow.reschedule", [{"milliseconds": 1}, 1])
        result = await asyncio.wait_for(server.executions.wait_for_result(workflow), scaled_timeout(10))
        assert isinstance(result, ExecutionFailure)
        assert f"cannot create execution {squatted}: an execution with that id exists already" in result.reason
        assert await server.executions.wait_for_result(squatted) == Ok(None)


def _sleep_components(built: Path) -> str:
    return f"""
[[activity_wasm]]
name = "sleep_activity"
location.path = "{built / "sleep_activity.wasm"}"

[[workflow]]
name = "sleep_workflow"
location.path = "{built / "sleep_workflow.wasm"}"
"""
