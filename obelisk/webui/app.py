"""The web UI application: routes, templates, static assets, and the server that hosts it.

Server-rendered with aiohttp-jinja2; every page works without JavaScript, which only adds live updates of a
running execution (server-sent events), local times and copy buttons. The UI reads through ``obelisk.service``
like the gRPC API, so both faces show the same data with the same validation.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from obelisk.concepts.clock import Clock
from obelisk.service.components import ComponentService
from obelisk.service.executions import ExecutionService
from obelisk.webui import pages_components, pages_executions, pages_submit
from obelisk.webui.context import UI, UiContext, component_url, execution_url, submit_url
from obelisk.webui.errors import error_middleware
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


def create_app(executions: ExecutionService, components: ComponentService, clock: Clock) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[UI] = UiContext(executions, components, clock)
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
    app.router.add_get("/components", pages_components.components_page)
    app.router.add_get("/component/{component_id}", pages_components.component_page)
    app.router.add_static("/static", STATIC_DIR, append_version=False)
    app.on_shutdown.append(_cancel_streams)
    return app


async def _cancel_streams(app: web.Application) -> None:
    for task in list(app[UI].streams):
        task.cancel()


class WebUiServer:
    """The UI app bound to one address; ``port`` is the real one (tests bind port 0)."""

    def __init__(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=None)
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        for address in self._runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
                break
        log.info("web UI listening on http://%s:%d/", host if ":" not in host else f"[{host}]", self.port)
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()


async def start_webui(
    executions: ExecutionService, components: ComponentService, clock: Clock, host: str, port: int
) -> WebUiServer:
    server = WebUiServer(create_app(executions, components, clock))
    await server.start(host, port)
    return server
