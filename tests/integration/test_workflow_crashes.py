"""Crash safety of workflows: a durable sleep across a restart, and kill -9 in the middle of fiboa(10, 200)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from obelisk.concepts.clock import SystemClock
from obelisk.concepts.component_id import ComponentId, ComponentType, ContentDigest
from obelisk.concepts.events import Created, Finished, FinishedState, Locked
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.storage.interface import ExecutionQuery
from obelisk.storage.sqlite import SqliteStorage
from tests.integration.server_harness import finished, running_server, write_config
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.slow


def components(built: Path) -> str:
    return f"""
[[activity_wasm]]
name = "fibo_activity"
location.path = "{built / "fibo_activity.wasm"}"
max_retries = 0
exec.tick_sleep = {{millis = 50}}

[[activity_wasm]]
name = "sleep_activity"
location.path = "{built / "sleep_activity.wasm"}"

[[workflow]]
name = "fibo_workflow"
location.path = "{built / "fibo_workflow.wasm"}"
exec.tick_sleep = {{millis = 50}}

[[workflow]]
name = "sleep_workflow"
location.path = "{built / "sleep_workflow.wasm"}"
"""


async def test_a_sleeping_workflow_survives_a_restart_and_finishes_on_time(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    path = write_config(tmp_path, codegen_cache, components(built_components))
    execution_id = ExecutionId.generate()
    async with running_server(path) as server:
        started = time.monotonic()
        await server.executions.submit(
            execution_id, "testing:sleep-workflow/workflow.sleep-host-activity", [{"seconds": 2}]
        )
        await asyncio.sleep(0.5)
    async with running_server(path) as server:
        result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), 10)
        elapsed = time.monotonic() - started
        assert result == Ok(None)
        assert 2.0 <= elapsed < 3.0


async def _created(storage: SqliteStorage, built: Path, execution_id: ExecutionId) -> None:
    now = SystemClock().now_us()
    digest = ContentDigest.of_file(built / "fibo_workflow.wasm")
    created = Created(
        Ffqn.parse("testing:fibo-workflow/workflow.fiboa"),
        [10, 200],
        now,
        str(ComponentId.of(ComponentType.WORKFLOW, "fibo_workflow", digest)),
        2**32 - 1,
        100_000,
    )
    await storage.create(execution_id, created, now)


async def test_kill_9_during_fiboa_then_restart_finishes_without_rerunning_recorded_steps(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    path = write_config(tmp_path, codegen_cache, components(built_components))
    server = ServerProcess(path).start()
    storage = await SqliteStorage.open(tmp_path / "db" / "obelisk.sqlite")
    try:
        execution_id = ExecutionId.generate()
        await _created(storage, built_components, execution_id)
        for _ in range(600):
            log = await storage.get(execution_id)
            if len(log.responses) >= 60:
                break
            await asyncio.sleep(0.05)
        assert 60 <= len(log.responses) < 200, "kill -9 must land in the middle of the workflow"
        server.kill()
        recorded_before = len(log.responses)
        server.start()
        for _ in range(1200):
            log = await storage.get(execution_id)
            if isinstance(log.pending_state, FinishedState):
                break
            await asyncio.sleep(0.05)
        assert finished(log.events) == Ok(ReturnValue(55))
        children = await storage.list_executions(ExecutionQuery(length=1000))
        children = [c for c in children if c.parent_execution_id == execution_id]
        assert len(children) == 200
        assert len(log.responses) == 200
        reruns = 0
        for child in children:
            child_log = await storage.get(child.execution_id)
            assert sum(isinstance(e.event, Finished) for e in child_log.events) == 1
            reruns += sum(isinstance(e.event, Locked) for e in child_log.events) - 1
        # No step whose result was recorded re-ran. At most one child has its lock committed and its result not
        # (the commit after its lock carries its result); children of steps whose commits were lost at the kill
        # (up to the run's bound on commits in flight) were created afresh on replay, locked once.
        assert reruns <= 1, f"{reruns} activities ran twice (recorded before the kill: {recorded_before})"
        assert server.terminate() == 0
    finally:
        server.kill()
        await storage.close()
