"""The execution page's waterfall in a real headless Chromium against a real server (the fixtures of
``test_browser``): a real workflow with four concurrent children, then a thousand children written through the
storage (a real workflow that fans out so far would take minutes) to see them grouped.

Screenshots go to ``SHOTS`` in the system's temporary folder (not pytest's, which keeps only its last few runs):
people look at them, the repository keeps none.
"""

from __future__ import annotations

import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from obelisk.concepts.events import (
    ChildExecutionFinished,
    ChildExecutionRequest,
    Created,
    Event,
    Finished,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    Locked,
    ParentRef,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import ExecutionFailure, FallibleError, FinishedResult, Ok, ReturnValue
from obelisk.server import Server
from obelisk.storage.interface import AppendEvents, CreateExecution, DeliverResponse, WriteOp
from tests.webui import test_browser
from tests.webui.test_browser import LAPTOP, PHONE

pytestmark = pytest.mark.slow
server, browser, chromium = test_browser.server, test_browser.browser, test_browser.chromium
"""The server with the example workflow and its web UI, and Chromium: the fixtures of ``test_browser``."""

FIBO = "testing:fibo/fibo.fibo"
UNSERVED_PARENT = "testing:fan-out/parent.run"
UNSERVED_CHILD = "testing:fan-out/child.work"
"""Functions no component exports: the server leaves executions of them alone, so the test writes their runs."""
WORKFLOW = "testing:fibo-workflow/workflow.fiboa-concurrent"
SEC = 1_000_000
SHOTS = Path(tempfile.gettempdir()) / "obelisk-waterfall-screenshots"


async def _svg_facts(page: object) -> dict[str, object]:
    """What the SVG holds, read in the page: rows by kind, bar links, group counts and titles."""
    facts: dict[str, object] = await page.evaluate(  # type: ignore[attr-defined]
        """() => {
          const svg = document.querySelector("#waterfall svg.wf");
          const rows = kind => [...svg.querySelectorAll(".wf-row-" + kind)];
          return {
            execution: rows("execution").length,
            runs: rows("runs").length,
            children: rows("child").map(r => ({
              href: r.querySelector("rect.wf-bar").parentElement.getAttribute("href"),
              labelHref: r.querySelector("text.wf-label").parentElement.getAttribute("href"),
              cls: r.querySelector("rect.wf-bar").getAttribute("class"),
              title: r.querySelector("rect.wf-bar > title").textContent,
              width: r.querySelector("rect.wf-bar").getBoundingClientRect().width,
            })),
            groups: rows("group").map(r => ({
              count: Number(r.querySelector(".wf-agg").dataset.count),
              title: r.querySelector(".wf-agg > title").textContent,
              stripes: r.querySelectorAll(".wf-agg rect").length,
            })),
            ticks: [...svg.querySelectorAll(".wf-tick")].map(t => t.textContent),
            svgWidth: svg.getBoundingClientRect().width,
          };
        }"""
    )
    return facts


STRICT_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'"
"""No inline script or style of any kind: the waterfall must be drawn and coloured under it."""


async def _under_strict_csp(page: Any) -> list[str]:
    """Serves every response of ``page`` with ``STRICT_CSP``; returns the list the violations are collected in."""
    violations: list[str] = []

    async def with_csp(route: Any) -> None:
        response = await route.fetch()
        await route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

    await page.route("**/*", with_csp)
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return violations


async def test_a_workflow_with_four_children_draws_four_linked_bars(
    server: Server,
    browser: object,
) -> None:
    SHOTS.mkdir(exist_ok=True)
    execution_id = ExecutionId.generate()
    await server.executions.submit(execution_id, WORKFLOW, [10, 4])
    await server.executions.wait_for_result(execution_id, timeout=120)
    base = f"http://127.0.0.1:{server.webui_port}"
    page = await browser.new_page(viewport=LAPTOP)  # type: ignore[attr-defined]
    violations = await _under_strict_csp(page)
    await page.goto(f"{base}/execution/{execution_id}")
    facts = await _svg_facts(page)
    assert facts["execution"] == 1 and facts["runs"] == 1
    children = facts["children"]
    assert isinstance(children, list) and len(children) == 4
    assert sorted(c["href"] for c in children) == [f"/execution/{execution_id}.{i}" for i in range(4)]
    for child in children:
        assert child["labelHref"] == child["href"]
        assert child["cls"] == "wf-bar wf-ok"
        title = child["title"].splitlines()
        assert title[0] == FIBO and title[1] == child["href"].rsplit("/", 1)[1]
        assert title[-1] == "ok: 55" and title[-2].startswith("took ")
        assert child["width"] >= 2
    assert facts["groups"] == [] and facts["ticks"][0] == "+0"  # type: ignore[index]
    assert await page.locator("#waterfall h2 .count").inner_text() == "4 children"
    assert await page.locator("#waterfall .wf-legend li").all_inner_texts() == ["ok"]
    ok_fill = await page.locator("#waterfall .wf-row-child rect.wf-ok").first.evaluate("r => getComputedStyle(r).fill")
    assert ok_fill == "rgb(31, 122, 77)", "the stylesheet did not colour the bars"  # --ok
    assert violations == []
    await page.screenshot(path=str(SHOTS / "waterfall-fiboa-concurrent.png"), full_page=True)
    await page.locator("#waterfall").screenshot(path=str(SHOTS / "waterfall-panel.png"))
    await page.set_viewport_size(PHONE)
    await page.locator("#waterfall").screenshot(path=str(SHOTS / "waterfall-phone.png"))
    await page.set_viewport_size(LAPTOP)
    print(f"\nscreenshots: {SHOTS}")

    async with page.expect_navigation(url=re.compile(rf".*/execution/{execution_id}\.2$")):
        await page.click(f'#waterfall a[href="/execution/{execution_id}.2"] rect')
    assert await page.locator("h1").inner_text() == f"{execution_id}.2"
    assert await page.locator("#waterfall .wf-row-child").count() == 0  # an activity: itself and its run


async def _fan_out(server: Server, count: int) -> ExecutionId:
    """A parent blocked on ``count`` children that finished over 20 s (most ok, some error or failed, a tenth
    still pending), all of functions no executor serves."""
    storage, now = server.storage, server.clock.now_us()
    later = now + 3600 * SEC
    start = now - 30 * SEC
    parent = ExecutionId.generate()
    await storage.create(parent, Created(Ffqn.parse(UNSERVED_PARENT), [count], start, "workflow:x:0", 0, 1), start)
    js = JoinSetId.generate()
    children = [parent.child(i) for i in range(count)]
    executor = ExecutorId.generate()
    run = Locked("workflow:x:0", executor, RunId.generate(), later)
    requests = [JoinSetRequest(js, ChildExecutionRequest(c)) for c in children]
    events: list[Event] = [run, JoinSetCreated(js), *requests, JoinNext(js, later)]
    ops: list[WriteOp] = [AppendEvents(parent, 1, events)]
    ops += [
        CreateExecution(
            c, Created(Ffqn.parse(UNSERVED_CHILD), [i], start + SEC, "activity:x:0", 0, 1, ParentRef(parent, js))
        )
        for i, c in enumerate(children)
    ]
    await storage.write(ops, start + SEC)
    rng = random.Random(17)
    ok: list[FinishedResult] = [Ok(ReturnValue(55))]
    results = ok * 8 + [FallibleError(ReturnValue("e")), ExecutionFailure("trap")]
    for i, child in enumerate(children):
        if i % 10 == 9:
            continue  # still pending
        ended = start + SEC + rng.randrange(20 * SEC)
        result = rng.choice(results)
        lock = Locked("activity:x:0", executor, RunId.generate(), later)
        await storage.write(
            [
                AppendEvents(child, 1, [lock, Finished(result)]),
                DeliverResponse(parent, js, ChildExecutionFinished(child, result)),
            ],
            ended,
        )
    return parent


async def test_a_thousand_children_are_grouped_into_striped_bars(
    server: Server,
    browser: object,
) -> None:
    SHOTS.mkdir(exist_ok=True)
    parent = await _fan_out(server, 1000)
    base = f"http://127.0.0.1:{server.webui_port}"
    page = await browser.new_page(viewport=LAPTOP)  # type: ignore[attr-defined]
    loads = []
    for _ in range(3):
        started = time.perf_counter()
        await page.goto(f"{base}/execution/{parent}")
        loads.append(time.perf_counter() - started)
    print(f"\nthe page of 1000 children, best of 3 loads in Chromium: {min(loads) * 1000:.0f} ms")
    facts = await _svg_facts(page)
    groups, singles = facts["groups"], facts["children"]
    assert isinstance(groups, list) and isinstance(singles, list)
    assert groups, "1000 children drew no aggregated bar"
    assert len(groups) + len(singles) <= 100
    assert sum(g["count"] for g in groups) + len(singles) == 1000
    for group in groups:
        lines = group["title"].splitlines()
        assert lines[0] == f"{group['count']} children of {UNSERVED_CHILD}"
        mix = dict((words, int(n)) for n, words in (part.split(" ", 1) for part in lines[-1].split(", ")))
        assert sum(mix.values()) == group["count"] and set(mix) <= {"ok", "error", "failed", "pending"}
        assert group["stripes"] == len(mix)
    assert await page.locator("#waterfall h2 .count").inner_text() == "1000 children"
    assert await page.locator("#waterfall .wf-note").count() == 1
    legend = await page.locator("#waterfall .wf-legend li").all_inner_texts()
    assert {"ok", "error", "failed", "pending"} <= set(legend), legend
    await page.locator("#waterfall").screenshot(path=str(SHOTS / "waterfall-1000.png"))
    print(f"screenshots: {SHOTS}")
