"""The web UI in a real headless Chromium (Debian ``chromium``), driven by Playwright's async API.

The server is started the way a user starts it: ``webui.listening_addr = "127.0.0.1:0"`` in ``obelisk.toml``,
with the example fibo activity and workflow. Screenshots of the main pages (laptop and phone widths) are saved
to ``test-artifacts/screenshots/`` for people to look at.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from obelisk.concepts.events import Created, PausedState, PendingAt
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Cancelled
from obelisk.server import Server
from tests.integration.server_harness import running_server, write_config
from tests.wat_fixtures import build_wat_fixture
from tests.webui.conftest import WAT_CACHE

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def components_toml(components: Path) -> str:
    return f"""
webui.listening_addr = "127.0.0.1:0"

[[activity_wasm]]
name = "fibo_activity"
location.path = "{components / "fibo_activity.wasm"}"
max_retries = 0

[[activity_wasm]]
name = "types"
location.path = "{build_wat_fixture("types", WAT_CACHE)}"
max_retries = 0

[[workflow]]
name = "fibo_workflow"
location.path = "{components / "fibo_workflow.wasm"}"
exec.lock_expiry = {{secs = 5}}
"""


@pytest.fixture
async def server(tmp_path: Path, built_components: Path, codegen_cache: Path) -> AsyncIterator[Server]:
    config = write_config(tmp_path, codegen_cache, components_toml(built_components))
    async with running_server(config) as started:
        yield started


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver (.ci/run does it)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def _shoot(page: object, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)  # type: ignore[attr-defined]


async def test_submit_fibo_through_the_form_and_see_55_without_reloading(server: Server, browser: object) -> None:
    base = f"http://127.0.0.1:{server.webui_port}"
    page = await browser.new_page(viewport=LAPTOP)  # type: ignore[attr-defined]
    await page.goto(base + "/")
    assert await page.locator(".empty-title").inner_text() == "No executions yet — submit one"
    await _shoot(page, "executions-empty")

    await page.goto(base + "/components")
    await _shoot(page, "components")
    await page.locator("#fibo_activity a.fn-name", has_text="fibo").click()
    await page.wait_for_url(re.compile(r".*/execution/submit/testing:fibo/fibo\.fibo$"))
    assert await page.locator("label[for=p0]").inner_text() == "n u8"
    await page.fill("#p0", "10")
    await _shoot(page, "submit")
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r".*/execution/E_[0-9A-Z]{26}$"))
    await page.locator(".result-headline").wait_for()
    assert (await page.locator(".result pre.json").inner_text()).strip() == "55"
    await _shoot(page, "execution-fibo")


async def test_a_running_workflow_finishes_on_the_open_page(server: Server, browser: object) -> None:
    """Live updates: the page is opened while ``fiboa`` runs and shows 55 when it ends, with no navigation."""
    base = f"http://127.0.0.1:{server.webui_port}"
    page = await browser.new_page(viewport=LAPTOP)  # type: ignore[attr-defined]
    await page.goto(base + "/execution/submit/testing:fibo-workflow/workflow.fiboa")
    await page.fill("#p0", "10")
    await page.fill("#p1", "40")
    async with page.expect_navigation(url=re.compile(r".*/execution/E_[0-9A-Z]{26}$")) as navigation:
        await page.click("button[type=submit]")
    landed = await (await navigation.value).text()
    assert 'data-stream="/execution/' in landed, "the workflow finished before its page was served: nothing was live"
    await page.evaluate("window.__sameDocument = true")
    await _shoot(page, "execution-running")
    await page.locator(".result-Ok pre.json").wait_for(timeout=60_000)
    assert (await page.locator(".result pre.json").inner_text()).strip() == "55"
    assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    assert await page.locator(".status-main .badge").inner_text() == "FINISHED"


async def test_the_timeline_of_fiboa_10_5_shows_5_child_executions(server: Server, browser: object) -> None:
    base = f"http://127.0.0.1:{server.webui_port}"
    page = await browser.new_page(viewport=LAPTOP)  # type: ignore[attr-defined]
    await page.goto(base + "/execution/submit/testing:fibo-workflow/workflow.fiboa")
    await page.fill("#p0", "10")
    await page.fill("#p1", "5")
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r".*/execution/E_[0-9A-Z]{26}$"))
    await page.locator(".result-Ok").wait_for(timeout=60_000)
    execution_id = page.url.rsplit("/", 1)[1]
    child_rows = page.locator(".timeline .ev", has_text="started child")
    assert await child_rows.count() == 5
    for i in range(5):
        assert await child_rows.nth(i).locator(f'a[href="/execution/{execution_id}.{i}"]').count() == 1
    assert await page.locator(".tree > li").count() == 5
    await _shoot(page, "execution-fiboa")
    await page.set_viewport_size(PHONE)
    await _shoot(page, "execution-fiboa-phone", full_page=False)

    await page.locator(f'.tree a[href="/execution/{execution_id}.0"]').click()
    await page.locator(".result-Ok").wait_for()
    assert await page.locator(".crumbs a", has_text=execution_id).count() == 1
    await page.set_viewport_size(LAPTOP)
    await _shoot(page, "execution-child")

    await page.goto(base + "/")
    assert await page.locator("table.list tbody tr").count() == 6
    await _shoot(page, "executions")
    await page.set_viewport_size(PHONE)
    await _shoot(page, "executions-phone", full_page=False)
    await page.set_viewport_size(LAPTOP)

    workflow_component = next(c for c in server.registry.components if c.name == "fibo_workflow")
    await page.goto(base + f"/component/{workflow_component.component_id}")
    link = page.locator('pre.wit a.fn[href="/execution/submit/testing:fibo-workflow/workflow.fiboa"]')
    assert await link.count() == 1
    await _shoot(page, "component-wit")
    await page.goto(base + "/execution/E_01J0000000000000000000000Z")
    assert await page.locator("h1").inner_text() == "Execution not found"
    await _shoot(page, "not-found")


async def test_the_cancel_button_asks_then_cancels(server: Server, browser: object) -> None:
    """Dismissing the confirm() changes nothing; accepting it cancels, and the page shows the execution cancelled."""
    execution_id = ExecutionId.generate()
    later = server.clock.now_us() + 3600 * 1_000_000  # scheduled in an hour: nobody runs it meanwhile
    created = Created(Ffqn.parse("testing:fibo/fibo.fibo"), [10], later, "activity_wasm:fibo:0123456789abcdef", 0, 1)
    await server.storage.create(execution_id, created, server.clock.now_us())
    base = f"http://127.0.0.1:{server.webui_port}"
    page = await browser.new_page(viewport=LAPTOP)  # type: ignore[attr-defined]
    await page.goto(f"{base}/execution/{execution_id}")
    await _shoot(page, "execution-cancel-button")
    questions: list[str] = []

    async def dismiss(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", dismiss)
    await page.click(".cancel-form button")
    assert questions and questions[0].startswith(f"Cancel execution {execution_id}?")
    assert isinstance(await server.executions.pending_state(execution_id), PendingAt)

    page.once("dialog", lambda dialog: dialog.accept())
    async with page.expect_navigation():
        await page.click(".cancel-form button")
    assert await page.locator(".status-main .badge").inner_text() == "CANCELLED"
    assert await page.locator(".cancel-form").count() == 0
    assert (await page.locator(".status-words").inner_text()).startswith("finished in ")
    assert "-" not in await page.locator(".status-words").inner_text()
    assert await server.executions.result(execution_id) == Cancelled("cancelled by an operator")
    await _shoot(page, "execution-cancelled")


async def test_the_pause_and_resume_buttons_ask_then_act(server: Server, browser: object) -> None:
    """Pause asks (dismissed: nothing changes), pauses once accepted, and the page then offers Resume; Resume asks
    the same way and the execution is pending where it was."""
    execution_id = ExecutionId.generate()
    later = server.clock.now_us() + 3600 * 1_000_000  # scheduled in an hour: nobody runs it meanwhile
    created = Created(Ffqn.parse("testing:fibo/fibo.fibo"), [10], later, "activity_wasm:fibo:0123456789abcdef", 0, 1)
    await server.storage.create(execution_id, created, server.clock.now_us())
    base = f"http://127.0.0.1:{server.webui_port}"
    page = await browser.new_page(viewport=LAPTOP)  # type: ignore[attr-defined]
    await page.goto(f"{base}/execution/{execution_id}")
    assert await page.locator(".resume-form").count() == 0
    questions: list[str] = []

    async def dismiss(dialog: Any) -> None:
        questions.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", dismiss)
    await page.click(".pause-form button")
    assert questions and questions[0].startswith(f"Pause execution {execution_id}?")
    assert await server.executions.pending_state(execution_id) == PendingAt(later)

    page.once("dialog", lambda dialog: dialog.accept())
    async with page.expect_navigation():
        await page.click(".pause-form button")
    assert await page.locator(".status-main .badge").inner_text() == "PAUSED"
    assert await server.executions.pending_state(execution_id) == PausedState(PendingAt(later))
    assert await page.locator(".pause-form").count() == 0
    assert await page.locator(".cancel-form").count() == 1  # a paused execution can still be cancelled
    assert "paused by an operator, through the web UI" in await page.locator(".timeline").inner_text()
    await _shoot(page, "execution-paused")

    await page.goto(f"{base}/execution/list?state=Paused")
    assert await page.locator("table.list tbody tr").count() == 1
    await page.goto(f"{base}/execution/{execution_id}")
    page.once("dialog", dismiss)
    await page.click(".resume-form button")
    assert questions[-1].startswith(f"Resume execution {execution_id}?")
    assert isinstance(await server.executions.pending_state(execution_id), PausedState)
    page.once("dialog", lambda dialog: dialog.accept())
    async with page.expect_navigation():
        await page.click(".resume-form button")
    assert await server.executions.pending_state(execution_id) == PendingAt(later)
    assert await page.locator(".pause-form").count() == 1
    assert "resumed by an operator, through the web UI" in await page.locator(".timeline").inner_text()


def test_chromium_is_installed() -> None:
    assert shutil.which("chromium") or CHROMIUM.exists(), "install the Debian packages chromium and chromium-driver"
