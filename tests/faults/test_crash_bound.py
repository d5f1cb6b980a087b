"""``kill -9`` of a server while a workflow has many inline activity steps in flight: the documented crash bound.

A serial workflow keeps up to ``max_uncommitted_steps`` commits of its steps outstanding while its guest goes on
(``obelisk/workers/workflow/write_pipeline.py``). A crash may then lose the steps whose commits had not
completed: their activities run again after the restart, at most ``max_uncommitted_steps + 1`` of them per
workflow; a result that was recorded is never lost and its activity never runs again. Checked with the default and
with 1, where a step waits for the commit before its own.

The WAT fixtures make each step take well under a millisecond of guest time, so the kill lands with many commits
in flight. Every activity attempt is counted outside the database (``tests/faults/attempt_log.py``): an attempt
whose result the kill lost leaves no trace in the database at all.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from obelisk.concepts.clock import SystemClock
from obelisk.concepts.component_id import ComponentId, ComponentType, ContentDigest
from obelisk.concepts.events import Created, FinishedState
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.config.models import DEFAULT_MAX_UNCOMMITTED_STEPS
from obelisk.storage.sqlite import SqliteStorage
from tests.faults.attempt_log import ATTEMPT_LOG_ENV
from tests.faults.conftest import scaled_timeout
from tests.integration.server_harness import finished, write_config
from tests.integration.server_process import ServerProcess
from tests.wat_fixtures import build_wat_fixture

WAT_CACHE = Path(__file__).resolve().parents[2] / "build" / "test-cache" / "wat"
FIBOA = Ffqn.parse("testing:fibo-workflow/workflow.fiboa")
STEPS = 4000
"""More than the two kills below can interrupt on a slow machine: the workflow is still running at each."""
ATTEMPTS_BEFORE_A_KILL = 250
CRASHES = 2


def _components(fibo: Path, workflow: Path, max_uncommitted_steps: int) -> str:
    return f"""
[[activity_wasm]]
name = "fibo_activity"
location.path = "{fibo}"
max_retries = 0

[[workflow]]
name = "fibo_workflow"
location.path = "{workflow}"
exec.lock_expiry = {{secs = 30}}
max_uncommitted_steps = {max_uncommitted_steps}
"""


def _attempts(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _recorded_children(database: Path, parent: ExecutionId) -> dict[str, int]:
    """The children of ``parent`` whose result is committed, with the time of their ``Finished`` event."""
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT l.execution_id, l.created_at FROM execution_log l JOIN execution_state s"
            " ON s.execution_id = l.execution_id WHERE s.parent_execution_id = ? AND l.event_type = 'Finished'",
            (parent,),
        ).fetchall()
    recorded: dict[str, int] = {}
    for execution_id, created_at in rows:
        assert execution_id not in recorded, f"{execution_id} finished twice"
        recorded[execution_id] = created_at
    return recorded


async def _wait_for_attempts(log: Path, count: int, server: ServerProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + scaled_timeout(timeout)
    while len(_attempts(log)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{count} attempts not reached in {scaled_timeout(timeout)} s:\n{''.join(server.output[-30:])}"
            )
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("max_uncommitted_steps", [DEFAULT_MAX_UNCOMMITTED_STEPS, 1])
async def test_kill_9_with_commits_in_flight_loses_no_recorded_result_and_reruns_at_most_the_bound(
    tmp_path: Path, codegen_cache: Path, max_uncommitted_steps: int
) -> None:
    bound = max_uncommitted_steps + 1
    """What a crash may run again per workflow: the steps with commits in flight, and the one running."""
    fibo = build_wat_fixture("fibo", WAT_CACHE)
    workflow_wasm = build_wat_fixture("fibo_workflow", WAT_CACHE)
    attempt_log = tmp_path / "attempts.log"
    server = ServerProcess(
        write_config(tmp_path, codegen_cache, _components(fibo, workflow_wasm, max_uncommitted_steps)),
        module="tests.faults.attempt_log",
        env={ATTEMPT_LOG_ENV: str(attempt_log)},
    ).start()
    database = tmp_path / "db" / "obelisk.sqlite"
    storage = await SqliteStorage.open(database)
    try:
        now = SystemClock().now_us()
        component = ComponentId.of(ComponentType.WORKFLOW, "fibo_workflow", ContentDigest.of_file(workflow_wasm))
        workflow = ExecutionId.generate()
        await storage.create(workflow, Created(FIBOA, [10, STEPS], now, str(component), 0, 100_000), now)

        recorded_at_kills: list[dict[str, int]] = []
        lost_at_kills: list[set[str]] = []
        started = 0
        """Attempts logged before this server's life (the file only grows)."""
        for _ in range(CRASHES):
            await _wait_for_attempts(attempt_log, started + ATTEMPTS_BEFORE_A_KILL, server)
            server.kill()
            recorded = _recorded_children(database, workflow)
            assert len(recorded) < STEPS, "the workflow finished before the kill: nothing was in flight"
            # Children run by this server whose result is not committed: the one running at least, at most the
            # bound. (One lost by an earlier kill and not run again yet is counted at that kill.)
            lost = set(_attempts(attempt_log)[started:]) - set(recorded)
            assert 1 <= len(lost) <= bound, sorted(lost)
            recorded_at_kills.append(recorded)
            lost_at_kills.append(lost)
            started = len(_attempts(attempt_log))
            server.start()

        deadline = time.monotonic() + scaled_timeout(120)
        while not isinstance((await storage.get_status(workflow)).pending_state, FinishedState):
            assert time.monotonic() < deadline, "the workflow did not finish after the restarts"
            await asyncio.sleep(0.05)
        log = await storage.get(workflow)
        assert finished(log.events) == Ok(ReturnValue(55))
        children = _recorded_children(database, workflow)
        assert len(children) == STEPS
        attempts = Counter(_attempts(attempt_log))
        assert set(attempts) == set(children)
        for recorded in recorded_at_kills:
            # No recorded result is lost or rewritten: its Finished stands as it was.
            assert {child: children[child] for child in recorded} == recorded
        for child, runs in attempts.items():
            # Only a lost result runs again: once per kill that lost it at most; a recorded one never.
            times_lost = sum(child in lost for lost in lost_at_kills)
            assert runs - 1 <= times_lost, (child, runs, times_lost)
        reruns = sum(attempts.values()) - STEPS
        assert reruns <= sum(len(lost) for lost in lost_at_kills) <= CRASHES * bound
        assert server.terminate() == 0
    finally:
        server.kill()
        await storage.close()
