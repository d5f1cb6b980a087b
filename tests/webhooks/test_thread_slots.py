"""A request waiting for a guest thread gives up its place when it is stopped or its client leaves, and no slot
is lost either way (a lost slot would shrink the server's capacity for good)."""

from __future__ import annotations

import asyncio

from obelisk.config.models import HttpServerConfig
from obelisk.webhooks.http_server import WebhookHttpServer
from obelisk.webhooks.request_control import StopReason


def _server() -> WebhookHttpServer:
    return WebhookHttpServer(HttpServerConfig(name="s", listening_addr="127.0.0.1:0", max_inflight_requests=1), [])


async def _slots_free(server: WebhookHttpServer) -> int:
    """How many slots can be taken now (each is given back afterwards)."""
    taken = 0
    while True:
        never: asyncio.Future[StopReason] = asyncio.get_running_loop().create_future()
        attempt = asyncio.ensure_future(server._thread_slot(never))
        await asyncio.sleep(0.01)
        if not attempt.done():
            attempt.cancel()
            await asyncio.gather(attempt, return_exceptions=True)
            break
        assert attempt.result() is True
        taken += 1
    for _ in range(taken):
        server._threads.release()
    return taken


async def test_a_stopped_or_departed_waiter_leaves_no_slot_behind() -> None:
    server = _server()
    loop = asyncio.get_running_loop()
    holder: asyncio.Future[StopReason] = loop.create_future()
    assert await server._thread_slot(holder) is True  # the only slot is taken

    stopped: asyncio.Future[StopReason] = loop.create_future()
    waiting = asyncio.ensure_future(server._thread_slot(stopped))
    await asyncio.sleep(0.01)
    stopped.set_result(StopReason.DEADLINE)
    assert await waiting is False

    departing = asyncio.ensure_future(server._thread_slot(loop.create_future()))
    await asyncio.sleep(0.01)
    departing.cancel()
    await asyncio.gather(departing, return_exceptions=True)

    server._threads.release()  # the holder's guest returned
    assert await _slots_free(server) == 1
