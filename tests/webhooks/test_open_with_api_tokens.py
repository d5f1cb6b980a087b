"""Webhook endpoints are public by design: API tokens, which guard the gRPC API and the web UI, leave them open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest

from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.api.tokens import token_hash
from obelisk.server import Server
from tests.integration.server_harness import running_server, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
async def server(tmp_path: Path, codegen_cache: Path, built_components: Path) -> AsyncIterator[Server]:
    components = f"""
[[http_server]]
name = "external"
listening_addr = "127.0.0.1:0"

[[webhook_endpoint]]
name = "trap_webhook"
location.path = "{built_components / "trap_webhook.wasm"}"
http_server = "external"
routes = ["/ok"]
"""
    extra = f'api.token_hashes = ["{token_hash("a-token-0123456789abcdef0123456789abcdef")}"]'
    async with running_server(write_config(tmp_path, codegen_cache, components, extra=extra)) as started:
        yield started


async def test_a_webhook_answers_without_a_token_while_the_api_wants_one(server: Server) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{server.http_server_port('external')}/ok"
        async with session.get(url) as response:
            assert (response.status, await response.text()) == (200, "ok")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.api_port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await pb_grpc.FunctionRepositoryStub(channel).ListComponents(pb.ListComponentsRequest())
        assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
