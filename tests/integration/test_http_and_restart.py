"""The HTTP activity against a local server, and a server killed while an activity is locked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from obelisk.concepts.clock import SystemClock
from obelisk.concepts.component_id import ComponentId, ComponentType, ContentDigest
from obelisk.concepts.events import Created, FinishedState, Locked, Unlocked
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import FallibleError, Ok, ReturnValue
from obelisk.storage.interface import ExecutionLog
from obelisk.storage.sqlite import SqliteStorage
from tests.integration.server_harness import event_kinds, finished, running_server, submit_and_wait, write_config
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.slow


class CountingSite:
    """A local HTTP server: ``/ok`` answers 200, ``/missing`` 404, ``/hang-once`` hangs on its first request."""

    def __init__(self) -> None:
        self.hang_once_requests = 0
        self.url = ""
        self.release = asyncio.Event()

    async def ok(self, request: web.Request) -> web.Response:
        return web.Response(text=f"hello from {request.path}")

    async def missing(self, _: web.Request) -> web.Response:
        return web.Response(status=404, text="nope")

    async def hang_once(self, _: web.Request) -> web.Response:
        self.hang_once_requests += 1
        if self.hang_once_requests == 1:
            await asyncio.wait_for(self.release.wait(), 60)
        return web.Response(text="second time lucky")


@pytest.fixture
async def site() -> AsyncIterator[CountingSite]:
    counting = CountingSite()
    app = web.Application()
    app.router.add_get("/ok", counting.ok)
    app.router.add_get("/missing", counting.missing)
    app.router.add_get("/hang-once", counting.hang_once)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    counting.url = f"http://127.0.0.1:{port}"
    yield counting
    counting.release.set()
    await runner.cleanup()


def http_activity(components: Path, extra: str = "") -> str:
    return f"""
[[activity_wasm]]
name = "http"
location.path = "{components / "http_activity.wasm"}"
max_retries = 0
{extra}
"""


async def test_http_get_against_a_local_server(
    tmp_path: Path, built_components: Path, codegen_cache: Path, site: CountingSite
) -> None:
    path = write_config(tmp_path, codegen_cache, http_activity(built_components))
    async with running_server(path) as server:
        _, ok = await submit_and_wait(server, "testing:http/http-get.get", [f"{site.url}/ok"])
        assert ok == Ok(ReturnValue({"ok": "hello from /ok"}))
        _, successful = await submit_and_wait(server, "testing:http/http-get.get-successful", [f"{site.url}/ok"])
        assert successful == Ok(ReturnValue({"ok": "hello from /ok"}))
        _, not_found = await submit_and_wait(server, "testing:http/http-get.get-successful", [f"{site.url}/missing"])
        assert not_found == FallibleError(ReturnValue({"err": "wrong status code: 404"}))
        _, body_404 = await submit_and_wait(server, "testing:http/http-get.get", [f"{site.url}/missing"])
        assert body_404 == Ok(ReturnValue({"ok": "nope"}))


async def wait_until(storage: SqliteStorage, execution_id: ExecutionId, done: object, timeout: float) -> ExecutionLog:
    deadline = time.monotonic() + timeout
    while True:
        log = await storage.get(execution_id)
        if done(log):  # type: ignore[operator]
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; events: {event_kinds(log.events)}")
        await asyncio.sleep(0.05)


async def test_kill_9_while_an_activity_is_locked_then_restart_runs_it_exactly_once_more(
    tmp_path: Path, built_components: Path, codegen_cache: Path, site: CountingSite
) -> None:
    wasm = built_components / "http_activity.wasm"
    path = write_config(
        tmp_path,
        codegen_cache,
        http_activity(built_components, "exec.lock_expiry = {secs = 30}\nexec.tick_sleep = {millis = 50}"),
    )
    server = ServerProcess(path).start()
    storage = await SqliteStorage.open(tmp_path / "db" / "obelisk.sqlite")
    try:
        execution_id = ExecutionId.generate()
        now = SystemClock().now_us()
        component_id = ComponentId.of(ComponentType.ACTIVITY_WASM, "http", ContentDigest.of_file(wasm))
        created = Created(
            Ffqn.parse("testing:http/http-get.get"), [f"{site.url}/hang-once"], now, str(component_id), 0, 100_000
        )
        await storage.create(execution_id, created, now)
        # the subprocess has no in-process notification from us: it finds the work within tick_sleep
        for _ in range(200):
            if site.hang_once_requests == 1:
                break
            await asyncio.sleep(0.05)
        assert site.hang_once_requests == 1
        server.kill()
        restarted_at = time.monotonic()
        server.start()
        log = await wait_until(storage, execution_id, lambda log: isinstance(log.pending_state, FinishedState), 20)
        # the lock (30 s) was released at start-up, not waited out
        assert time.monotonic() - restarted_at < 10
        assert finished(log.events) == Ok(ReturnValue({"ok": "second time lucky"}))
        assert site.hang_once_requests == 2
        assert event_kinds(log.events) == ["Created", "Locked", "Unlocked", "Locked", "Finished"]
        unlocked = log.events[2].event
        assert isinstance(unlocked, Unlocked) and unlocked.reason == "server restarted" and unlocked.after_crash
        first, second = log.events[1].event, log.events[3].event
        assert isinstance(first, Locked) and isinstance(second, Locked) and first.run_id != second.run_id
        assert server.terminate() == 0
    finally:
        server.kill()
        await storage.close()
