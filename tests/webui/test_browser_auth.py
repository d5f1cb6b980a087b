"""Signing in and working under the Content-Security-Policy in a real headless Chromium: the pages, their script,
styles and live updates run without a single CSP violation, and the session cookie is HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from obelisk.api.tokens import token_hash
from obelisk.server import Server
from tests.integration.server_harness import running_server, write_config
from tests.webui.test_browser import LAPTOP, _shoot, browser, chromium, components_toml

pytestmark = pytest.mark.slow
__all__ = ["browser", "chromium"]  # fixtures used here

OPERATOR = "operator-token-0123456789abcdef0123456789"


@pytest.fixture
async def server(tmp_path: Path, built_components: Path, codegen_cache: Path) -> AsyncIterator[Server]:
    extra = f'api.token_hashes = ["{token_hash(OPERATOR)}"]'
    config = write_config(tmp_path, codegen_cache, components_toml(built_components), extra=extra)
    async with running_server(config) as started:
        yield started


async def test_sign_in_submit_and_watch_live_without_csp_violations(server: Server, browser: object) -> None:
    base = f"http://127.0.0.1:{server.webui_port}"
    context = await browser.new_context(viewport=LAPTOP)  # type: ignore[attr-defined]
    # Every violation of the policy is also counted by the page itself, in case a console message is missed.
    await context.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation', "
        "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    await page.goto(base + "/components")
    await page.wait_for_url(re.compile(r".*/sign-in\?next=.*"))
    await page.fill("#token", "wrong")
    await page.click("button[type=submit]")
    assert "not accepted" in await page.locator(".form-error").inner_text()
    assert problems == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
    await _shoot(page, "sign-in")
    problems.clear()
    await page.fill("#token", OPERATOR)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r".*/components$"))

    (cookie,) = [c for c in await context.cookies() if c["name"] == "obelisk_session"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert OPERATOR not in cookie["value"]
    assert await page.evaluate("document.cookie") == "", "scripts cannot read the session"

    await page.goto(base + "/execution/submit/testing:fibo-workflow/workflow.fiboa")
    await page.fill("#p0", "10")
    await page.fill("#p1", "20")
    await page.click(".submit-form button[type=submit]")
    await page.wait_for_url(re.compile(r".*/execution/E_[0-9A-Z]{26}$"))
    await page.locator(".result-Ok pre.json").wait_for(timeout=60_000)
    assert await page.evaluate("document.documentElement.classList.contains('js')"), "app.js ran"
    await page.goto(base + "/")
    assert await page.locator("table.list tbody tr").count() >= 1
    assert await page.evaluate("getComputedStyle(document.querySelector('header.top')).display") == "block"
    assert await page.evaluate("window.__csp") == []
    await _shoot(page, "executions-signed-in", full_page=False)
    await page.evaluate("document.body.setAttribute('style', 'color: red')")  # what the policy refuses
    await page.wait_for_timeout(200)
    assert len(await page.evaluate("window.__csp")) == 1, "the violation counter works"

    await page.click(".sign-out button")
    await page.wait_for_url(re.compile(r".*/sign-in$"))
    csp_messages = [p for p in problems if "Content Security Policy" in p]
    assert len(csp_messages) == 1 and problems == csp_messages, problems
    await context.close()
