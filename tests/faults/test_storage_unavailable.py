"""A database that cannot be written: ``UNAVAILABLE`` over the API with one log line, health ``NOT_SERVING`` until
writes work again, and a server started on a read-only database exits with one clear line.

``PRAGMA query_only`` on the server's own connection makes every write fail with ``SQLITE_READONLY``, whoever runs
the test. A second connection holding the write lock (``BEGIN EXCLUSIVE``) longer than the server's
``busy_timeout`` makes them fail with ``SQLITE_BUSY``, as another process keeping a long transaction open would.

A read-only file is harder to make when the tests run as root (permissions do not stop root): the start-up test uses
a read-only bind mount (needs ``unshare``) or the immutable attribute as root, ``chmod`` otherwise, and is skipped
where none of them works.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.any_pb2 import Any as AnyMessage
from grpc_health.v1 import health_pb2, health_pb2_grpc

from obelisk.api.client import STORAGE_FAULT_METADATA
from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.server import Server
from obelisk.storage.interface import ExecutionNotFound
from obelisk.storage.sqlite import SqliteStorage
from tests.cli.test_client_cli import assert_one_error_line, obelisk
from tests.faults.conftest import scaled_timeout, server_pragma
from tests.integration.server_harness import running_server, write_config
from tests.wat_fixtures import build_wat_fixture

FIBO = "testing:fibo/fibo.fibo"


def components(tmp_path: Path) -> str:
    return f"""
[[activity_wasm]]
name = "fibo"
location.path = "{build_wat_fixture("fibo", tmp_path / "wat")}"
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running_server(write_config(tmp_path, tmp_path / "codegen", components(tmp_path))) as running:
        assert isinstance(running.storage, SqliteStorage)
        running.storage.write_probe_seconds = 0.2
        yield running


def fibo_request(execution_id: str, n: int) -> pb.SubmitRequest:
    return pb.SubmitRequest(
        execution_id=pb.ExecutionId(id=execution_id),
        function_name=pb.FunctionName(interface_name="testing:fibo/fibo", function_name="fibo"),
        params=AnyMessage(value=json.dumps([n]).encode()),
    )


async def health(channel: grpc.aio.Channel, service: str = "") -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
    return int(response.status)


async def test_a_read_only_database_is_unavailable_and_recovers(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.api_port}") as channel:
        executions = pb_grpc.ExecutionRepositoryStub(channel)
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        await server_pragma(server, "PRAGMA query_only = 1")
        refused = [ExecutionId.generate() for _ in range(5)]
        for execution_id in refused:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await executions.Submit(fibo_request(execution_id, 10))
            assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
            assert "SQLITE_READONLY" in (raised.value.details() or "")
            assert (STORAGE_FAULT_METADATA, "StorageUnavailable") in tuple(raised.value.trailing_metadata() or ())
        assert await health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert await health(channel, "obelisk.ExecutionRepository") == health_pb2.HealthCheckResponse.NOT_SERVING
        assert await health(channel, "obelisk.FunctionRepository") == health_pb2.HealthCheckResponse.SERVING
        api_records = [r for r in caplog.records if r.name.startswith(("obelisk.api", "grpc"))]
        assert len(api_records) == 1  # one line for the five refusals (at most one per method and 10 s)
        assert "Submit refused with UNAVAILABLE" in api_records[0].getMessage()
        assert all(r.exc_info is None and r.levelno == logging.WARNING for r in api_records)
        # The CLI says what the server said, not that it cannot reach it.
        cli = await obelisk(
            "client", "--api-url", f"http://127.0.0.1:{server.api_port}", "execution", "submit", FIBO, "[1]"
        )
        assert_one_error_line(cli, "is unavailable", "SQLITE_READONLY")
        assert "cannot reach" not in cli.stderr
        # Reads still work, and nothing was written.
        for execution_id in refused:
            with pytest.raises(ExecutionNotFound):
                await server.executions.get(execution_id)

        assert (
            await asyncio.wait_for(watch.read(), scaled_timeout(5))
        ).status == health_pb2.HealthCheckResponse.NOT_SERVING

        await server_pragma(server, "PRAGMA query_only = 0")
        assert (
            await asyncio.wait_for(watch.read(), scaled_timeout(10))
        ).status == health_pb2.HealthCheckResponse.SERVING  # pushed
        watch.cancel()
        for _ in range(round(scaled_timeout(10) / 0.05)):
            if await health(channel) == health_pb2.HealthCheckResponse.SERVING:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("health did not come back to SERVING")
        execution_id = ExecutionId.generate()
        await executions.Submit(fibo_request(execution_id, 10))
        result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), scaled_timeout(10))
        assert result == Ok(ReturnValue(55))


@contextlib.asynccontextmanager
async def write_lock_held(database: Path) -> AsyncIterator[None]:
    """Another connection (as another process would) holds the database's write lock: ``BEGIN EXCLUSIVE``, which in
    WAL mode lets readers on but keeps every other writer waiting, for as long as the block lasts."""
    conn = await asyncio.to_thread(sqlite3.connect, database, isolation_level=None, check_same_thread=False)
    try:
        await asyncio.to_thread(conn.execute, "PRAGMA busy_timeout = 10000")  # the server may be mid-commit
        await asyncio.to_thread(conn.execute, "BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            await asyncio.to_thread(conn.execute, "ROLLBACK")
    finally:
        await asyncio.to_thread(conn.close)


async def test_a_database_locked_by_another_connection_is_unavailable_and_recovers(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite waits ``busy_timeout`` for a lock another connection holds, then fails with ``SQLITE_BUSY``: the
    configured wait (not lowered here) is held out, so every write the test makes meets the fault."""
    caplog.set_level(logging.INFO)
    assert isinstance(server.storage, SqliteStorage)
    busy_timeout = await server_pragma(server, "PRAGMA busy_timeout")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.api_port}") as channel:
        executions = pb_grpc.ExecutionRepositoryStub(channel)
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        refused = [ExecutionId.generate() for _ in range(5)]
        async with write_lock_held(server.storage.path):
            locked_at = time.monotonic()
            submits = [executions.Submit(fibo_request(execution_id, 10)) for execution_id in refused]
            outcomes = await asyncio.wait_for(asyncio.gather(*submits, return_exceptions=True), scaled_timeout(60))
            # Each waited the busy timeout out (none was refused at once, none hung).
            assert time.monotonic() - locked_at >= busy_timeout / 1000 * 0.9
            for outcome in outcomes:
                assert isinstance(outcome, grpc.aio.AioRpcError), outcome
                assert outcome.code() is grpc.StatusCode.UNAVAILABLE
                assert "SQLITE_BUSY" in (outcome.details() or ""), outcome.details()
                assert (STORAGE_FAULT_METADATA, "StorageUnavailable") in tuple(outcome.trailing_metadata() or ())
            assert await health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING
            assert await health(channel, "obelisk.ExecutionRepository") == health_pb2.HealthCheckResponse.NOT_SERVING
            assert (
                await asyncio.wait_for(watch.read(), scaled_timeout(5))
            ).status == health_pb2.HealthCheckResponse.NOT_SERVING
            api_records = [r for r in caplog.records if r.name.startswith(("obelisk.api", "grpc"))]
            assert len(api_records) == 1, [r.getMessage() for r in api_records]
            assert "Submit refused with UNAVAILABLE" in api_records[0].getMessage()
            assert "SQLITE_BUSY" in api_records[0].getMessage()
            assert all(r.exc_info is None for r in caplog.records), "a traceback was logged"
            assert time.monotonic() - locked_at > busy_timeout / 1000  # the lock outlasted the configured wait

        # Released: the probe finds the database writable, health says so at once, and writes work again.
        assert (
            await asyncio.wait_for(watch.read(), scaled_timeout(15))
        ).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
        for execution_id in refused:  # nothing of the refused writes was committed
            with pytest.raises(ExecutionNotFound):
                await server.executions.get(execution_id)
        execution_id = ExecutionId.generate()
        await executions.Submit(fibo_request(execution_id, 10))
        result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), scaled_timeout(10))
        assert result == Ok(ReturnValue(55))
        assert all(r.exc_info is None for r in caplog.records), "a traceback was logged"


# ---------------------------------------------------------------------------------------------- start-up


LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|DEBUG) ")


def _can(command: list[str]) -> bool:
    return (
        shutil.which(command[0]) is not None
        and subprocess.run(command, check=False, capture_output=True).returncode == 0
    )


@contextlib.contextmanager
def read_only_file(database: Path) -> Iterator[list[str]]:
    """The database file read-only (its directory writable); yields the command prefix to run the server with."""
    if os.geteuid() != 0:
        database.chmod(0o444)
        try:
            yield []
        finally:
            database.chmod(0o644)
        return
    if not _can(["chattr", "+i", str(database)]):
        pytest.skip("running as root, and the file system has no immutable attribute")
    try:
        yield []
    finally:
        subprocess.run(["chattr", "-i", str(database)], check=True)


@contextlib.contextmanager
def read_only_file_system(directory: Path) -> Iterator[list[str]]:
    """The database's directory on a read-only mount, in a mount namespace of the server's own."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield []
        finally:
            directory.chmod(0o755)
        return
    if not _can(["unshare", "-m", "true"]):
        pytest.skip("running as root without mount namespaces: no way to make a read-only database")
    script = f'mount --bind "{directory}" "{directory}" && mount -o remount,bind,ro "{directory}" && exec "$@"'
    yield ["unshare", "-m", "sh", "-c", script, "sh"]


@pytest.mark.parametrize("make_read_only", ["file", "file system"])
async def test_starting_on_a_read_only_database_exits_with_one_line(tmp_path: Path, make_read_only: str) -> None:
    config = write_config(tmp_path, tmp_path / "codegen", components(tmp_path))
    async with running_server(config):  # creates the database, then closes it cleanly
        pass
    database = tmp_path / "db" / "obelisk.sqlite"
    assert database.exists()
    context = read_only_file(database) if make_read_only == "file" else read_only_file_system(database.parent)
    with context as prefix:
        env = dict(os.environ, HOME=str(tmp_path))
        run = await asyncio.to_thread(
            subprocess.run,
            [*prefix, sys.executable, "-m", "obelisk", "server", "run", "-c", str(config)],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=scaled_timeout(60),
        )
    assert run.returncode != 0
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    # Start-up logs its INFO lines (components loaded) before the database is opened; the failure is one line.
    lines = [line for line in run.stderr.splitlines() if not LOG_LINE.match(line)]
    assert len(lines) == 1, run.stderr
    # The database itself ("database ... is unavailable: attempt to write a readonly database"), or on a read-only
    # file system the lock file the server takes next to it first ("Read-only file system: '....sqlite.lock'").
    assert lines[0].startswith("error: ") and str(database) in lines[0], lines[0]
    assert "read" in lines[0].lower() and "only" in lines[0], lines[0]
