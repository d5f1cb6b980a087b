"""The example http and sleep workflows to completion, under both blocking strategies, with -schedule and the
closing of join sets still open when the function returns."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from obelisk.concepts.events import BlockedByJoinSet, JoinNext
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.storage.interface import ExecutionQuery
from tests.integration.server_harness import running_server, submit_and_wait, write_config

pytestmark = pytest.mark.slow


def example_components(components: Path, strategy: str) -> str:
    return f"""
[[activity_wasm]]
name = "http"
location.path = "{components / "http_activity.wasm"}"
max_retries = 0

[[activity_wasm]]
name = "sleep"
location.path = "{components / "sleep_activity.wasm"}"
exec.lock_expiry = {{secs = 5}}

[[workflow]]
name = "http_workflow"
location.path = "{components / "http_workflow.wasm"}"
join_next_blocking_strategy = "{strategy}"

[[workflow]]
name = "sleep_workflow"
location.path = "{components / "sleep_workflow.wasm"}"
join_next_blocking_strategy = "{strategy}"
exec.lock_expiry = {{secs = 2}}
"""


@pytest.fixture(params=["await", "interrupt"])
def config_path(request: pytest.FixtureRequest, tmp_path: Path, built_components: Path, codegen_cache: Path) -> Path:
    return write_config(tmp_path, codegen_cache, example_components(built_components, str(request.param)))


@pytest.fixture
async def site() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text=f"body of {request.path}")

    async def missing(_: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/ok/{n}", ok)
    app.router.add_get("/missing", missing)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    yield f"http://127.0.0.1:{tcp._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    await runner.cleanup()


async def test_http_workflow(config_path: Path, site: str) -> None:
    async with running_server(config_path) as server:
        _, result = await submit_and_wait(server, "testing:http-workflow/workflow.get", [f"{site}/ok/1"])
        assert result == Ok(ReturnValue({"ok": "body of /ok/1"}))
        _, result = await submit_and_wait(server, "testing:http-workflow/workflow.get-successful", [f"{site}/missing"])
        assert result.kind.value == "FallibleError"
        urls = [f"{site}/ok/{n}" for n in range(3)]
        _, result = await submit_and_wait(server, "testing:http-workflow/workflow.get-successful-concurrently", [urls])
        assert isinstance(result, Ok) and result.value is not None
        assert sorted(result.value.json["ok"]) == [f"body of /ok/{n}" for n in range(3)]
        _, result = await submit_and_wait(
            server, "testing:http-workflow/workflow.get-successful-concurrently", [[*urls, f"{site}/missing"]]
        )
        assert result.kind.value == "FallibleError"


async def test_sleep_workflow_durable_sleep_and_activity(config_path: Path) -> None:
    async with running_server(config_path) as server:
        started = time.monotonic()
        _, result = await submit_and_wait(
            server, "testing:sleep-workflow/workflow.sleep-host-activity", [{"milliseconds": 300}]
        )
        assert result == Ok(None)
        assert time.monotonic() - started >= 0.3
        _, result = await submit_and_wait(
            server, "testing:sleep-workflow/workflow.sleep-activity", [{"milliseconds": 100}]
        )
        assert result == Ok(None)


async def test_join_sets_open_at_return_are_awaited_in_a_closing_state(config_path: Path) -> None:
    async with running_server(config_path) as server:
        execution_id = ExecutionId.generate()
        ffqn = "testing:sleep-workflow/workflow.sleep-activity-submit"
        await server.executions.submit(execution_id, ffqn, [{"milliseconds": 800}])
        seen_closing = False
        for _ in range(100):
            state = await server.executions.pending_state(execution_id)
            if isinstance(state, BlockedByJoinSet) and state.closing:
                seen_closing = True
                break
            await asyncio.sleep(0.02)
        result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), 20)
        assert result == Ok(ReturnValue({"id": str(execution_id.child(0))}))
        log = await server.executions.get(execution_id)
        assert any(isinstance(e.event, JoinNext) and e.event.closing for e in log.events)
        assert seen_closing or isinstance(state, BlockedByJoinSet)
        child = await server.executions.get(execution_id.child(0))
        assert type(child.pending_state).__name__ == "FinishedState"


async def test_schedule_creates_new_top_level_executions(config_path: Path) -> None:
    async with running_server(config_path) as server:
        execution_id, result = await submit_and_wait(
            server, "testing:sleep-workflow/workflow.reschedule", [{"milliseconds": 100}, 2]
        )
        assert result == Ok(None)
        ffqn = Ffqn.parse("testing:sleep-workflow/workflow.reschedule")
        for _ in range(100):
            executions = await server.executions.list_executions(ExecutionQuery(ffqn=ffqn))
            if len(executions) == 3 and all(type(e.pending_state).__name__ == "FinishedState" for e in executions):
                break
            await asyncio.sleep(0.05)
        assert len(executions) == 3
        scheduled = [e for e in executions if e.execution_id != execution_id]
        assert all(e.parent_execution_id is None and "." not in e.execution_id for e in scheduled)
        created = [(await server.executions.get(e.execution_id)).created for e in scheduled]
        assert {c.scheduled_by for c in created} <= {execution_id, *(e.execution_id for e in scheduled)}
        assert created[0].params[1] + created[1].params[1] == 1  # iterations 1 then 0


async def test_schedule_through_the_submit_api(config_path: Path) -> None:
    async with running_server(config_path) as server:
        execution_id = ExecutionId.generate()
        ffqn = "testing:sleep-workflow-obelisk-ext/workflow.reschedule-schedule"
        await server.executions.submit(execution_id, ffqn, [{"in": {"milliseconds": 300}}, {"milliseconds": 1}, 0])
        log = await server.executions.get(execution_id)
        assert str(log.created.ffqn) == "testing:sleep-workflow/workflow.reschedule"
        assert log.created.scheduled_at - log.events[0].created_at == pytest.approx(300_000, abs=5_000)
        assert await asyncio.wait_for(server.executions.wait_for_result(execution_id), 10) == Ok(None)
