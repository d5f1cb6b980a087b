"""Webhooks over real HTTP: a real ``obelisk server run`` subprocess with the fibo webhook,
plus in-process checks of the execution records a webhook leaves behind."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from obelisk.concepts.events import ChildExecutionFinished, Created, Finished, FinishedState, Locked
from obelisk.concepts.ffqn import WEBHOOK_FFQN
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok
from obelisk.storage.interface import ExecutionQuery
from tests.integration.server_harness import running_server, write_config
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _components(built: Path, addr: str, *, permits: int, body_limit: int = 1024) -> str:
    return f"""
[[activity_wasm]]
name = "fibo_activity"
location.path = "{built / "fibo_activity.wasm"}"

[[workflow]]
name = "fibo_workflow"
location.path = "{built / "fibo_workflow.wasm"}"

[[http_server]]
name = "external"
listening_addr = "{addr}"
max_inflight_requests = {permits}
max_request_body_bytes = {body_limit}

[[webhook_endpoint]]
name = "fibo_webhook"
location.path = "{built / "fibo_webhook.wasm"}"
http_server = "external"
routes = [{{methods = ["GET"], route = "/fibo/:N/:ITERATIONS"}}]

[[webhook_endpoint]]
name = "trap_webhook"
location.path = "{built / "trap_webhook.wasm"}"
http_server = "external"
routes = ["/ok", "/trap/*"]

[[webhook_endpoint]]
name = "hello_webhook"
location.path = "{built / "hello_webhook.wasm"}"
http_server = "external"
routes = [{{methods = ["POST"], route = "/echo"}}]
"""


@pytest.fixture
def server_process(
    request: pytest.FixtureRequest, tmp_path: Path, codegen_cache: Path, built_components: Path
) -> Iterator[tuple[ServerProcess, str]]:
    """A server with ``max_inflight_requests`` from the test's indirect parameter, else 8.

    A request keeps its permit until its guest returns, a moment after its response: requests in a row may
    meet earlier guests still finishing, so only the test of the limit itself runs with a tight one.
    """
    permits = getattr(request, "param", 8)
    port = _free_port()
    config = write_config(tmp_path, codegen_cache, _components(built_components, f"127.0.0.1:{port}", permits=permits))
    process = ServerProcess(config).start()
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.kill()


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


async def _raw_get(base: str, path: str) -> tuple[int, str]:
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode(errors="replace")


async def test_fibo_webhook_over_http(server_process: tuple[ServerProcess, str]) -> None:
    process, base = server_process
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        assert await _get(session, f"{base}/fibo/1/5") == (200, "fiboa(1, 5) = hardcoded: 1")
        # the guest's obelisk:log/log call reaches the server's log, naming the webhook and the request
        process.wait_for_output("fiboa(1, 5) = hardcoded: 1")
        logged = next(line for line in process.output if "fiboa(1, 5) = hardcoded: 1" in line)
        assert re.search(r"\[webhook_endpoint:fibo_webhook:\S+ E_[0-9A-Z]{26}\] fiboa\(1, 5\)", logged), logged

        status, text = await _get(session, f"{base}/fibo/10/3")
        assert status == 200
        assert re.fullmatch(r"fiboa\(10, 3\) = scheduled: E_[0-9A-Z]{26}", text), text

        # needs the workflow runtime: a child execution of the fibo workflow, awaited by the webhook
        assert await _get(session, f"{base}/fibo/6/4") == (200, "fiboa(6, 4) = direct call: 8")

        assert await _get(session, f"{base}/nothing/here") == (404, "Route not found")
        assert await _get(session, f"{base}/fibo/1") == (404, "Route not found")

        assert await _get(session, f"{base}/trap/now") == (500, "Component Error")
        # a path with a dot-segment is refused, not routed by its literal segments (aiohttp's client would
        # resolve it, so it is sent by hand)
        for path in ("/trap/../ok", "/trap/%2e%2e/ok", "/./ok"):
            status, text = await _raw_get(base, path)
            assert status == 400 and "dot-segment" in text, (path, status, text)
        # the server survives the trap and serves the same component again
        assert await _get(session, f"{base}/ok") == (200, "ok")
        assert await _get(session, f"{base}/fibo/0/1") == (200, "fiboa(0, 1) = hardcoded: 1")

        async with session.post(f"{base}/echo", data=b"x" * 1000) as response:
            assert response.status == 201
            assert (await response.text()).endswith("body: " + "x" * 1000)
        async with session.post(f"{base}/echo", data=b"x" * 1025) as response:
            assert response.status == 413
    assert process.process is not None and process.process.poll() is None


@pytest.mark.parametrize("server_process", [2], indirect=True)
async def test_burst_is_limited_by_max_inflight_requests(server_process: tuple[ServerProcess, str]) -> None:
    _, base = server_process
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        # each request makes 20 serial child calls through the workflow, so it holds its permit for a while
        results = await asyncio.gather(*(_get(session, f"{base}/fibo/5/20") for _ in range(12)))
        statuses = [status for status, _ in results]
        ok = statuses.count(200)
        refused = [text for status, text in results if status == 503]
        assert ok + len(refused) == 12, statuses
        assert 1 <= ok <= 11 and refused, statuses
        assert set(refused) == {"Out of permits"}
        assert all(text == "fiboa(5, 20) = direct call: 5" for status, text in results if status == 200)
        # permits come back once the burst is over: a request keeps its permit until its guest returns, which
        # may be a moment after its response was sent
        for _ in range(50):
            after = await _get(session, f"{base}/fibo/1/1")
            if after[0] != 503:
                break
            await asyncio.sleep(0.05)
        assert after == (200, "fiboa(1, 1) = hardcoded: 1")


async def test_webhook_execution_records(tmp_path: Path, codegen_cache: Path, built_components: Path) -> None:
    # permits to spare: requests in a row may meet earlier guests still finishing (see ``server_process``)
    config = write_config(tmp_path, codegen_cache, _components(built_components, "127.0.0.1:0", permits=8))
    async with running_server(config) as server:
        base = f"http://127.0.0.1:{server.http_server_port('external')}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            assert await _get(session, f"{base}/fibo/3/2") == (200, "fiboa(3, 2) = direct call: 2")
            status, text = await _get(session, f"{base}/fibo/11/1")
            assert status == 200
            assert await _get(session, f"{base}/fibo/1/1") == (200, "fiboa(1, 1) = hardcoded: 1")
        scheduled = ExecutionId.parse(text.rsplit(" ", 1)[1])

        # only the two requests that called something have a record; both are finished, none lingers. A record is
        # finished when its guest returns, a moment after the response it sent: wait for that moment, not longer.
        for _ in range(100):
            records = await server.executions.list_executions(ExecutionQuery(ffqn=WEBHOOK_FFQN, length=10))
            if all(isinstance(r.pending_state, FinishedState) for r in records):
                break
            await asyncio.sleep(0.02)
        assert len(records) == 2
        assert all(isinstance(r.pending_state, FinishedState) for r in records), records
        by_params = {}
        for record in records:
            log = await server.executions.get(record.execution_id)
            by_params[tuple(log.created.params)] = log
            last = log.events[-1].event
            assert isinstance(last, Finished) and isinstance(last.result, Ok)
            owner = log.events[1].event  # whose record it is, when several servers share the database
            assert isinstance(owner, Locked) and owner.executor_id == server.executor_id
        direct = by_params[("GET", "/fibo/3/2")]
        child_log = await server.executions.get(direct.execution_id.child(1))
        assert str(child_log.created.ffqn) == "testing:fibo-workflow/workflow.fiboa"
        assert child_log.created.parent is not None
        assert child_log.created.parent.execution_id == direct.execution_id
        # the child's result went to the webhook's record like to any parent (in the child's Finished batch)
        delivered = [r.response for r in direct.responses if isinstance(r.response, ChildExecutionFinished)]
        assert [r.child_execution_id for r in delivered] == [child_log.execution_id]
        scheduling = by_params[("GET", "/fibo/11/1")]
        scheduled_log = await server.executions.get(scheduled)
        created = scheduled_log.created
        assert isinstance(created, Created)
        assert created.scheduled_by == scheduling.execution_id and created.parent is None
        assert created.params == [11, 1]
