"""A real in-process server on 127.0.0.1:0 with WAT fixtures, and a real gRPC channel to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.server import Server
from tests.integration.server_harness import running_server, write_config
from tests.wat_fixtures import build_wat_fixture


def wat_components(tmp_path: Path) -> str:
    out = tmp_path / "wat"
    return f"""
[[activity_wasm]]
name = "fibo_wat"
location.path = "{build_wat_fixture("fibo", out)}"

[[activity_wasm]]
name = "spin"
location.path = "{build_wat_fixture("spin", out)}"
max_retries = 0
exec.lock_expiry = {{millis = 300}}
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    path = write_config(tmp_path, tmp_path / "codegen", wat_components(tmp_path))
    async with running_server(path) as running:
        yield running


@pytest.fixture
async def channel(server: Server) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.api_port}") as opened:
        yield opened


@pytest.fixture
def executions(channel: grpc.aio.Channel) -> pb_grpc.ExecutionRepositoryStub:
    return pb_grpc.ExecutionRepositoryStub(channel)


@pytest.fixture
def functions(channel: grpc.aio.Channel) -> pb_grpc.FunctionRepositoryStub:
    return pb_grpc.FunctionRepositoryStub(channel)
