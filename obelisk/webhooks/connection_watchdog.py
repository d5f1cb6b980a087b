"""Deadlines for slow and silent HTTP clients, shared by the webhook servers and the web UI.

aiohttp 3 has no timeout for a request's head: a client that sends half a request line, or a header a byte at a
time, holds its socket (and a file descriptor of the process) for as long as it likes; its ``keepalive_timeout``
covers only a connection waiting for its next request, and only in recent versions the first one. So each
connection here gets a watchdog with one timer at a time, armed by what the connection is doing:

* **idle** (connected, or between keep-alive requests, no byte of a request yet): ``idle_timeout``, then closed;
* **head** (the first byte of a request arrived, its head is not complete): ``header_timeout``, then answered
  408 and closed;
* **busy** (a handler runs): no timer here. The body's deadline (``body_timeout``) is enforced where the body is
  read (``read_body_with_deadline``, 408), and what a handler does afterwards has limits of its own (a webhook's
  request deadline, the web UI's cap on live streams).

The handler is cancelled when its client disconnects (aiohttp's ``handler_cancellation``), so a request whose
client went away stops holding anything.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from obelisk.config.models import HttpConnectionLimits
from obelisk.service.log_limit import LogLimit

log = logging.getLogger(__name__)
_log_limit = LogLimit(log)

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass(frozen=True, slots=True)
class ConnectionTimeouts:
    header_seconds: float
    body_seconds: float
    idle_seconds: float

    @classmethod
    def of(cls, limits: HttpConnectionLimits) -> ConnectionTimeouts:
        return cls(
            header_seconds=limits.header_timeout.total_seconds(),
            body_seconds=limits.body_timeout.total_seconds(),
            idle_seconds=limits.idle_timeout.total_seconds(),
        )


class _Phase(enum.Enum):
    IDLE = "idle"
    HEAD = "head"
    BUSY = "busy"


class WatchedConnection(RequestHandler):
    """aiohttp's protocol of one connection, with the watchdog's timer (see the module docstring)."""

    def __init__(self, manager: web.Server, timeouts: ConnectionTimeouts, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._timeouts = timeouts
        self._phase = _Phase.IDLE
        self._timer: asyncio.TimerHandle | None = None
        self.timed_out = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm(_Phase.IDLE, self._timeouts.idle_seconds)

    def data_received(self, data: bytes) -> None:
        if data and self._phase is _Phase.IDLE:
            self._arm(_Phase.HEAD, self._timeouts.header_seconds)
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A request aiohttp could not parse (a request line or header past its limits, bytes that are not HTTP)
        was the client's mistake, answered 400: one line, rate-limited, not an error with a traceback."""
        error = kw.get("exc_info")
        if isinstance(error, HttpProcessingError):
            message = " ".join(str(error.message).split())[:200]
            _log_limit.log(
                logging.INFO, "malformed request", "HTTP %d for a malformed request: %s", error.code, message
            )
            return
        super().log_exception(*args, **kw)

    def request_started(self) -> None:
        self._disarm()
        self._phase = _Phase.BUSY

    def request_finished(self) -> None:
        if self.transport is not None:
            self._arm(_Phase.IDLE, self._timeouts.idle_seconds)

    def _arm(self, phase: _Phase, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expired, phase)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, phase: _Phase) -> None:
        self._timer = None
        transport = self.transport
        if transport is None or phase is not self._phase:
            return
        if phase is _Phase.HEAD:
            transport.write(_REQUEST_TIMEOUT)
        self.force_close()


class WatchedServer(web.Server):
    """aiohttp's low-level server whose connections are ``WatchedConnection``s; handlers are cancelled when their
    client disconnects."""

    def __init__(self, handler: Handler, *, timeouts: ConnectionTimeouts, **kwargs: Any) -> None:
        super().__init__(_watched(handler), handler_cancellation=True, **kwargs)
        self._timeouts = timeouts
        self._handler_kwargs = kwargs
        self._handler_kwargs.pop("request_factory", None)
        self._handler_kwargs.pop("loop", None)

    def __call__(self) -> RequestHandler:
        return WatchedConnection(self, self._timeouts, loop=asyncio.get_running_loop(), **self._handler_kwargs)


class WatchedAppRunner(web.AppRunner):
    """An ``AppRunner`` whose server is a ``WatchedServer``; ``server_kwargs`` go to the server's connections."""

    def __init__(self, app: web.Application, *, timeouts: ConnectionTimeouts, **server_kwargs: Any) -> None:
        super().__init__(app, **server_kwargs)
        self._timeouts = timeouts
        self._server_kwargs = server_kwargs
        self._server_kwargs.pop("shutdown_timeout", None)

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts the app up and freezes it; its handler is what is watched
        return WatchedServer(
            plain.request_handler,
            timeouts=self._timeouts,
            request_factory=plain.request_factory,
            **self._server_kwargs,
        )


def _watched(handler: Handler) -> Handler:
    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        protocol = request.protocol
        if isinstance(protocol, WatchedConnection):
            protocol.request_started()
        try:
            return await handler(request)
        finally:
            if isinstance(protocol, WatchedConnection):
                protocol.request_finished()

    return handle


class BodyTimeout(Exception):
    """The request body did not arrive within ``body_timeout``."""


async def read_body_with_deadline(request: web.BaseRequest, limit: int, seconds: float) -> bytes | None:
    """The whole body, or ``None`` when it is longer than ``limit``; raises ``BodyTimeout`` past ``seconds``."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                chunk = await request.content.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
    except TimeoutError:
        raise BodyTimeout(f"request body not received within {seconds:g} s") from None
    return b"".join(chunks)
