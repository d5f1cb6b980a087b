"""The Logs panel of an execution's page: the stored guest lines (escaped), the dropped count, and live updates
when lines come in while nothing else changes."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient

from obelisk.concepts.guest_logs import LogKind, LogLine
from obelisk.concepts.ids import ExecutionId
from obelisk.server import Server
from tests.storage.helpers import created
from tests.webui.test_pages import FIBO, _submit, _text_of

Client = TestClient[web.Request, web.Application]


async def test_the_panel_shows_each_line_with_its_kind_and_run_escaped_and_the_dropped_count(
    client: Client, server: Server
) -> None:
    execution_id = await _submit(server, FIBO, [10])
    page = await (await client.get(f"/execution/{execution_id}")).text()
    assert "No output: nothing logged" in page

    now = server.clock.now_us()
    await server.storage.append_logs(
        [
            LogLine(execution_id, "Run_1", now, LogKind.STDOUT, "<b>printed</b>"),
            LogLine(execution_id, "Run_1", now + 1, LogKind.WARN, "careful"),
            LogLine(execution_id, "", now + 2, LogKind.STDERR, "oops"),
        ],
        {execution_id: 4},
        keep=1000,
    )
    page = await (await client.get(f"/execution/{execution_id}")).text()
    assert "<b>printed" not in page
    assert _text_of(page, "log-text") == ["<b>printed</b>", "careful", "oops"]
    assert _text_of(page, "log-kind") == ["stdout", "warn", "stderr"]
    assert _text_of(page, "logs-dropped") == ["4 earlier lines dropped (the oldest first)."]
    assert "log-line log-stderr" in page


async def test_the_live_view_shows_new_lines_while_the_status_stays_the_same(client: Client, server: Server) -> None:
    execution_id = ExecutionId.generate()
    later = server.clock.now_us() + 3_600_000_000
    await server.storage.create(execution_id, created(scheduled_at=later), server.clock.now_us())
    response = await client.get(f"/execution/{execution_id}/live")
    assert response.status == 200
    try:
        first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
        assert first.startswith(b"event: update") and b"No output yet" in first
        server.log_sink.emit(execution_id, "Run_x", LogKind.INFO, "a line while pending")
        second = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
        assert second.startswith(b"event: update")
        assert b'<span class="log-text">a line while pending</span>' in second
    finally:
        response.close()
