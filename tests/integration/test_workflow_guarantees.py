"""What workflows promise: child errors propagate, replays are deterministic, output is logged once, misuse is an
error, a changed binary that diverges is detected, and start-up refuses unsatisfied imports."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path

import pytest

from obelisk.concepts.events import FinishedState, JoinNext, PendingAt
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import ExecutionFailure, NondeterminismDetected, Ok, ReturnValue
from obelisk.config import load_config
from obelisk.registry import UnresolvedImport
from obelisk.server import Server
from obelisk.storage.interface import LockedExecution
from obelisk.workers.outcome import Succeeded
from obelisk.workers.worker import AttemptDeadline
from obelisk.workers.workflow.worker import WorkflowWorker
from tests.integration.server_harness import running_server, submit_and_wait, write_config
from tests.wat_fixtures import build_wat_fixture

pytestmark = pytest.mark.slow
NEVER = 4_000_000_000_000  # unix millis far in the future: trap-before always traps


def checks_components(components: Path, strategy: str) -> str:
    return f"""
[[activity_wasm]]
name = "flaky"
location.path = "{components / "flaky_activity.wasm"}"
max_retries = 0

[[workflow]]
name = "checks"
location.path = "{components / "checks_workflow.wasm"}"
join_next_blocking_strategy = "{strategy}"
exec.lock_expiry = {{secs = 5}}
"""


@pytest.fixture(params=["await", "interrupt"])
def config_path(request: pytest.FixtureRequest, tmp_path: Path, built_components: Path, codegen_cache: Path) -> Path:
    return write_config(tmp_path, codegen_cache, checks_components(built_components, str(request.param)))


async def test_a_direct_call_fails_the_parent_with_the_childs_reason(config_path: Path) -> None:
    async with running_server(config_path) as server:
        execution_id, result = await submit_and_wait(server, "testing:checks/workflow.call-trap", [NEVER])
        assert isinstance(result, ExecutionFailure)
        # The child's own error (its Python exception), and its traceback as the detail.
        assert result.reason.startswith(
            "child finished with an execution error: permanently failed - RuntimeError: too early by"
        )
        assert result.detail is not None and result.detail.startswith("Traceback (most recent call last):\n")
        child = await server.executions.get(execution_id.child(0))
        assert isinstance(child.pending_state, FinishedState)


async def test_await_next_returns_the_childs_error_to_the_workflow(config_path: Path) -> None:
    async with running_server(config_path) as server:
        execution_id, result = await submit_and_wait(server, "testing:checks/workflow.await-trap", [NEVER])
        assert isinstance(result, Ok) and result.value is not None
        text = result.value.json
        assert text.startswith(
            f"err {execution_id.child(0)} ExecutionError_PermanentFailure permanently failed - RuntimeError: too early"
        )


async def test_await_next_on_an_empty_join_set_is_an_error_not_a_hang(config_path: Path) -> None:
    async with running_server(config_path) as server:
        _, result = await submit_and_wait(server, "testing:checks/workflow.await-empty", [], timeout=10)
        assert isinstance(result, ExecutionFailure)
        assert "no unanswered request" in result.reason
        assert "JoinSet_" in result.reason


async def test_replays_see_the_same_clock_and_random_values(config_path: Path) -> None:
    async with running_server(config_path) as server:
        execution_id, result = await submit_and_wait(server, "testing:checks/workflow.clock-random", [200])
        assert isinstance(result, Ok) and result.value is not None
        before, after = result.value.json.split(" / ")
        log = await server.executions.get(execution_id)
        # the workflow clock: scheduled_at before any response, then the delay's response time
        assert float(before.split("|")[0]) == pytest.approx(log.created.scheduled_at / 1e6, abs=1e-6)
        assert float(after.split("|")[0]) == pytest.approx(log.responses[0].created_at / 1e6, abs=1e-6)
        assert before.split("|")[2:] != after.split("|")[2:]  # random values move on...
        # ...and two more replays of the finished history read exactly the same values
        worker = next(e._worker for e in server.executors if isinstance(e._worker, WorkflowWorker))
        history = [e for e in log.events if type(e.event).__name__ not in ("Created", "Locked", "Finished")]
        replay = LockedExecution(
            execution_id=execution_id,
            run_id=log.events[1].event.run_id,  # type: ignore[union-attr]
            version=len(log.events) - 1,
            created=log.created,
            lock_expires_at=server.clock.now_us() + 5_000_000,
            temporary_event_count=0,
            history=history,
            responses=log.responses,
        )
        for _ in range(2):
            outcome = await asyncio.to_thread(worker.run, replay, AttemptDeadline(replay.lock_expires_at))
            assert outcome == Succeeded(Ok(ReturnValue(result.value.json)), version=len(log.events) - 1)


async def test_output_is_logged_once_although_the_workflow_replays(
    tmp_path: Path, built_components: Path, codegen_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_config(tmp_path, codegen_cache, checks_components(built_components, "interrupt"))
    caplog.set_level(logging.INFO, logger="obelisk.guest")
    async with running_server(path) as server:
        execution_id, result = await submit_and_wait(server, "testing:checks/workflow.print-and-sleep", [100])
        assert result == Ok(None)
        log = await server.executions.get(execution_id)
        assert sum(type(e.event).__name__ == "Locked" for e in log.events) == 2  # interrupted once, replayed once
    lines = [r.getMessage() for r in caplog.records if str(execution_id) in r.getMessage()]
    assert sum("before the sleep" in line for line in lines) == 1
    assert sum("after the sleep" in line for line in lines) == 1


def wat_workflow(tmp_path: Path, workflow_wasm: Path) -> str:
    return f"""
[[activity_wasm]]
name = "fibo"
location.path = "{build_wat_fixture("fibo", tmp_path / "wat")}"

[[workflow]]
name = "wat_workflow"
location.path = "{workflow_wasm}"
join_next_blocking_strategy = "interrupt"
"""


async def test_a_diverging_binary_replacing_the_component_is_detected(tmp_path: Path) -> None:
    configured = tmp_path / "workflow.wasm"
    shutil.copy(build_wat_fixture("fibo_workflow", tmp_path / "wat"), configured)
    path = write_config(tmp_path, tmp_path / "codegen", wat_workflow(tmp_path, configured))
    execution_id = ExecutionId.generate()
    async with running_server(path) as server:
        await server.executions.submit(execution_id, "testing:fibo-workflow/workflow.sleep-ms", [1500])
        for _ in range(100):
            log = await server.executions.get(execution_id)
            if any(isinstance(e.event, JoinNext) for e in log.events):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the first run did not reach its sleep")
    # an upgrade: the same function, now calling an activity where it used to sleep
    shutil.copy(build_wat_fixture("fibo_workflow_v2", tmp_path / "wat"), configured)
    async with running_server(path) as server:
        result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), 20)
        assert isinstance(result, NondeterminismDetected)
        assert "JoinSetRequest" in result.reason and "delay" in result.reason and "version" in result.reason
        assert result.reason.endswith(
            "its component was replaced, while the execution was running, by a build that calls differently"
        )


async def test_a_compatible_binary_replacing_the_component_continues(tmp_path: Path) -> None:
    configured = tmp_path / "workflow.wasm"
    shutil.copy(build_wat_fixture("fibo_workflow", tmp_path / "wat"), configured)
    path = write_config(tmp_path, tmp_path / "codegen", wat_workflow(tmp_path, configured))
    execution_id = ExecutionId.generate()
    async with running_server(path) as server:
        await server.executions.submit(execution_id, "testing:fibo-workflow/workflow.fiboa", [10, 50])
        for _ in range(200):
            log = await server.executions.get(execution_id)
            if any(isinstance(e.event, JoinNext) for e in log.events):
                break
            await asyncio.sleep(0.01)
        assert not isinstance(log.pending_state, FinishedState)
    # version 2 changed only sleep-ms: replaying fiboa's history on it is compatible, the execution continues
    shutil.copy(build_wat_fixture("fibo_workflow_v2", tmp_path / "wat"), configured)
    async with running_server(path) as server:
        result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), 30)
        assert result == Ok(ReturnValue(55))
        log = await server.executions.get(execution_id)
        digests = {e.event.component_id for e in log.events if type(e.event).__name__ == "Locked"}  # type: ignore[union-attr]
        assert len(digests) == 2  # runs of both binaries are on record


async def test_an_unsatisfied_import_stops_the_server_naming_component_import_and_candidates(tmp_path: Path) -> None:
    section = f"""
[[workflow]]
name = "lonely"
location.path = "{build_wat_fixture("fibo_workflow", tmp_path / "wat")}"

[[activity_wasm]]
name = "adder"
location.path = "{build_wat_fixture("versioned", tmp_path / "wat")}"
"""
    path = write_config(tmp_path, tmp_path / "codegen", section)
    config = load_config(path, env={"HOME": str(tmp_path)}).config
    with pytest.raises(UnresolvedImport) as raised:
        await Server.start(config)
    message = str(raised.value)
    assert "'lonely'" in message and "testing:fibo/fibo.fibo" in message


async def test_sleeping_workflow_holds_no_lock_and_wakes_on_time(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, tmp_path / "codegen", wat_workflow(tmp_path, build_wat_fixture("fibo_workflow", tmp_path / "wat"))
    )
    async with running_server(path) as server:
        started = time.monotonic()
        execution_id = ExecutionId.generate()
        await server.executions.submit(execution_id, "testing:fibo-workflow/workflow.sleep-ms", [700])
        await asyncio.sleep(0.3)
        state = await server.executions.pending_state(execution_id)
        assert type(state).__name__ == "BlockedByJoinSet"
        result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), 10)
        assert result == Ok(None)
        assert 0.7 <= time.monotonic() - started < 1.7
        assert not isinstance(await server.executions.pending_state(execution_id), PendingAt)


async def test_a_finished_run_frees_its_instance_without_the_cyclic_collector(tmp_path: Path) -> None:
    """Instances are freed when their run ends, not when the cyclic garbage collector gets to them: frames of
    wasmtime-py's error handling form reference cycles, and that collector does not see native memory (1,000
    sleeping workflows once held 3.8 GiB that way; bench/sleep_rss.py measures it)."""
    import gc

    import wasmtime

    def open_stores() -> int:
        return sum(
            isinstance(o, wasmtime.Store) and getattr(o, "_Managed__ptr", None) is not None for o in gc.get_objects()
        )

    path = write_config(
        tmp_path, tmp_path / "codegen", wat_workflow(tmp_path, build_wat_fixture("fibo_workflow", tmp_path / "wat"))
    )
    async with running_server(path) as server:
        gc.collect()
        gc.disable()
        try:
            for _ in range(3):  # interrupted runs (a sleep) and finished ones with child activities
                _, result = await submit_and_wait(server, "testing:fibo-workflow/workflow.sleep-ms", [10])
                assert result == Ok(None)
                _, result = await submit_and_wait(server, "testing:fibo-workflow/workflow.fiboa", [10, 2])
                assert result == Ok(ReturnValue(55))
            await asyncio.sleep(0.1)
            assert open_stores() <= 1  # at most one attempt's store may still be on its way out
        finally:
            gc.enable()
