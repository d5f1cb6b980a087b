"""The aiohttp servers of ``[[http_server]]`` and the request path of a webhook (docs/webhooks-and-http.md).

Per request: refuse a path with a dot-segment (400), route (404 ``Route not found``), read the body up to
``max_request_body_bytes`` (413 past it, 408 when it does not arrive within ``body_timeout``), then take a permit
of ``max_inflight_requests`` without waiting (503 ``Out of permits``) and run the matched webhook on a thread.
The permit is taken only once the body is in, so clients trickling their bodies cannot hold permits; it is held
until the guest's thread returns, not merely until the response is sent.

The response head is sent when the guest sets it, and body chunks follow as the guest writes them. A guest that
fails before answering gets 500 ``Component Error`` (503 when it could not even be instantiated); one that fails
mid-body has its connection cut, so the client sees an incomplete response rather than a truncated one passing as
whole.

Every request has a deadline, ``request_timeout`` of its webhook from its arrival: past it the guest is stopped
and the client gets 504 (or, mid-body, a cut connection). A client that disconnects stops its guest the same way.
Connections are watched for slow heads and idleness (``connection_watchdog``). ``stop`` shuts down gracefully:
no new connections, ``shutdown_grace`` for the requests in flight, then the rest are stopped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from obelisk.config.models import HttpServerConfig
from obelisk.config.values import UNLIMITED, parse_socket_addr
from obelisk.executor.threads import ElasticThreadPool
from obelisk.webhooks.connection_watchdog import (
    BodyTimeout,
    ConnectionTimeouts,
    WatchedServer,
    read_body_with_deadline,
)
from obelisk.webhooks.request_control import RequestControl, StopReason
from obelisk.webhooks.routing import DotSegmentInPath, Router
from obelisk.webhooks.worker import WebhookOutcome, WebhookRequest, WebhookWorker

log = logging.getLogger(__name__)

DEFAULT_THREADS = 32
"""Guests running at once when ``max_inflight_requests`` is unlimited; more requests wait for a thread (within
their deadline)."""
STOPPED_GUEST_WAIT_SECONDS = 2.0
"""At shutdown, how long stopped guests get to unwind and finish their execution records."""
_END = object()
_STOPPED_STATUS = {StopReason.DEADLINE: 504, StopReason.SHUTDOWN: 503, StopReason.DISCONNECTED: 499}


NO_ENDPOINT = ""
"""The endpoint a ``ResponseObserver`` hears for a request that matched no route."""
ResponseObserver = Callable[[str, int], None]
"""``(component_id, status)`` of each request answered: the matched webhook's component id (``NO_ENDPOINT`` for none)
and the HTTP status sent, heard as the response head is sent (a response cut mid-body counts with the status it
began with)."""


@dataclass(frozen=True, slots=True)
class Mount:
    """A webhook mounted on one route."""

    worker: WebhookWorker
    route: str
    methods: Sequence[str] | None = None


class _Bridge:
    """Carries the response from the guest's thread to the request's coroutine, in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.head: asyncio.Future[tuple[int, list[tuple[str, bytes]]]] = loop.create_future()
        self.chunks: asyncio.Queue[object] = asyncio.Queue()
        self.error: str | None = None
        self._ended = False

    def _set_head(self, status: int, headers: list[tuple[str, bytes]]) -> None:
        if not self.head.done():
            self.head.set_result((status, headers))

    def head_from_thread(self, status: int, headers: list[tuple[str, bytes]]) -> None:
        self._loop.call_soon_threadsafe(self._set_head, status, headers)

    def chunk_from_thread(self, data: bytes) -> None:
        self._loop.call_soon_threadsafe(self.chunks.put_nowait, data)

    def _end(self, error: str | None) -> None:
        if self._ended:
            return
        self._ended = True
        self.error = error
        self.chunks.put_nowait(_END)

    def end_from_thread(self, error: str | None) -> None:
        self._loop.call_soon_threadsafe(self._end, error)


class _Target:
    """The ``ResponseTarget`` a worker writes to (its methods run on the worker's thread)."""

    def __init__(self, bridge: _Bridge) -> None:
        self._bridge = bridge

    def head(self, status: int, headers: list[tuple[str, bytes]]) -> None:
        self._bridge.head_from_thread(status, headers)

    def chunk(self, data: bytes) -> None:
        self._bridge.chunk_from_thread(data)

    def end(self, error: str | None) -> None:
        self._bridge.end_from_thread(error)


class _InFlight:
    """One request whose guest has been handed to a thread: what ``stop`` needs to stop it and wait for it."""

    def __init__(self, control: RequestControl, stopped: asyncio.Future[StopReason]) -> None:
        self.control = control
        self.stopped = stopped
        self.guest_done = asyncio.Event()
        self.responded = asyncio.Event()
        self.has_thread = False
        """Set once the guest is handed to a thread: from then on its return gives the thread and permit back."""


class WebhookHttpServer:
    """One ``[[http_server]]`` with the webhooks mounted on it."""

    def __init__(
        self, config: HttpServerConfig, mounts: Sequence[Mount], responded: ResponseObserver | None = None
    ) -> None:
        """``responded`` hears the status of every request answered (``obelisk.metrics``)."""
        self.config = config
        self._responded = responded
        self._router: Router[WebhookWorker] = Router()
        for mount in mounts:
            self._router.add(mount.route, mount.worker, mount.methods)
        limit = config.max_inflight_requests
        self._permits: int | None = None if limit == UNLIMITED else int(limit)
        self._inflight = 0
        self._threads = asyncio.Semaphore(self._permits if self._permits is not None else DEFAULT_THREADS)
        self._pool = ElasticThreadPool(f"webhook-{config.name}")
        self._timeouts = ConnectionTimeouts.of(config)
        self._requests: set[_InFlight] = set()
        self._runner: web.ServerRunner | None = None
        self._site: web.TCPSite | None = None
        self.port: int | None = None
        self.served = 0
        self.refused = 0
        self.stopped: dict[StopReason, int] = dict.fromkeys(StopReason, 0)

    @property
    def guests_running(self) -> int:
        """Guests whose thread has not returned yet (each holds a permit while it runs)."""
        return sum(1 for request in self._requests if not request.guest_done.is_set())

    async def start(self) -> None:
        server = WatchedServer(
            self._handle,
            timeouts=self._timeouts,
            keepalive_timeout=self._timeouts.idle_seconds,
            lingering_time=min(10.0, self._timeouts.body_seconds),
        )
        self._runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        host, port = parse_socket_addr(self.config.listening_addr)
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        sockets = getattr(self._site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("http_server %s listening on %s:%s", self.config.name, host, self.port)

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish within ``shutdown_grace``, stop the rest, wait briefly for
        their guests to unwind (so their execution records are finished), then close every connection."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner is not None and self._runner.server is not None:
            self._runner.server.pre_shutdown()  # idle keep-alive connections close now, busy ones after their request
        grace = self.config.shutdown_grace.total_seconds()
        if self._requests:
            log.info("http_server %s: up to %g s for %d requests", self.config.name, grace, len(self._requests))
            await _all_set([request.responded for request in self._requests], grace)
        for request in list(self._requests):
            request.control.stop(StopReason.SHUTDOWN)
        await _all_set([request.guest_done for request in self._requests], STOPPED_GUEST_WAIT_SECONDS)
        if self.guests_running:
            log.warning(
                "http_server %s: %d webhook guests still running after being stopped (computing until their "
                "deadline); not waiting for them",
                self.config.name,
                self.guests_running,
            )
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._pool.close()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        arrived = time.monotonic()
        endpoint = NO_ENDPOINT
        try:
            matched = self._router.match(request.method, request.raw_path)
        except DotSegmentInPath as refused:
            response: web.StreamResponse = _closing(web.Response(status=400, text=str(refused)))
        else:
            if matched is None:
                response = web.Response(status=404, text="Route not found")
            else:
                endpoint = matched.target.component_id
                response = await self._handle_matched(request, matched.target, matched.params, arrived)
        if self._responded is not None and not response.prepared:  # a streamed response was heard as it began
            self._responded(endpoint, response.status)
        return response

    async def _handle_matched(
        self, request: web.BaseRequest, worker: WebhookWorker, params: dict[str, str], arrived: float
    ) -> web.StreamResponse:
        try:
            body = await read_body_with_deadline(
                request, self.config.max_request_body_bytes, self._timeouts.body_seconds
            )
        except BodyTimeout as late:
            return _closing(web.Response(status=408, text=str(late)))
        if body is None:
            limit = self.config.max_request_body_bytes
            return _closing(web.Response(status=413, text=f"Request body larger than {limit} bytes"))
        if self._permits is not None and self._inflight >= self._permits:
            self.refused += 1
            return web.Response(status=503, text="Out of permits")
        control = RequestControl(arrived + worker.request_timeout_seconds)
        in_flight = _InFlight(control, asyncio.get_running_loop().create_future())
        self._inflight += 1
        self._requests.add(in_flight)
        try:
            return await self._run(request, worker, in_flight, params, body)
        except asyncio.CancelledError:
            control.stop(StopReason.DISCONNECTED)  # handlers are cancelled when their client goes away
            raise
        finally:
            in_flight.responded.set()
            if not in_flight.has_thread:
                self._guest_returned(in_flight)

    async def _run(
        self,
        request: web.BaseRequest,
        worker: WebhookWorker,
        in_flight: _InFlight,
        params: dict[str, str],
        body: bytes,
    ) -> web.StreamResponse:
        """Hands the guest to a thread and streams its response."""
        loop = asyncio.get_running_loop()
        control, stopped = in_flight.control, in_flight.stopped
        control.on_stop(lambda reason: _call_soon(loop, _settle, stopped, reason))
        deadline_timer = loop.call_at(loop.time() + control.remaining(), control.stop, StopReason.DEADLINE)
        try:
            if not await self._thread_slot(stopped):
                return self._stopped_response(stopped.result())
            webhook_request = WebhookRequest(
                method=request.method,
                path_with_query=request.raw_path,
                authority=request.host,
                headers=[(name.decode("latin-1").lower(), value) for name, value in request.raw_headers],
                body=body,
                params=params,
            )
            bridge = _Bridge(loop)
            try:
                guest = self._pool.submit(lambda: worker.handle(webhook_request, _Target(bridge), control))
            except BaseException:
                self._threads.release()
                raise
            in_flight.has_thread = True
            guest.add_done_callback(lambda _: _call_soon(loop, self._guest_returned, in_flight))
            return await self._respond(request, worker.component_id, bridge, guest, stopped)
        finally:
            deadline_timer.cancel()

    async def _thread_slot(self, stopped: asyncio.Future[StopReason]) -> bool:
        """Waits for a thread for the guest; ``False`` when the request is stopped first (deadline, shutdown)."""
        acquiring = asyncio.ensure_future(self._threads.acquire())
        waits: list[asyncio.Future[Any]] = [acquiring, stopped]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the client went away while waiting
            self._give_up_slot(acquiring)
            raise
        if acquiring.done():
            return True
        self._give_up_slot(acquiring)
        return False

    def _give_up_slot(self, acquiring: asyncio.Future[Any]) -> None:
        if acquiring.done():
            if not acquiring.cancelled():
                self._threads.release()
            return
        acquiring.cancel()
        # Should it have been handed the slot in the meantime, the slot goes straight back.
        acquiring.add_done_callback(lambda done: None if done.cancelled() else self._threads.release())

    def _guest_returned(self, in_flight: _InFlight) -> None:
        """The request's guest returned (or never got a thread): its permit and thread come back."""
        if in_flight.guest_done.is_set():
            return
        in_flight.guest_done.set()
        self._inflight -= 1
        if in_flight.has_thread:
            self._threads.release()
        self._requests.discard(in_flight)

    async def _respond(
        self,
        request: web.BaseRequest,
        endpoint: str,
        bridge: _Bridge,
        guest: concurrent.futures.Future[WebhookOutcome],
        stopped: asyncio.Future[StopReason],
    ) -> web.StreamResponse:
        work = asyncio.wrap_future(guest)
        waits: list[asyncio.Future[Any]] = [bridge.head, work, stopped]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if not bridge.head.done():
            if stopped.done():
                return self._stopped_response(stopped.result())
            outcome = await work
            self.served += 1
            if outcome.stopped is not None:
                return self._stopped_response(outcome.stopped)
            if outcome.instantiation_failed:
                return web.Response(status=503, text="Component Error")
            return web.Response(status=500, text="Component Error")
        status, headers = bridge.head.result()
        response = web.StreamResponse(status=status)
        for name, value in headers:
            if name.lower() in ("content-length", "transfer-encoding", "connection"):
                continue
            response.headers.add(name, value.decode("latin-1"))
        if self._responded is not None:  # now: the client may go away once it has the response, cancelling us
            self._responded(endpoint, status)
        await response.prepare(request)
        while True:
            item = asyncio.ensure_future(bridge.chunks.get())
            either: list[asyncio.Future[Any]] = [item, stopped]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not item.done():
                item.cancel()
                bridge.error = stopped.result().value
                break
            chunk = item.result()
            if chunk is _END:
                break
            assert isinstance(chunk, bytes)
            await response.write(chunk)
        self.served += 1
        if bridge.error is not None:
            log.info("webhook response cut short: %s", bridge.error)
            if request.transport is not None:
                request.transport.abort()
            return response
        await response.write_eof()
        return response

    def _stopped_response(self, reason: StopReason) -> web.Response:
        self.stopped[reason] += 1
        return _closing(web.Response(status=_STOPPED_STATUS[reason], text=f"Webhook stopped: {reason.value}"))


async def _all_set(events: list[asyncio.Event], seconds: float) -> None:
    """Waits until every event is set, at most ``seconds``."""
    waits = [asyncio.ensure_future(event.wait()) for event in events if not event.is_set()]
    if waits:
        _, late = await asyncio.wait(waits, timeout=seconds)
        for wait in late:
            wait.cancel()


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: object) -> None:
    """``call_soon_threadsafe`` from a guest's thread; after shutdown the loop may be closed, and nobody waits."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def _settle(future: asyncio.Future[StopReason], reason: StopReason) -> None:
    if not future.done():
        future.set_result(reason)


def _closing(response: web.Response) -> web.Response:
    """A response after which the connection is closed (its request may not have been read to its end)."""
    response.force_close()
    return response
