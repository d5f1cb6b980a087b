"""Signing in to the web UI with an API token, and out again (``obelisk.webui.session`` keeps the sessions).

A token is typed once; the browser then holds only an opaque session id, so the token is never stored in it. A
wrong token is answered 401 with the form again and one log line (rate-limited), and changes nothing.
"""

from __future__ import annotations

import logging

import aiohttp_jinja2
from aiohttp import web

from obelisk.service.log_limit import LogLimit
from obelisk.webui.forms import read_form
from obelisk.webui.session import SESSION_COOKIE, SIGN_IN_PATH, UI_AUTH, request_session, set_session_cookie

log = logging.getLogger(__name__)
_log_limit = LogLimit(log)


def _safe_next(target: object) -> str:
    """Where to go after signing in: a path of this UI only (``//host`` or ``https://...`` would leave it)."""
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and all(" " < c != "\x7f" for c in target)  # no header splitting through the Location
    ):
        return target
    return "/"


def _form(request: web.Request, next_path: str, error: str | None, status: int) -> web.Response:
    values = {"next": next_path, "error": error, "nav": ""}
    response = aiohttp_jinja2.render_template("sign_in.html", request, values, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign_in_form(request: web.Request) -> web.Response:
    if not request.app[UI_AUTH].tokens.required:
        raise web.HTTPSeeOther("/")  # nothing to sign in to: every browser is let in
    return _form(request, _safe_next(request.query.get("next")), None, 200)


async def sign_in_post(request: web.Request) -> web.StreamResponse:
    auth = request.app[UI_AUTH]
    form = await read_form(request)
    next_path = _safe_next(form.get("next"))
    token = form.get("token")
    identity = auth.tokens.identify(token.strip()) if isinstance(token, str) and token.strip() else None
    if identity is None:
        _log_limit.log(logging.WARNING, "sign-in", "web UI: a sign-in with an unknown token was refused")
        return _form(request, next_path, "That token is not accepted by this server.", 401)
    old = request_session(request)
    if old is not None:
        auth.sessions.drop(old.id)
    session = auth.sessions.create(identity, signed_in=True)
    log.info("web UI: %s signed in as %s", identity.label, identity.role)
    response = web.Response(status=303, headers={"Location": next_path})
    set_session_cookie(request, response, session)
    return response


async def sign_out_post(request: web.Request) -> web.StreamResponse:
    session = request_session(request)
    if session is not None:
        request.app[UI_AUTH].sessions.drop(session.id)
    response = web.Response(
        status=303, headers={"Location": SIGN_IN_PATH if request.app[UI_AUTH].tokens.required else "/"}
    )
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
