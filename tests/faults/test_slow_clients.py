"""Slow, silent and departing clients of the webhook servers and the web UI, and long webhook requests.

Each test holds real sockets against a real in-process server (the SIGTERM test: a real ``obelisk server run``)
with timeouts configured short, and asserts that what a client holds comes back in bounded time: a connection
that sends a request head a byte at a time or nothing at all is closed, a trickled body takes no permit, a guest
is stopped when its deadline passes or its client leaves, live streams are capped, a stopping server ends within
its grace. And that no work is lost: the children a stopped webhook started keep running to their end.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from obelisk.concepts.events import Finished, FinishedState
from obelisk.concepts.ffqn import WEBHOOK_FFQN
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import ExecutionFailure, Ok
from obelisk.config import ObeliskConfig, load_config
from obelisk.server import Server
from obelisk.storage.interface import ExecutionQuery
from tests.faults.conftest import scaled, scaled_timeout
from tests.integration.server_harness import running_server, write_config
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.slow

SLEEP_FFQN = "testing:sleep-workflow/workflow.sleep-host-activity"
HEADER_TIMEOUT = 0.5
IDLE_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
SHORT_DEADLINE = 1.0
LONG_DEADLINE = 30.0
GRACE = 1.0
LIVE_STREAMS = 5
SLACK = 1.5
"""What a timeout may overrun by on a loaded 2-core machine (timers, scheduling), in seconds."""


def _config(built: Path, *, external: str = "127.0.0.1:0", webui: str = "127.0.0.1:0") -> tuple[str, str]:
    """``(extra, components)`` for ``write_config``: the web UI, and two http servers with the slow webhook on
    each, ``external`` (3 permits, a long deadline, plus the trap webhook's ``/ok``) and ``short`` (a short one)."""
    timeouts = f"""header_timeout = {{millis = {int(HEADER_TIMEOUT * 1000)}}}
idle_timeout = {{millis = {int(IDLE_TIMEOUT * 1000)}}}
body_timeout = {{millis = {int(BODY_TIMEOUT * 1000)}}}"""
    extra = f"""
[webui]
listening_addr = "{webui}"
max_live_streams = {LIVE_STREAMS}
host_names = ["test", "127.0.0.1"]
{timeouts}
"""
    components = f"""
[[activity_wasm]]
name = "sleep_activity"
location.path = "{built / "sleep_activity.wasm"}"

[[workflow]]
name = "sleep_workflow"
location.path = "{built / "sleep_workflow.wasm"}"

[[http_server]]
name = "external"
listening_addr = "{external}"
max_inflight_requests = 3
shutdown_grace = {{millis = {int(GRACE * 1000)}}}
{timeouts}

[[http_server]]
name = "short"
listening_addr = "127.0.0.1:0"
{timeouts}

[[webhook_endpoint]]
name = "slow_webhook"
location.path = "{built / "slow_webhook.wasm"}"
http_server = "external"
routes = ["/sleep/:MILLIS", "/nap/:MILLIS", "/spin"]
request_timeout = {{secs = {int(LONG_DEADLINE)}}}

[[webhook_endpoint]]
name = "slow_webhook_short"
location.path = "{built / "slow_webhook.wasm"}"
http_server = "short"
routes = ["/sleep/:MILLIS", "/nap/:MILLIS", "/spin"]
request_timeout = {{millis = {int(SHORT_DEADLINE * 1000)}}}

[[webhook_endpoint]]
name = "trap_webhook"
location.path = "{built / "trap_webhook.wasm"}"
http_server = "external"
routes = ["/ok"]
"""
    return extra, components


@pytest.fixture
async def server(tmp_path: Path, codegen_cache: Path, built_components: Path) -> AsyncIterator[Server]:
    extra, components = _config(built_components)
    async with running_server(write_config(tmp_path, codegen_cache, components, extra=extra)) as started:
        yield started


# ---- raw HTTP -------------------------------------------------------------------------------------------------


class Connection:
    """A client socket that sends exactly what it is told to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, data: bytes = b"") -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connection = cls(reader, writer)
        if data:
            await connection.send(data)
        return connection

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def closed_by_server_within(self, seconds: float) -> bytes:
        """Everything the server sends until it closes the connection; fails if it is still open after ``seconds``."""
        received = b""
        async with asyncio.timeout(seconds):
            while chunk := await self.reader.read(65536):
                received += chunk
        return received

    async def response(self, seconds: float = 10.0) -> tuple[int, str]:
        """Status and body of one ``Connection: close`` response."""
        data = await self.closed_by_server_within(seconds)
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body.decode(errors="replace")

    def close(self) -> None:
        self.writer.close()


async def _request(port: int, path: str, seconds: float = 10.0) -> tuple[int, str]:
    """Status and body of a plain GET on a connection of its own."""
    timeout = aiohttp.ClientTimeout(total=seconds)
    async with (
        aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text()


async def _webhook_records(server: Server) -> dict[str, ExecutionId]:
    """The webhook execution records by the path of their request."""
    summaries = await server.executions.list_executions(ExecutionQuery(ffqn=WEBHOOK_FFQN, length=100))
    records = {}
    for summary in summaries:
        log = await server.executions.get(summary.execution_id)
        records[str(log.created.params[1])] = summary.execution_id
    return records


async def _failure_of(server: Server, execution_id: ExecutionId) -> str:
    log = await server.executions.get(execution_id)
    last = log.events[-1].event
    assert isinstance(last, Finished), f"{execution_id} is not finished"
    assert isinstance(last.result, ExecutionFailure), last.result
    return last.result.reason


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float) -> None:
    """Polls the async predicate ``check`` until it holds; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{check} did not hold within {seconds} s")
        await asyncio.sleep(0.05)


# ---- connections ------------------------------------------------------------------------------------------------


async def test_request_heads_sent_a_byte_at_a_time_are_cut_off(server: Server, fault_scale: float) -> None:
    ports = [server.http_server_port("external"), server.webui_port]
    count = scaled(20, fault_scale)
    slow = [await Connection.open(port, b"GET /ok HTTP/1.1\r\nHost: test\r\n") for port in ports for _ in range(count)]
    started = time.monotonic()

    async def trickle(connection: Connection) -> bytes:
        # a header a byte every 100 ms: each byte is progress, none of it resets the head's deadline
        async def drip() -> None:
            for byte in b"X-Slow: " * 10:
                await asyncio.sleep(0.1)
                await connection.send(bytes([byte]))

        dripping = asyncio.ensure_future(drip())
        try:
            return await connection.closed_by_server_within(HEADER_TIMEOUT + SLACK)
        finally:
            dripping.cancel()

    answers = await asyncio.gather(*(trickle(c) for c in slow))
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers[:3]
    assert time.monotonic() - started < HEADER_TIMEOUT + SLACK
    # meanwhile and afterwards, a client that sends its request at once is served
    assert await _request(ports[0], "/ok") == (200, "ok")
    assert (await _request(ports[1], "/components"))[0] == 200
    for connection in slow:
        connection.close()


async def test_idle_connections_are_closed(server: Server, fault_scale: float) -> None:
    ports = [server.http_server_port("external"), server.webui_port]
    count = scaled(10, fault_scale)
    silent = [await Connection.open(port) for port in ports for _ in range(count)]
    # keep-alive connections that made one request and then say nothing
    kept: list[Connection] = []
    for port, path in ((ports[0], "/ok"), (ports[1], "/components")):
        connection = await Connection.open(port, f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        head = await connection.reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        kept.append(connection)
    started = time.monotonic()
    await asyncio.gather(*(c.closed_by_server_within(IDLE_TIMEOUT + SLACK) for c in silent + kept))
    assert time.monotonic() - started < IDLE_TIMEOUT + SLACK
    for connection in silent + kept:
        connection.close()


async def test_trickled_bodies_take_no_permit_and_get_408(server: Server, fault_scale: float) -> None:
    port = server.http_server_port("external")  # 3 permits
    count = scaled(5, fault_scale)

    def head(path: str) -> bytes:
        return f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\nConnection: close\r\n\r\n".encode()

    slow = [await Connection.open(port, head("/ok")) for _ in range(count)]
    slow.append(await Connection.open(server.webui_port, head(f"/execution/submit/{SLEEP_FFQN}")))

    async def trickle(connection: Connection) -> tuple[int, str]:
        async def drip() -> None:
            for _ in range(100):
                await connection.send(b"x")
                await asyncio.sleep(0.2)

        dripping = asyncio.ensure_future(drip())
        try:
            # the answer comes at the body's deadline; the server then reads on for a moment before closing
            return await connection.response(2 * BODY_TIMEOUT + SLACK)
        finally:
            dripping.cancel()

    trickling = asyncio.gather(*(trickle(c) for c in slow))
    await asyncio.sleep(0.3)
    # more requests than permits while the bodies trickle: none is refused for want of a permit
    assert await asyncio.gather(*(_request(port, "/ok") for _ in range(3))) == [(200, "ok")] * 3
    answers = await trickling
    assert [status for status, _ in answers] == [408] * (count + 1), answers
    assert "did not arrive within 1 s" in answers[-1][1]  # the web UI's error page
    for connection in slow:
        connection.close()


# ---- live streams ------------------------------------------------------------------------------------------------


async def test_live_streams_are_capped_and_closed_at_shutdown(
    tmp_path: Path, codegen_cache: Path, built_components: Path
) -> None:
    extra, components = _config(built_components)
    server = await Server.start(_load(write_config(tmp_path, codegen_cache, components, extra=extra)))
    streams: list[Connection] = []
    try:
        execution_id = ExecutionId.generate()
        await server.executions.submit(execution_id, SLEEP_FFQN, [{"seconds": 3600}])
        request = f"GET /execution/{execution_id}/live HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode()

        async def open_stream() -> tuple[Connection, bytes]:
            connection = await Connection.open(server.webui_port, request)
            return connection, await asyncio.wait_for(connection.reader.readline(), scaled_timeout(5))

        for _ in range(LIVE_STREAMS):
            connection, status = await open_stream()
            assert b" 200 " in status, status
            streams.append(connection)
        refused, status = await open_stream()
        assert b" 503 " in status, status
        assert b"max_live_streams" in await refused.closed_by_server_within(5)
        refused.close()
        # a browser that leaves gives its stream back at once (its handler is cancelled)
        streams.pop().close()

        async def reopened() -> bool:
            connection, status = await open_stream()
            if b" 200 " in status:
                streams.append(connection)
                return True
            connection.close()
            return False

        await _eventually(reopened, 2.0)
    finally:
        started = time.monotonic()
        await server.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 3.0
    for connection in streams:
        await connection.closed_by_server_within(1.0)
        connection.close()


def _load(path: Path) -> ObeliskConfig:
    return load_config(path, env={"HOME": str(path.parent)}).config


# ---- long webhook requests ---------------------------------------------------------------------------------------


async def test_a_guest_stops_when_its_client_leaves_and_its_children_go_on(server: Server) -> None:
    port = server.http_server_port("external")  # 3 permits, 30 s deadline
    paths = ["/sleep/60000", "/sleep/60001", "/nap/60000"]
    clients = [await Connection.open(port, f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()) for path in paths]
    await _eventually(lambda: _has_records(server, 2), 10.0)  # both direct calls have started their children
    assert await _request(port, "/ok") == (503, "Out of permits")
    for client in clients:
        client.close()
    left = time.monotonic()

    http_server = next(s for s in server.http_servers if s.config.name == "external")

    async def all_returned() -> bool:
        return http_server.guests_running == 0

    await _eventually(all_returned, 1.0 + SLACK)  # every guest stopped, its thread and permit back
    assert time.monotonic() - left < 1.0 + SLACK
    assert await asyncio.gather(*(_request(port, "/ok") for _ in range(3))) == [(200, "ok")] * 3
    records = await _webhook_records(server)
    for path in paths[:2]:
        record = records[path]
        assert await _failure_of(server, record) == "client disconnected"
        # the child is durable work: still sleeping, not cancelled with its parent's request
        child = await server.executions.get(record.child(1))
        assert not isinstance(child.pending_state, FinishedState), child.pending_state


async def _has_records(server: Server, count: int) -> bool:
    return len(await _webhook_records(server)) >= count


async def test_the_deadline_stops_guests_with_504_and_keeps_the_child(server: Server) -> None:
    port = server.http_server_port("short")  # 1 s deadline
    started = time.monotonic()
    answers = await asyncio.gather(_request(port, "/sleep/2500"), _request(port, "/spin"), _request(port, "/nap/60000"))
    took = time.monotonic() - started
    assert [status for status, _ in answers] == [504, 504, 504], answers
    assert all(body == "Webhook stopped: request deadline exceeded" for _, body in answers), answers
    assert SHORT_DEADLINE - 0.1 < took < SHORT_DEADLINE + SLACK
    http_server = next(s for s in server.http_servers if s.config.name == "short")

    async def all_returned() -> bool:
        return http_server.guests_running == 0

    await _eventually(all_returned, SLACK)  # the computing guest too: its store's epoch deadline stopped it
    record = (await _webhook_records(server))["/sleep/2500"]
    assert await _failure_of(server, record) == "request deadline exceeded"
    child_result = await asyncio.wait_for(server.executions.wait_for_result(record.child(1)), scaled_timeout(10))
    assert child_result == Ok(None)
    assert await _request(port, "/sleep/10") == (200, "slept 10 ms")


# ---- shutdown ------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_sigterm_stops_within_the_grace_and_loses_no_child(
    tmp_path: Path, codegen_cache: Path, built_components: Path, fault_scale: float
) -> None:
    port = _free_port()
    extra, components = _config(built_components, external=f"127.0.0.1:{port}")
    config = write_config(tmp_path, codegen_cache, components, extra=extra)
    process = ServerProcess(config).start()
    try:
        count = 3  # the external server's permits
        held = [
            await Connection.open(port, f"GET /sleep/{4000 + i} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
            for i in range(count)
        ]
        for i in range(count):  # each guest is about to start its child (it logs first)
            await asyncio.to_thread(process.wait_for_output, f"sleeping {4000 + i} ms", scaled_timeout(10.0))
        assert process.process is not None
        started = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(process.process.wait, 30)
        took = time.monotonic() - started
    finally:
        process.kill()
    output = "".join(process.output)
    assert exit_code == 0, output
    # the grace, the stopped guests' unwinding, the other servers' own short graces
    assert took < GRACE + 5.0, f"took {took:.1f} s\n{output}"
    answers = [await client.closed_by_server_within(1.0) for client in held]
    assert all(a == b"" or a.startswith(b"HTTP/1.1 503") for a in answers), answers
    for client in held:
        client.close()
    # restarted: every child the stopped webhooks started finishes; their records say why they ended
    async with running_server(config) as restarted:
        records = await _webhook_records(restarted)
        assert len(records) == count, records
        for record in records.values():
            assert await _failure_of(restarted, record) == "server shutting down"
            result = await asyncio.wait_for(restarted.executions.wait_for_result(record.child(1)), scaled_timeout(15))
            assert result == Ok(None)
            child = await restarted.executions.get(record.child(1))
            assert isinstance(child.pending_state, FinishedState)
