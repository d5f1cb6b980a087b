"""A real in-process server (WAT fixtures, real SQLite file) with the web UI app in aiohttp's test client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from obelisk.server import Server
from obelisk.webui import create_app
from tests.integration.server_harness import running_server, write_config
from tests.wat_fixtures import build_wat_fixture

WAT_CACHE = Path(__file__).resolve().parent.parent.parent / "build" / "test-cache" / "wat"


def wat_components() -> str:
    return f"""
[[activity_wasm]]
name = "fibo"
location.path = "{build_wat_fixture("fibo", WAT_CACHE)}"
max_retries = 0

[[activity_wasm]]
name = "types"
location.path = "{build_wat_fixture("types", WAT_CACHE)}"
max_retries = 0

[[activity_wasm]]
name = "spin"
location.path = "{build_wat_fixture("spin", WAT_CACHE)}"
max_retries = 0
exec.lock_expiry = {{millis = 400}}

[[activity_wasm]]
name = "trap"
location.path = "{build_wat_fixture("trap", WAT_CACHE)}"
max_retries = 1
retry_exp_backoff = {{millis = 10}}
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    config = write_config(tmp_path, WAT_CACHE.parent / "codegen-wat", wat_components())
    async with running_server(config) as started:
        yield started


@pytest.fixture
async def client(server: Server) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = create_app(server.executions, server.components, server.clock)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def csrf_token(client: TestClient[web.Request, web.Application]) -> str:
    """The CSRF token of the client's session (its cookie jar holds the session after the first page)."""
    page = await (await client.get("/")).text()
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found, "no CSRF token on the page"
    return found[1]
