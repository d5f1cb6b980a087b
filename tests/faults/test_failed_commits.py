"""A storage fault in the middle of serial workflow steps: the database is full for a while, then has room again.

An inline activity's result rides on its parent's next commit; when that commit fails, the result is lost with
it. Nothing else may be lost: the child must be run again as a fresh attempt (not recorded as a timeout, which
with ``max_retries = 0`` failed the workflow although the activity had succeeded), the engine must wait the
fault out instead of spinning, and every workflow must finish with its right result once space comes back.

The fault is a deterministic full database: ``PRAGMA max_page_count`` set on the server's own connection to the
pages it has, so the next write that needs a new page fails with SQLITE_FULL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TypeVar

import pytest

from obelisk.concepts.events import Finished, Locked, TemporarilyTimedOut, Unlocked
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.server import Server
from obelisk.storage.interface import ExecutionQuery
from tests.faults.conftest import scaled, scaled_timeout, server_pragma
from tests.integration.server_harness import finished, running_server, write_config
from tests.wat_fixtures import build_wat_fixture

FIBOA = "testing:fibo-workflow/workflow.fiboa"
T = TypeVar("T")


def _components(out: Path) -> str:
    return f"""
[[activity_wasm]]
name = "fibo"
location.path = "{build_wat_fixture("fibo", out)}"
max_retries = 0
exec.lock_expiry = {{millis = 800}}

[[workflow]]
name = "fibo_workflow"
location.path = "{build_wat_fixture("fibo_workflow", out)}"
exec.lock_expiry = {{secs = 2}}
"""


async def _set_max_pages(server: Server, extra_pages: int | None) -> None:
    """Cap the server's database at its current size plus ``extra_pages`` (None: lift the cap)."""
    pages = await server_pragma(server, "PRAGMA page_count")
    limit = 2**31 - 2 if extra_pages is None else pages + extra_pages
    await server_pragma(server, f"PRAGMA max_page_count = {limit}")


async def _wait_until_under_way(server: Server, ids: list[ExecutionId], timeout: float) -> None:
    """Until each workflow has recorded at least one step. Those found last got there since the previous round of
    polling, so they are surely in the middle of their serial steps (an executor locks a few per tick: the first
    ones may be further on, or done)."""
    timeout = scaled_timeout(timeout)
    deadline = time.monotonic() + timeout
    waiting = list(ids)
    while waiting:
        waiting = [e for e in waiting if not (await server.storage.get(e)).responses]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(waiting)} workflows recorded no step in {timeout} s, such as {waiting[0]}")
        await asyncio.sleep(0.005)


async def test_a_full_database_between_serial_steps_loses_no_result_and_charges_no_timeout(
    tmp_path: Path, fault_scale: float, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_config(tmp_path, tmp_path / "codegen", _components(tmp_path / "wat"))
    workflows = scaled(6, fault_scale)
    steps = 400
    caplog.set_level(logging.INFO)
    async with running_server(path) as server:
        ids = [ExecutionId.generate() for _ in range(workflows)]
        for execution_id in ids:
            await server.executions.submit(execution_id, FIBOA, [10, steps])
        # Every workflow under way before the fault, not a fixed sleep: a workflow in the middle of its steps has an
        # inline child whose lock is committed and whose result rides on a commit the fault refuses, so the release
        # path is taken however slowly the workflows start.
        await _wait_until_under_way(server, ids, timeout=20)
        await _set_max_pages(server, 0)
        full_since = time.monotonic()
        await asyncio.sleep(3.0)  # longer than both lock expiries: an expiry must not be charged
        await _set_max_pages(server, None)
        results = await asyncio.wait_for(
            asyncio.gather(*(server.executions.wait_for_result(e) for e in ids)), timeout=scaled_timeout(60)
        )
        assert results == [Ok(ReturnValue(55))] * workflows

        storage = server.storage
        released_children = 0
        for execution_id in ids:
            log = await storage.get(execution_id)
            assert not any(isinstance(e.event, TemporarilyTimedOut) for e in log.events)
            assert len(log.responses) == steps
            children = [
                s
                for s in await storage.list_executions(ExecutionQuery(length=10 * steps))
                if s.parent_execution_id == execution_id
            ]
            assert len(children) == steps
            for child in children:
                child_log = await storage.get(child.execution_id)
                events = [e.event for e in child_log.events]
                assert sum(isinstance(e, Finished) for e in events) == 1
                assert finished(child_log.events) == Ok(ReturnValue(55))
                assert not any(isinstance(e, TemporarilyTimedOut) for e in events)
                if any(isinstance(e, Unlocked) for e in events):
                    released_children += 1
                    assert sum(isinstance(e, Locked) for e in events) == 2
        faulted = [r for r in caplog.records if "storage fault" in r.getMessage()]
        assert faulted, "the fault never hit: the test proves nothing"
        assert time.monotonic() - full_since > 3.0
        # Waited out, not spun: a handful of lines per writer, not one per 100 ms tick per execution.
        assert len(faulted) < 20 * workflows, [r.getMessage() for r in faulted[:20]]
        expired = [r for r in caplog.records if "lock of run" in r.getMessage()]
        assert expired == [], [r.getMessage() for r in expired[:5]]
        assert await server_pragma(server, "PRAGMA integrity_check") == "ok"
        logging.getLogger(__name__).info("inline children released and run again: %d", released_children)
        assert released_children > 0, "no inline child was released by a refused commit: the test proves nothing"
