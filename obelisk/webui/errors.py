"""Every failure becomes a friendly page with the right status; a traceback never reaches the browser.

Known errors map to statuses here (an unknown id is a 404 that says what was looked for and where to go next, a
malformed cursor or id a 400, a database that cannot be written a 503, logged at most once per kind and interval);
anything unexpected is logged with its traceback and answered with a plain 500 page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp_jinja2
from aiohttp import web

from obelisk.concepts.errors import ParseError
from obelisk.registry import FunctionNotFound
from obelisk.service.components import ComponentNotFound
from obelisk.service.json_input import JsonInputError
from obelisk.service.log_limit import LogLimit
from obelisk.storage.interface import ExecutionNotFound, StorageFault, StorageFull
from obelisk.webui.cursors import BadCursor

log = logging.getLogger(__name__)
_log_limit = LogLimit(log)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    text: str


class UiError(Exception):
    """Raised by handlers for a page-level problem that has a status and a message for people."""

    def __init__(self, status: int, title: str, message: str, links: tuple[Link, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.links = links


_HOME = Link("/", "Executions")
_COMPONENTS = Link("/components", "Components")

_HTTP_TITLES = {
    404: "Page not found",
    405: "Method not allowed",
    400: "Bad request",
    408: "Request timeout",
    413: "Request too large",
    503: "Service unavailable",
}


def ui_error_of(error: BaseException, request: web.Request) -> UiError | None:
    match error:
        case UiError():
            return error
        case ExecutionNotFound():
            return UiError(
                404,
                "Execution not found",
                f"There is no execution {error.execution_id} in this server's database.",
                (_HOME,),
            )
        case ComponentNotFound():
            return UiError(
                404,
                "Component not found",
                f"No component with id {error.component_id} is configured. Ids change when a component's file "
                "changes; the list shows the current ones.",
                (_COMPONENTS,),
            )
        case FunctionNotFound():
            return UiError(404, "Function not found", str(error), (_COMPONENTS,))
        case BadCursor():
            return UiError(400, "Malformed cursor", str(error), (_HOME,))
        case ParseError() | JsonInputError():
            return UiError(400, "Malformed request", str(error), (_HOME,))
        case StorageFault():
            kind = f"{request.method} {type(error).__name__}"
            _log_limit.log(logging.WARNING, kind, "web UI: %s %s refused: %s", request.method, request.path, error)
            title = "The database is full" if isinstance(error, StorageFull) else "The database is unavailable"
            return UiError(503, title, f"{error}. Nothing was changed; try again later.", (_HOME,))
        case web.HTTPException() if error.status >= 400:
            title = _HTTP_TITLES.get(error.status, error.reason)
            message = f"Nothing lives at {request.path}." if error.status == 404 else error.text or error.reason
            return UiError(error.status, title, message, (_HOME, _COMPONENTS))
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        ui_error = ui_error_of(e, request)
        assert ui_error is not None
        return render_error(request, ui_error)
    except Exception as e:
        ui_error = ui_error_of(e, request)
        if ui_error is None:
            log.exception("web UI: %s %s failed", request.method, request.path)
            ui_error = UiError(
                500,
                "Something went wrong",
                "The server could not show this page. The error is in the server log.",
                (_HOME,),
            )
        return render_error(request, ui_error)


def render_error(request: web.Request, error: UiError) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "error.html",
        request,
        {"title": error.title, "message": error.message, "links": error.links, "status": error.status},
        status=error.status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
