"""Workflows end to end: the example fibo workflow over the fibo activity, under both blocking strategies."""

from __future__ import annotations

from pathlib import Path

import pytest

from obelisk.concepts.events import ChildExecutionRequest, JoinNext, JoinSetRequest
from obelisk.concepts.results import Ok, ReturnValue
from tests.integration.server_harness import running_server, submit_and_wait, write_config

pytestmark = pytest.mark.slow


def fibo_components(components: Path, strategy: str) -> str:
    return f"""
[[activity_wasm]]
name = "fibo_activity"
location.path = "{components / "fibo_activity.wasm"}"
max_retries = 0

[[workflow]]
name = "fibo_workflow"
location.path = "{components / "fibo_workflow.wasm"}"
join_next_blocking_strategy = "{strategy}"
exec.lock_expiry = {{secs = 5}}
"""


@pytest.fixture(params=["await", "interrupt"])
def strategy(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def config_path(tmp_path: Path, built_components: Path, codegen_cache: Path, strategy: str) -> Path:
    return write_config(tmp_path, codegen_cache, fibo_components(built_components, strategy))


async def test_fibow_computes_in_the_workflow(config_path: Path) -> None:
    async with running_server(config_path) as server:
        _, result = await submit_and_wait(server, "testing:fibo-workflow/workflow.fibow", [10, 3])
        assert result == Ok(ReturnValue(55))


async def test_fiboa_calls_the_activity_serially(config_path: Path) -> None:
    async with running_server(config_path) as server:
        execution_id, result = await submit_and_wait(server, "testing:fibo-workflow/workflow.fiboa", [10, 5])
        assert result == Ok(ReturnValue(55))
        log = await server.executions.get(execution_id)
        children = [
            e.event.request.child_execution_id
            for e in log.events
            if isinstance(e.event, JoinSetRequest) and isinstance(e.event.request, ChildExecutionRequest)
        ]
        assert children == [execution_id.child(i) for i in range(5)]
        assert len(log.responses) == 5
        for child in children:
            child_log = await server.executions.get(child)
            assert child_log.created.parent is not None
            assert child_log.created.parent.execution_id == execution_id


async def test_fiboa_concurrent_uses_one_join_set(config_path: Path) -> None:
    async with running_server(config_path) as server:
        execution_id, result = await submit_and_wait(server, "testing:fibo-workflow/workflow.fiboa-concurrent", [10, 5])
        assert result == Ok(ReturnValue(55))
        log = await server.executions.get(execution_id)
        join_sets = {e.event.join_set_id for e in log.events if isinstance(e.event, JoinSetRequest)}
        assert len(join_sets) == 1
        assert sum(isinstance(e.event, JoinNext) for e in log.events) == 5


async def test_child_workflows_nest(config_path: Path) -> None:
    async with running_server(config_path) as server:
        _, result = await submit_and_wait(server, "testing:fibo-workflow/workflow-nesting.fibo-nested-workflow", [5])
        assert result == Ok(ReturnValue(8))
        _, result = await submit_and_wait(
            server, "testing:fibo-workflow/workflow-nesting.fibo-start-fiboas", [10, 3, 2]
        )
        assert result == Ok(ReturnValue(55))
