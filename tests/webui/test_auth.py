"""The web UI's guards on a real server: sign-in with a token, the session cookie's flags, CSRF and cross-site
refusals that change nothing, viewers that cannot submit or cancel, the ``Host`` check, the security headers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from obelisk.api.tokens import Role, TokenVerifier, parse_token_hash, token_hash
from obelisk.concepts.events import Finished
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Cancelled
from obelisk.config.models import WebUiConfig
from obelisk.server import Server
from obelisk.storage.interface import ExecutionQuery
from obelisk.webui import create_app
from obelisk.webui.session import CONTENT_SECURITY_POLICY, SESSION_COOKIE, UI_AUTH
from tests.webui.conftest import csrf_token

Client = TestClient[web.Request, web.Application]
FIBO = "testing:fibo/fibo.fibo"
SPIN = "testing:spin/spin.spin"
OPERATOR = "operator-token-0123456789abcdef0123456789"
VIEWER = "viewer-token-0123456789abcdef0123456789ab"


def verifier() -> TokenVerifier:
    return TokenVerifier(
        [
            (parse_token_hash(token_hash(OPERATOR)), Role.OPERATOR),
            (parse_token_hash(token_hash(VIEWER)), Role.VIEWER),
        ]
    )


@pytest.fixture
async def guarded(server: Server) -> AsyncIterator[Client]:
    app = create_app(server.executions, server.components, server.clock, tokens=verifier())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def executions(server: Server) -> list[str]:
    return [str(s.execution_id) for s in await server.executions.list_executions(ExecutionQuery())]


def set_cookie(response: ClientResponse) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        cookie.load(header)
    return cookie


async def sign_in(client: Client, token: str, next_path: str = "/") -> ClientResponse:
    return await client.post("/sign-in", data={"token": token, "next": next_path}, allow_redirects=False)


# ---------------------------------------------------------------------------------------------- no tokens


async def test_a_cross_site_post_changes_nothing(client: Client, server: Server) -> None:
    """A page on another site posting the submit form (what a browser does for a hostile page) is refused."""
    await csrf_token(client)  # the browser has a session, as after any visit
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        response = await client.post(
            f"/execution/submit/{FIBO}", data={"p0": "10"}, headers=headers, allow_redirects=False
        )
        assert response.status == 403, headers
        assert "nothing was changed" in await response.text()
    assert await executions(server) == []


async def test_a_post_without_the_sessions_csrf_token_changes_nothing(client: Client, server: Server) -> None:
    token = await csrf_token(client)
    for data in ({"p0": "10"}, {"p0": "10", "csrf_token": "forged"}, {"p0": "10", "csrf_token": token[:-1]}):
        response = await client.post(f"/execution/submit/{FIBO}", data=data, allow_redirects=False)
        assert response.status == 403
        assert "CSRF token is missing or wrong" in await response.text()
    assert await executions(server) == []
    # The same form from the UI's own page, with its token and Origin, goes through.
    host = f"127.0.0.1:{client.port}"
    response = await client.post(
        f"/execution/submit/{FIBO}",
        data={"p0": "10", "csrf_token": token},
        headers={"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert len(await executions(server)) == 1


async def test_another_browsers_session_has_another_csrf_token(server: Server) -> None:
    app = create_app(server.executions, server.components, server.clock)
    async with TestClient(TestServer(app)) as first, TestClient(TestServer(app)) as second:
        assert await csrf_token(first) != await csrf_token(second)


async def test_anonymous_sessions_take_no_memory(client: Client) -> None:
    """Without tokens, cookieless visitors (probes, scripts) get sessions the server does not store."""
    token = await csrf_token(client)
    for _ in range(50):
        async with aiohttp.ClientSession() as other:
            await other.get(f"http://127.0.0.1:{client.port}/")
    assert len(client.app[UI_AUTH].sessions) == 0
    assert await csrf_token(client) == token, "the first browser's session still holds"


async def test_behind_a_proxy_the_public_name_is_an_origin_of_the_ui(server: Server) -> None:
    limits = WebUiConfig(listening_addr="127.0.0.1:0", host_names=["obelisk.example.org", "127.0.0.1"])
    app = create_app(server.executions, server.components, server.clock, limits)
    async with TestClient(TestServer(app)) as proxied:
        token = await csrf_token(proxied)
        for origin, status in (("https://obelisk.example.org", 303), ("https://evil.example", 403)):
            response = await proxied.post(
                f"/execution/submit/{FIBO}",
                data={"p0": "10", "csrf_token": token},
                headers={"Origin": origin},
                allow_redirects=False,
            )
            assert response.status == status, origin
    assert len(await executions(server)) == 1


async def test_the_anonymous_session_cookie_is_httponly_and_samesite_strict(client: Client) -> None:
    response = await client.get("/")
    morsel = set_cookie(response)[SESSION_COOKIE]
    assert morsel["httponly"] is True and morsel["samesite"] == "Strict" and morsel["path"] == "/"


async def test_a_foreign_host_name_is_refused(client: Client) -> None:
    """DNS rebinding: a page of attacker.example resolved to 127.0.0.1 sends its own name as Host."""
    for host in ("attacker.example", "attacker.example:8080", "127.0.0.2", "0.0.0.0"):
        response = await client.get("/", headers={"Host": host})
        assert response.status == 400, host
        assert "does not answer to the host name" in await response.text()
        assert response.headers["X-Frame-Options"] == "DENY"
    for host in (f"127.0.0.1:{client.port}", f"localhost:{client.port}", "LOCALHOST", "[::1]:8080"):
        assert (await client.get("/", headers={"Host": host})).status == 200, host


async def test_configured_host_names(server: Server) -> None:
    for names, host, status in (
        (["obelisk.example.org"], "obelisk.example.org:8080", 200),
        (["obelisk.example.org"], "localhost", 400),
        (["*"], "anything.example", 200),
    ):
        limits = WebUiConfig(listening_addr="127.0.0.1:0", host_names=names)
        app = create_app(server.executions, server.components, server.clock, limits)
        async with TestClient(TestServer(app)) as test_client:
            assert (await test_client.get("/", headers={"Host": host})).status == status, (names, host)


async def test_every_response_carries_the_security_headers(client: Client) -> None:
    page = await client.get("/")
    assert re.search(r'<link rel="stylesheet" href="(/static/style\.css[^"]*)"', await page.text())
    responses = [page, await client.get("/static/style.css"), await client.get("/no/such/page")]
    responses.append(await client.get("/components"))
    for response in responses:
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


# ---------------------------------------------------------------------------------------------- with tokens


async def test_pages_need_a_signed_in_session(guarded: Client) -> None:
    response = await guarded.get("/execution/list?state=finished", allow_redirects=False)
    assert response.status == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sign-in" and parse_qs(location.query) == {"next": ["/execution/list?state=finished"]}
    form = await guarded.get("/sign-in")
    assert form.status == 200 and 'type="password"' in await form.text()
    assert SESSION_COOKIE not in set_cookie(form), "no session before signing in"
    forged = await guarded.get("/", cookies={SESSION_COOKIE: "made-up"}, allow_redirects=False)
    assert forged.status == 303


async def test_signing_in_with_a_wrong_token_is_refused(guarded: Client) -> None:
    response = await sign_in(guarded, "not-a-token")
    assert response.status == 401
    assert "not accepted" in await response.text()
    assert SESSION_COOKIE not in set_cookie(response)


async def test_an_operator_signs_in_submits_and_signs_out(guarded: Client, server: Server) -> None:
    response = await sign_in(guarded, OPERATOR, "/components")
    assert response.status == 303 and response.headers["Location"] == "/components"
    morsel = set_cookie(response)[SESSION_COOKIE]
    assert morsel["httponly"] is True and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert OPERATOR not in morsel.value and len(morsel.value) >= 40
    page = await guarded.get("/")
    assert page.status == 200 and "Sign out" in await page.text()
    token = await csrf_token(guarded)
    submitted = await guarded.post(
        f"/execution/submit/{FIBO}", data={"p0": "10", "csrf_token": token}, allow_redirects=False
    )
    assert submitted.status == 303
    assert len(await executions(server)) == 1
    # Without the CSRF token a signed-in session changes nothing either.
    refused = await guarded.post(f"/execution/submit/{FIBO}", data={"p0": "10"}, allow_redirects=False)
    assert refused.status == 403 and len(await executions(server)) == 1

    signed_out = await guarded.post("/sign-out", data={"csrf_token": token}, allow_redirects=False)
    assert signed_out.status == 303 and signed_out.headers["Location"] == "/sign-in"
    assert (await guarded.get("/", allow_redirects=False)).status == 303


async def test_a_viewer_reads_but_cannot_submit_or_cancel(guarded: Client, server: Server) -> None:
    execution_id = ExecutionId.generate()
    await server.executions.submit(execution_id, SPIN, [10**12])  # runs until its lock expires
    assert (await sign_in(guarded, VIEWER)).status == 303
    page = await guarded.get(f"/execution/{execution_id}")
    text = await page.text()
    assert page.status == 200 and "cancel-form" not in text, "a viewer is not offered the Cancel button"
    form = await (await guarded.get(f"/execution/submit/{FIBO}")).text()
    assert "Read only: a viewer cannot submit" in form and "Submit execution</button>" not in form
    token = await csrf_token(guarded)
    for path, data in (
        (f"/execution/submit/{FIBO}", {"p0": "10"}),
        (f"/execution/{execution_id}/cancel", {"confirmed": "1"}),
    ):
        response = await guarded.post(path, data={**data, "csrf_token": token}, allow_redirects=False)
        assert response.status == 403, path
        assert "may read but not submit or cancel" in await response.text()
    assert await executions(server) == [str(execution_id)]
    events = await server.storage.list_events(execution_id, 0, 1000)
    cancelled = [e for e in events if isinstance(e.event, Finished) and isinstance(e.event.result, Cancelled)]
    assert cancelled == [], "the refused cancel did not cancel it"


async def test_sign_in_goes_back_only_to_a_page_of_this_ui(guarded: Client) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/x\r\nSet-Cookie: a=b"):
        response = await sign_in(guarded, OPERATOR, target)
        assert response.headers["Location"] == "/", target
