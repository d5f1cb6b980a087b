"""Concurrent guests as a user meets them: a burst of webhook requests, and HTTP activities with an allowlist
running side by side, on a real server with the example components.

Both go through the Python wasi:http layer, whose host functions return option/result/variant values on every
call; while wasmtime-py lowered those through a set shared by all threads, a burst of 300 requests at concurrency
64 got up to 38 HTTP 500s, and an HTTP activity failed 2% of its attempts, each retried, so its request was sent
twice. Every response must be right, and every activity's request must reach the remote server exactly once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from obelisk.concepts.events import Finished
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok
from tests.faults.conftest import scaled, scaled_timeout
from tests.integration.server_harness import event_kinds, running_server, write_config

pytestmark = pytest.mark.slow

CONCURRENCY = 64
REQUESTS = 1000
ACTIVITIES = 200
ACTIVITY_CONCURRENCY = 16
DEADLINE_SECONDS = scaled_timeout(120.0)


async def test_webhook_burst_answers_every_request_right(
    tmp_path: Path, codegen_cache: Path, built_components: Path, fault_scale: float
) -> None:
    config = write_config(
        tmp_path,
        codegen_cache,
        f"""
[[http_server]]
name = "external"
listening_addr = "127.0.0.1:0"

[[webhook_endpoint]]
name = "hello_webhook"
location.path = "{built_components / "hello_webhook.wasm"}"
http_server = "external"
routes = [{{methods = ["POST"], route = "/echo"}}]
""",
    )
    count = scaled(REQUESTS, fault_scale)
    gate = asyncio.Semaphore(CONCURRENCY)
    async with running_server(config) as server:
        base = f"http://127.0.0.1:{server.http_server_port('external')}"
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=scaled_timeout(60))
        ) as session:

            async def post(i: int) -> tuple[int, int, str]:
                async with gate, session.post(f"{base}/echo?n={i}", data=f"request {i}".encode()) as response:
                    return i, response.status, await response.text()

            results = await asyncio.wait_for(asyncio.gather(*(post(i) for i in range(count))), DEADLINE_SECONDS)
    wrong = [
        (i, status, text[:200])
        for i, status, text in results
        if status != 201 or not text.startswith(f"POST /echo?n={i}\n") or not text.endswith(f"body: request {i}")
    ]
    assert not wrong, f"{len(wrong)} of {count} responses were wrong, e.g. {wrong[:5]}"


@pytest.fixture
async def remote_site() -> AsyncIterator[tuple[int, Counter[str]]]:
    """A local HTTP server standing in for a remote one: counts the requests that reach it, by path."""
    hits: Counter[str] = Counter()

    async def hello(request: web.Request) -> web.Response:
        hits[request.path] += 1
        return web.Response(text=f"hello from {request.path}")

    app = web.Application()
    app.router.add_get("/item/{n}", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port, hits
    finally:
        await runner.cleanup()


async def test_http_activities_send_each_request_once(
    tmp_path: Path,
    codegen_cache: Path,
    built_components: Path,
    remote_site: tuple[int, Counter[str]],
    fault_scale: float,
) -> None:
    """Retries are on (the default), as for a user: an attempt that fails in the host would be retried and its
    request sent again, which the count per path shows."""
    port, hits = remote_site
    config = write_config(
        tmp_path,
        codegen_cache,
        f"""
[[activity_wasm]]
name = "http_activity"
location.path = "{built_components / "http_activity.wasm"}"
allowed_hosts = [{{host = "127.0.0.1:{port}", methods = ["GET"]}}]
exec.max_inflight_instances = {ACTIVITY_CONCURRENCY}
""",
    )
    count = scaled(ACTIVITIES, fault_scale)
    async with running_server(config) as server:
        ids = [ExecutionId.generate() for _ in range(count)]
        for i, execution_id in enumerate(ids):
            await server.executions.submit(
                execution_id, "testing:http/http-get.get", [f"http://127.0.0.1:{port}/item/{i}"]
            )
        results = await asyncio.wait_for(
            asyncio.gather(*(server.executions.wait_for_result(execution_id) for execution_id in ids)), DEADLINE_SECONDS
        )
        attempts = []
        for execution_id in ids:
            log = await server.executions.get(execution_id)
            kinds = event_kinds(log.events)
            attempts.append(kinds.count("Locked"))
            assert isinstance(log.events[-1].event, Finished), kinds
    wrong = [
        (i, result)
        for i, result in enumerate(results)
        if not (
            isinstance(result, Ok) and result.value is not None and result.value.json == {"ok": f"hello from /item/{i}"}
        )
    ]
    assert not wrong, f"{len(wrong)} of {count} activities returned a wrong result, e.g. {wrong[:5]}"
    assert attempts == [1] * count, f"retried: {[(i, n) for i, n in enumerate(attempts) if n != 1]}"
    assert hits == Counter({f"/item/{i}": 1 for i in range(count)})
