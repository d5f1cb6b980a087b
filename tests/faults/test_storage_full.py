"""A full database, over the real gRPC API: submissions are refused with ``RESOURCE_EXHAUSTED`` (one log line each,
no traceback), health says ``NOT_SERVING``, nothing acknowledged is lost or half-written, and once space is freed
health says ``SERVING`` again and the work finishes.

``PRAGMA max_page_count`` on the server's own connection (the limit is per connection) makes the database full
deterministically, without filling a disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.any_pb2 import Any as AnyMessage
from grpc_health.v1 import health_pb2, health_pb2_grpc

from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.server import Server
from obelisk.storage.interface import ExecutionNotFound
from obelisk.storage.sqlite import SqliteStorage
from tests.faults.conftest import scaled, scaled_timeout, server_pragma
from tests.integration.server_harness import running_server, sqlite_file, write_config
from tests.wat_fixtures import build_wat_fixture

ECHO = "testing:types/types.echo"
PAYLOAD_CHARS = 3000
"""Each execution stores its text twice (params and result): about one 8 KiB page per execution."""


def components(tmp_path: Path) -> str:
    return f"""
[[activity_wasm]]
name = "types"
location.path = "{build_wat_fixture("types", tmp_path / "wat")}"
max_retries = 1000
retry_exp_backoff = {{millis = 10}}
exec.lock_expiry = {{millis = 500}}
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running_server(write_config(tmp_path, tmp_path / "codegen", components(tmp_path))) as running:
        assert isinstance(running.storage, SqliteStorage)
        running.storage.write_probe_seconds = 0.2
        yield running


def submit_request(execution_id: str, text: str) -> pb.SubmitRequest:
    ifc, function = ECHO.rsplit(".", 1)
    return pb.SubmitRequest(
        execution_id=pb.ExecutionId(id=execution_id),
        function_name=pb.FunctionName(interface_name=ifc, function_name=function),
        params=AnyMessage(value=json.dumps([text]).encode()),
    )


def text_for(index: int) -> str:
    return f"{index:06d}" + "x" * (PAYLOAD_CHARS - 6)


async def health(channel: grpc.aio.Channel) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    return int(response.status)


async def wait_for_health(channel: grpc.aio.Channel, status: int, timeout: float = 10.0) -> None:
    for _ in range(int(scaled_timeout(timeout) / 0.05)):
        if await health(channel) == status:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"health did not become {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}")


async def test_a_full_database_refuses_work_cleanly_and_recovers(
    server: Server, tmp_path: Path, fault_scale: float, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    acknowledged: dict[ExecutionId, str] = {}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.api_port}") as channel:
        executions = pb_grpc.ExecutionRepositoryStub(channel)
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING

        async def submit(index: int) -> grpc.StatusCode:
            execution_id = ExecutionId.generate()
            try:
                await executions.Submit(submit_request(execution_id, text_for(index)))
            except grpc.aio.AioRpcError as error:
                refused[execution_id] = error
                return error.code()
            acknowledged[execution_id] = text_for(index)
            return grpc.StatusCode.OK

        refused: dict[ExecutionId, grpc.aio.AioRpcError] = {}
        for index in range(scaled(10, fault_scale)):
            assert await submit(index) is grpc.StatusCode.OK

        # Full: no page beyond the ones the file has now. The log is cleared first: a write of the executions above
        # (their activities still run) may be the first to meet the fault and log it.
        caplog.clear()
        pages = await server_pragma(server, "PRAGMA page_count")
        assert await server_pragma(server, f"PRAGMA max_page_count = {pages}") >= pages  # never below the file's size
        first = len(acknowledged)
        for index in range(first, first + 500):  # the free pages left fill up within a few dozen
            if await submit(index) is grpc.StatusCode.RESOURCE_EXHAUSTED:
                break
        else:
            pytest.fail("the database never became full")
        assert await health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        extra = scaled(20, fault_scale)
        codes = [await submit(i) for i in range(first + 500, first + 500 + extra)]
        assert set(codes) == {grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
        error = next(iter(refused.values()))
        assert "is full" in (error.details() or "") and "SQLITE_FULL" in (error.details() or "")

        api_records = [r for r in caplog.records if r.name.startswith(("obelisk.api", "grpc"))]
        assert all(r.exc_info is None and "Traceback" not in r.getMessage() for r in api_records)
        assert len(api_records) <= len(refused), [r.getMessage() for r in api_records]
        assert sum("cannot be written" in r.getMessage() for r in caplog.records) == 1  # the fault, once

        # Nothing half-written: the file is consistent, what was refused does not exist.
        with sqlite3.connect(sqlite_file(server)) as reader:
            assert reader.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        for execution_id in refused:
            with pytest.raises(ExecutionNotFound):
                await server.executions.get(execution_id)

        # Space is freed: health recovers without a single request, and every acknowledged execution finishes.
        await server_pragma(server, "PRAGMA max_page_count = 1073741823")
        await wait_for_health(channel, health_pb2.HealthCheckResponse.SERVING)
        for _ in range(3):
            assert await submit(len(acknowledged) + len(refused)) is grpc.StatusCode.OK
        async with asyncio.timeout(scaled_timeout(60)):
            for execution_id, text in acknowledged.items():
                result = await server.executions.wait_for_result(execution_id)
                assert result == Ok(ReturnValue(text)), execution_id
                log = await server.executions.get(execution_id)
                assert log.created.params == [text]
    with sqlite3.connect(sqlite_file(server)) as reader:
        assert reader.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
