"""The web UI application: routes, templates, static assets, and the server that hosts it.

Server-rendered with aiohttp-jinja2; every page works without JavaScript, which only adds live updates of a
running execution (server-sent events), local times and copy buttons. The UI reads through ``obelisk.service``
like the gRPC API, so both faces show the same data with the same validation.

The server guards itself like the webhook servers (``obelisk.webhooks.connection_watchdog``): slow request heads,
bodies and idle connections are timed out (``[webui] header_timeout``, ``body_timeout``, ``idle_timeout``), a
handler is cancelled when its browser disconnects, and at most ``max_live_streams`` live streams are open at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Middleware

from obelisk.concepts.clock import Clock
from obelisk.config.models import WebUiConfig
from obelisk.service.components import ComponentService
from obelisk.service.executions import ExecutionService
from obelisk.webhooks.connection_watchdog import ConnectionTimeouts, WatchedAppRunner
from obelisk.webui import pages_cancel, pages_components, pages_executions, pages_submit
from obelisk.webui.context import UI, UiContext, component_url, execution_url, submit_url
from obelisk.webui.errors import Handler, error_middleware
from obelisk.webui.formatting import duration_text, json_text, rfc3339, utc_text

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"


def _asset_version() -> str:
    """A digest of the static files: appended to their URLs so a browser never mixes old CSS with new markup."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:10]


def create_app(
    executions: ExecutionService, components: ComponentService, clock: Clock, limits: WebUiConfig | None = None
) -> web.Application:
    limits = limits or WebUiConfig()
    app = web.Application(middlewares=[error_middleware, _body_deadline(limits.body_timeout.total_seconds())])
    app[UI] = UiContext(executions, components, clock, max_live_streams=limits.max_live_streams)
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("obelisk.webui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        execution_url=execution_url,
        submit_url=submit_url,
        component_url=component_url,
        asset_version=_asset_version(),
        utc_text=utc_text,
        rfc3339=rfc3339,
        duration_text=duration_text,
        json_text=json_text,
    )
    app.router.add_get("/", pages_executions.executions_page, name="home")
    app.router.add_get("/execution/list", pages_executions.executions_page)
    app.router.add_get("/execution/submit/{ffqn:.+}", pages_submit.submit_form)
    app.router.add_post("/execution/submit/{ffqn:.+}", pages_submit.submit_post)
    app.router.add_get("/execution/{execution_id}", pages_executions.execution_page)
    app.router.add_get("/execution/{execution_id}/live", pages_executions.execution_stream)
    app.router.add_post("/execution/{execution_id}/cancel", pages_cancel.cancel_post)
    app.router.add_post("/execution/{execution_id}/cancel-delay/{delay_id}", pages_cancel.cancel_delay_post)
    app.router.add_get("/components", pages_components.components_page)
    app.router.add_get("/component/{component_id}", pages_components.component_page)
    app.router.add_static("/static", STATIC_DIR, append_version=False)
    app.on_shutdown.append(_cancel_streams)
    return app


async def _cancel_streams(app: web.Application) -> None:
    for task in list(app[UI].streams):
        task.cancel()


def _body_deadline(seconds: float) -> Middleware:
    """Reads a request's body (the handler then finds it read) within ``seconds``, else answers 408."""

    @web.middleware
    async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(seconds):
                    await request.read()
            except TimeoutError:
                raise web.HTTPRequestTimeout(text=f"The request body did not arrive within {seconds:g} s.") from None
        return await handler(request)

    return body_deadline


class WebUiServer:
    """The UI app bound to one address; ``port`` is the real one (tests bind port 0)."""

    def __init__(self, app: web.Application, limits: WebUiConfig | None = None) -> None:
        timeouts = ConnectionTimeouts.of(limits or WebUiConfig())
        self._runner = WatchedAppRunner(
            app,
            timeouts=timeouts,
            shutdown_timeout=2.0,
            access_log=None,
            keepalive_timeout=timeouts.idle_seconds,
            lingering_time=min(10.0, timeouts.body_seconds),
        )
        self.port = 0

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> int:
        """Serve on ``host:port``; over HTTPS when ``ssl_context`` (``[webui] tls_cert_file``...) is given."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await site.start()
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
                break
        scheme = "http" if ssl_context is None else "https"
        log.info("web UI listening on %s://%s:%d/", scheme, host if ":" not in host else f"[{host}]", self.port)
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()


async def start_webui(
    executions: ExecutionService,
    components: ComponentService,
    clock: Clock,
    host: str,
    port: int,
    limits: WebUiConfig | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> WebUiServer:
    server = WebUiServer(create_app(executions, components, clock, limits), limits)
    await server.start(host, port, ssl_context)
    return server
