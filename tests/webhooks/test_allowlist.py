"""Outbound HTTP allowlist of activities (``allowed_hosts``), with the HTTP activity and a local server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from obelisk.concepts.results import FallibleError, Ok
from tests.integration.server_harness import running_server, submit_and_wait, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
async def local_site() -> AsyncIterator[tuple[int, list[str]]]:
    hits: list[str] = []

    async def ok(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text=f"hello from {request.path}")

    app = web.Application()
    app.router.add_get("/ok", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port, hits
    finally:
        await runner.cleanup()


def _config(tmp_path: Path, codegen_cache: Path, built: Path, allowed_hosts: str) -> Path:
    return write_config(
        tmp_path,
        codegen_cache,
        f"""
[[activity_wasm]]
name = "http_activity"
location.path = "{built / "http_activity.wasm"}"
max_retries = 0
retry_on_err = false
forward_stdout = "stderr"
{allowed_hosts}
""",
    )


async def test_allowed_host_gets_through_and_others_are_denied(
    tmp_path: Path, codegen_cache: Path, built_components: Path, local_site: tuple[int, list[str]]
) -> None:
    port, hits = local_site
    allowed = f'allowed_hosts = [{{host = "127.0.0.1:{port}", methods = ["GET"]}}]'
    async with running_server(_config(tmp_path, codegen_cache, built_components, allowed)) as server:
        _, result = await submit_and_wait(server, "testing:http/http-get.get", [f"http://127.0.0.1:{port}/ok"])
        assert isinstance(result, Ok) and result.value is not None
        assert result.value.json == {"ok": "hello from /ok"}
        assert hits == ["/ok"]

        # same server, but "localhost" is not on the list: the guest sees error-code HTTP-request-denied
        _, denied = await submit_and_wait(server, "testing:http/http-get.get", [f"http://localhost:{port}/ok"])
        assert isinstance(denied, FallibleError)
        assert "request denied" in str(denied.value.json["err"]).lower()
        assert hits == ["/ok"], "a denied request must never leave the host"


async def test_empty_allowlist_denies_everything(
    tmp_path: Path, codegen_cache: Path, built_components: Path, local_site: tuple[int, list[str]]
) -> None:
    port, hits = local_site
    async with running_server(_config(tmp_path, codegen_cache, built_components, "allowed_hosts = []")) as server:
        _, denied = await submit_and_wait(server, "testing:http/http-get.get", [f"http://127.0.0.1:{port}/ok"])
        assert isinstance(denied, FallibleError)
        assert "request denied" in str(denied.value.json["err"]).lower()
    assert hits == []


async def test_no_allowlist_allows_all(
    tmp_path: Path, codegen_cache: Path, built_components: Path, local_site: tuple[int, list[str]]
) -> None:
    port, hits = local_site
    async with running_server(_config(tmp_path, codegen_cache, built_components, "")) as server:
        _, result = await submit_and_wait(server, "testing:http/http-get.get", [f"http://localhost:{port}/ok"])
        assert isinstance(result, Ok)
    assert hits == ["/ok"]
