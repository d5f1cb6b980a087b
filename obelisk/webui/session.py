"""Who is using the web UI, and the guards every request passes: host names, sessions, CSRF, security headers.

* ``Host`` must be one of the UI's names (``webui.host_names``; by default its listening host and loopback):
  a DNS-rebinding page, whose requests carry its own host name, gets 400 and never reaches a loopback UI.
* A session is an opaque random id in an ``HttpOnly``, ``SameSite=Strict`` cookie; what it stands for (the token's
  role, its CSRF token, its expiry) stays on the server (``SessionStore``). With tokens configured, a browser
  signs in with one (``pages_sign_in``); without, every browser gets an anonymous operator session, so the CSRF
  rule below holds in both cases.
* Every POST must come from the UI's own pages: an ``Origin`` (or ``Sec-Fetch-Site``) naming another site is
  refused, and the form must carry the session's CSRF token. A refused POST changes nothing: the check runs before
  the handler. A ``viewer`` session may read but not submit or cancel.
* Every response carries a Content-Security-Policy that admits only the UI's own scripts and styles (none
  inline: a style attribute is refused too, so the templates use classes), and forbids framing.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web

from obelisk.api.tokens import ANONYMOUS, Access, Identity, Role, TokenVerifier
from obelisk.config.values import parse_socket_addr
from obelisk.service.log_limit import LogLimit
from obelisk.webui.errors import Handler, Link, UiError
from obelisk.webui.forms import read_form

log = logging.getLogger(__name__)
_log_limit = LogLimit(log)

SESSION_COOKIE = "obelisk_session"
CSRF_FIELD = "csrf_token"
SIGN_IN_PATH = "/sign-in"
SIGN_OUT_PATH = "/sign-out"
SESSION_LIFETIME_SECONDS = 12 * 3600.0
"""A session ends this long after signing in; the browser then signs in again."""
MAX_SESSIONS = 4096
"""Sessions kept at once; past it the oldest is forgotten (its browser signs in again)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True, slots=True)
class UiSession:
    id: str
    identity: Identity
    csrf_token: str
    expires_at: float
    signed_in: bool
    """Signed in with a token; ``False`` for the anonymous session of a server without tokens."""

    @property
    def can_write(self) -> bool:
        return self.identity.role.may(Access.WRITE)


ANONYMOUS_PREFIX = "a."


class SessionStore:
    """The signed-in sessions, by id, oldest first; bounded (``MAX_SESSIONS``) and expiring.

    Anonymous sessions (a server without tokens) are not stored: their CSRF token is an HMAC of their id under a
    key of this process, so any number of cookieless visitors (probes, scripts) costs no memory and evicts nothing.
    """

    def __init__(
        self,
        lifetime_seconds: float = SESSION_LIFETIME_SECONDS,
        capacity: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lifetime = lifetime_seconds
        self._capacity = capacity
        self._clock = clock
        self._sessions: OrderedDict[str, UiSession] = OrderedDict()
        self._key = secrets.token_bytes(32)

    def __len__(self) -> int:
        return len(self._sessions)

    def anonymous(self, session_id: str | None = None) -> UiSession:
        """The anonymous session of ``session_id`` (a cookie this process set), or a new one."""
        if session_id is None or not session_id.startswith(ANONYMOUS_PREFIX) or len(session_id) > 100:
            session_id = ANONYMOUS_PREFIX + secrets.token_urlsafe(32)
        csrf = hmac.new(self._key, session_id.encode(), "sha256").hexdigest()
        return UiSession(session_id, ANONYMOUS, csrf, float("inf"), signed_in=False)

    def create(self, identity: Identity, *, signed_in: bool) -> UiSession:
        session = UiSession(
            id=secrets.token_urlsafe(32),
            identity=identity,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=self._clock() + self._lifetime,
            signed_in=signed_in,
        )
        self._sessions[session.id] = session
        while len(self._sessions) > self._capacity:
            self._sessions.popitem(last=False)
        return session

    def find(self, session_id: str | None) -> UiSession | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if self._clock() >= session.expires_at:
            del self._sessions[session_id]
            return None
        return session

    def drop(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)


@dataclass(slots=True)
class UiAuth:
    """What the guards need: the accepted tokens, the UI's host names, the sessions."""

    tokens: TokenVerifier
    host_names: frozenset[str] | None
    """Lower-case names accepted in ``Host``; ``None`` accepts any (``webui.host_names = ["*"]``)."""
    sessions: SessionStore


UI_AUTH = web.AppKey("obelisk_ui_auth", UiAuth)
SESSION_KEY = "obelisk_ui_session"
"""Where a request keeps its session: a string key (aiohttp's typed ``RequestKey`` is newer than the aiohttp floor,
3.11), read through ``request_session``."""


def request_session(request: web.Request) -> UiSession | None:
    """The session the guard found for this request, or ``None``."""
    found = request.get(SESSION_KEY)
    return found if isinstance(found, UiSession) else None


def default_host_names(listening_host: str | None, configured: list[str] | None) -> frozenset[str] | None:
    """``webui.host_names`` as a set; unset: the listening host and loopback (``localhost``, ``127.0.0.1``,
    ``::1``: a rebinding page never sends those); ``"*"`` among them: any."""
    if configured is not None:
        if "*" in configured:
            return None
        return frozenset(name.lower().strip("[]") for name in configured)
    names = {"localhost", "127.0.0.1", "::1"}
    if listening_host:
        names.add(listening_host.lower())
    return frozenset(names)


def host_name_of(host_header: str) -> str:
    """``example.org:8080`` -> ``example.org``; ``[::1]:8080`` -> ``::1``."""
    try:
        return parse_socket_addr(host_header)[0].lower()
    except ValueError:
        return host_header.lower().strip("[]")


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answers 400 to a ``Host`` that is not one of the UI's names (before any other work)."""
    allowed = request.app[UI_AUTH].host_names
    host = request.headers.get("Host")
    if allowed is not None and (host is None or host_name_of(host) not in allowed):
        _log_limit.log(logging.WARNING, "host", "web UI: refused a request for host %r (webui.host_names)", host)
        return web.Response(
            status=400,
            text=f"This web UI does not answer to the host name {host!r}; add it to webui.host_names.\n",
        )
    return await handler(request)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Finds the request's session (or starts an anonymous one), refuses what the session may not do, and gives the
    templates ``ui_session`` and ``csrf_token``."""
    if request.path.startswith("/static/") or getattr(request.match_info, "http_exception", None) is not None:
        return await handler(request)  # a static file, or no such page (404) or method (405)
    auth = request.app[UI_AUTH]
    cookie = request.cookies.get(SESSION_COOKIE)
    started: UiSession | None = None
    session: UiSession | None
    if auth.tokens.required:
        session = auth.sessions.find(cookie)
    else:
        session = auth.sessions.anonymous(cookie)
        if session.id != cookie:
            started = session
    if request.method not in SAFE_METHODS:
        _refuse_cross_site(request)
        if request.path != SIGN_IN_PATH:
            await _check_form(request, session)
    elif session is None and request.path != SIGN_IN_PATH:
        raise web.HTTPSeeOther(f"{SIGN_IN_PATH}?next={quote(request.path_qs, safe='')}")
    context = {
        "ui_session": session,
        "csrf_token": session.csrf_token if session is not None else "",
        "can_write": session is not None and session.can_write,
    }
    with warnings.catch_warnings():  # aiohttp-jinja2 keeps its template context under a string key
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        request[aiohttp_jinja2.REQUEST_CONTEXT_KEY] = context
        if session is not None:
            request[SESSION_KEY] = session
    response = await handler(request)
    if started is not None and not response.prepared:
        set_session_cookie(request, response, started)
    return response


def set_session_cookie(request: web.Request, response: web.StreamResponse, session: UiSession) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
        max_age=int(SESSION_LIFETIME_SECONDS),
    )


def _refuse_cross_site(request: web.Request) -> None:
    """A browser names the page a POST comes from: another site's is refused before the form is read. The page
    is the UI's own when its host is the request's ``Host``, or one of the configured ``webui.host_names`` (a
    reverse proxy may send the UI another ``Host`` than the browser used)."""
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    cross = fetch_site is not None and fetch_site not in ("same-origin", "none")
    if origin is not None:
        origin_host = urlsplit(origin).netloc.lower() if origin != "null" else ""
        names = request.app[UI_AUTH].host_names
        own = origin_host == (request.headers.get("Host") or "").lower() or (
            bool(origin_host) and names is not None and host_name_of(origin_host) in names
        )
        cross = cross or not own
    if cross:
        _log_limit.log(
            logging.WARNING, "cross-site", "web UI: refused a cross-site %s %s", request.method, request.path
        )
        raise UiError(
            403,
            "Refused",
            f"This request came from another site ({origin or fetch_site}); nothing was changed.",
            (Link("/", "Executions"),),
        )


async def _check_form(request: web.Request, session: UiSession | None) -> None:
    """The POST must belong to a session, carry its CSRF token, and (but for signing out) be the session's to make."""
    if session is None:
        raise UiError(401, "Signed out", "Sign in to do this; nothing was changed.", (Link(SIGN_IN_PATH, "Sign in"),))
    form = await read_form(request)
    presented = form.get(CSRF_FIELD)
    if not isinstance(presented, str) or not hmac.compare_digest(presented.encode(), session.csrf_token.encode()):
        _log_limit.log(
            logging.WARNING, "csrf", "web UI: refused %s %s without its CSRF token", request.method, request.path
        )
        raise UiError(
            403,
            "Refused",
            "This form is stale or did not come from this UI (its CSRF token is missing or wrong); nothing was "
            "changed. Reload the page and try again.",
            (Link("/", "Executions"),),
        )
    if request.path != SIGN_OUT_PATH and not session.can_write:
        raise UiError(
            403,
            "Read only",
            f"You are signed in with a {session.identity.role} token, which may read but not submit or cancel; "
            "nothing was changed.",
            (Link("/", "Executions"),),
        )


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every response, pages, errors, static files and live streams alike."""
    del request
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def role_label(role: Role) -> str:
    return "read only" if role is Role.VIEWER else "operator"
