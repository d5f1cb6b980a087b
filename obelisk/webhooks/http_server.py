"""The aiohttp servers of ``[[http_server]]`` and the request path of a webhook (reference §6.7).

Per request: route (404 ``Route not found``), take a permit of ``max_inflight_requests`` without waiting (503
``Out of permits``), read the body up to ``max_request_body_bytes`` (413 past it, 408 when it does not arrive in
time), then run the matched webhook on a thread. The response head is sent when the guest sets it, and body chunks
follow as the guest writes them. A guest that fails before answering gets 500 ``Component Error`` (503 when it
could not even be instantiated); one that fails mid-body has its connection cut, so the client sees an
incomplete response rather than a truncated one passing as whole. The permit is held until the guest's thread
returns, not merely until the response is sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from obelisk.config.models import HttpServerConfig
from obelisk.config.values import UNLIMITED, parse_socket_addr
from obelisk.webhooks.routing import Router
from obelisk.workers.webhook import WebhookOutcome, WebhookRequest, WebhookWorker

log = logging.getLogger(__name__)

BODY_READ_TIMEOUT_SECONDS = 30.0
DEFAULT_THREADS = 32
_END = object()


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


class WebhookHttpServer:
    """One ``[[http_server]]`` with the webhooks mounted on it."""

    def __init__(self, config: HttpServerConfig, mounts: Sequence[Mount]) -> None:
        self.config = config
        self._router: Router[WebhookWorker] = Router()
        for mount in mounts:
            self._router.add(mount.route, mount.worker, mount.methods)
        limit = config.max_inflight_requests
        self._permits: int | None = None if limit == UNLIMITED else int(limit)
        self._inflight = 0
        threads = self._permits if self._permits is not None else DEFAULT_THREADS
        self._pool = concurrent.futures.ThreadPoolExecutor(max(1, threads), thread_name_prefix=f"webhook-{config.name}")
        self._runner: web.ServerRunner | None = None
        self._site: web.TCPSite | None = None
        self.port: int | None = None
        self.served = 0
        self.refused = 0

    async def start(self) -> None:
        server = web.Server(self._handle)
        self._runner = web.ServerRunner(server, handle_signals=False)
        await self._runner.setup()
        host, port = parse_socket_addr(self.config.listening_addr)
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        sockets = getattr(self._site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("http_server %s listening on %s:%s", self.config.name, host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        matched = self._router.match(request.method, request.path_qs)
        if matched is None:
            return web.Response(status=404, text="Route not found")
        if self._permits is not None and self._inflight >= self._permits:
            self.refused += 1
            return web.Response(status=503, text="Out of permits")
        self._inflight += 1
        released = False

        def release(_: object = None) -> None:
            nonlocal released
            if not released:
                released = True
                self._inflight -= 1

        try:
            body = await self._read_body(request)
            if isinstance(body, web.Response):
                release()
                return body
            webhook_request = WebhookRequest(
                method=request.method,
                path_with_query=request.raw_path,
                authority=request.host,
                headers=[(name.decode("latin-1").lower(), value) for name, value in request.raw_headers],
                body=body,
                params=matched.params,
            )
            loop = asyncio.get_running_loop()
            bridge = _Bridge(loop)
            work = loop.run_in_executor(self._pool, matched.target.handle, webhook_request, _Target(bridge))
            work.add_done_callback(release)
            return await self._respond(request, bridge, work)
        except BaseException:
            # Until ``work`` exists nothing else releases the permit; afterwards ``release`` is idempotent.
            if "work" not in locals():
                release()
            raise

    async def _read_body(self, request: web.BaseRequest) -> bytes | web.Response:
        limit = self.config.max_request_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return web.Response(status=413, text=f"Request body larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(BODY_READ_TIMEOUT_SECONDS):
                while True:
                    chunk = await request.content.read(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        return web.Response(status=413, text=f"Request body larger than {limit} bytes")
                    chunks.append(chunk)
        except TimeoutError:
            return web.Response(status=408, text="Request body not received in time")
        return b"".join(chunks)

    async def _respond(
        self, request: web.BaseRequest, bridge: _Bridge, work: asyncio.Future[WebhookOutcome]
    ) -> web.StreamResponse:
        waiting: list[asyncio.Future[object]] = [bridge.head, work]  # type: ignore[list-item]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not bridge.head.done():
            outcome = await work
            self.served += 1
            if outcome.instantiation_failed:
                return web.Response(status=503, text="Component Error")
            return web.Response(status=500, text="Component Error")
        status, headers = bridge.head.result()
        response = web.StreamResponse(status=status)
        for name, value in headers:
            if name.lower() in ("content-length", "transfer-encoding", "connection"):
                continue
            response.headers.add(name, value.decode("latin-1"))
        await response.prepare(request)
        while True:
            item = await bridge.chunks.get()
            if item is _END:
                break
            assert isinstance(item, bytes)
            await response.write(item)
        self.served += 1
        if bridge.error is not None:
            log.info("webhook response cut short: %s", bridge.error)
            if request.transport is not None:
                request.transport.abort()
            return response
        await response.write_eof()
        return response
