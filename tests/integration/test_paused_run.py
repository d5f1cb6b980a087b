"""A workflow run that waits in place and missed its pause (committed before any executor watched the execution)
still stops: woken without a response, it reads the status once and gives its lock back. A serial run paused and
resumed forty times runs each of its inline activities once.

The run here is started by the test itself, with no executor watching it, so nothing but the run's own check can
stop it; an in-process server (WAT fixtures, real SQLite file) supplies the worker and the storage.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from obelisk.concepts.events import JoinNext, PausedState
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, ExecutorId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.storage.interface import AlreadyFinished
from obelisk.workers.outcome import Released
from obelisk.workers.worker import AttemptDeadline
from obelisk.workers.workflow.worker import WorkflowWorker
from tests.integration.server_harness import event_kinds, running_server, write_config
from tests.wat_fixtures import build_wat_fixture

SLEEP_MS = Ffqn.parse("testing:fibo-workflow/workflow.sleep-ms")
FIBOA = "testing:fibo-workflow/workflow.fiboa"


def _components(out: Path) -> str:
    return f"""
[[activity_wasm]]
name = "fibo"
location.path = "{build_wat_fixture("fibo", out)}"

[[workflow]]
name = "fibo_workflow"
location.path = "{build_wat_fixture("fibo_workflow", out)}"
exec.lock_expiry = {{secs = 20}}
"""


async def test_a_waiting_run_that_missed_its_pause_stops_without_waiting_for_its_deadline(tmp_path: Path) -> None:
    path = write_config(tmp_path, tmp_path / "codegen", _components(tmp_path / "wat"))
    async with running_server(path) as server:
        execution_id = ExecutionId.generate()
        later = server.clock.now_us() + 3600 * 1_000_000  # not due: the server's executors leave it alone
        created = server.registry.find_export(str(SLEEP_MS)).created([10_000], later)
        await server.storage.create(execution_id, created, server.clock.now_us())
        lock_expires_at = server.clock.now_us() + 20_000_000
        (locked,) = await server.storage.lock_pending(
            ffqns=[SLEEP_MS],
            batch_size=1,
            now=later,
            executor_id=ExecutorId.generate(),
            component_id=created.component_id,
            lock_expires_at=lock_expires_at,
        )
        worker = next(e._worker for e in server.executors if isinstance(e._worker, WorkflowWorker))
        run = asyncio.create_task(asyncio.to_thread(worker.run, locked, AttemptDeadline(lock_expires_at)))
        deadline = time.monotonic() + 10
        while not any(isinstance(e.event, JoinNext) for e in (await server.storage.get(execution_id)).events):
            assert time.monotonic() < deadline and not run.done(), "the run never waited for its delay"
            await asyncio.sleep(0.02)
        await server.storage.pause(execution_id, "op", server.clock.now_us())
        outcome = await asyncio.wait_for(run, 5)  # not the 10 s sleep, nor the 20 s lock
        assert isinstance(outcome, Released) and outcome.reason == "paused by an operator", outcome
        assert isinstance(await server.storage.get_pending_state(execution_id), PausedState)


async def test_a_serial_run_paused_and_resumed_again_and_again_runs_each_inline_activity_once(tmp_path: Path) -> None:
    """Each pause stops the run at its next host call, with commits in flight and an inline child's result not yet
    written; each resume replays it. However often that happens, every child activity ran once: its log is
    ``Created, Locked, Finished``, never given back (``Unlocked``) and run again."""
    path = write_config(tmp_path, tmp_path / "codegen", _components(tmp_path / "wat"))
    rng = random.Random(7)
    iterations = 3000
    async with running_server(path) as server:
        clock = server.clock
        execution_id = ExecutionId.generate()
        await server.executions.submit(execution_id, FIBOA, [10, iterations])
        pauses = 0
        for _ in range(40):
            await asyncio.sleep(rng.uniform(0.002, 0.03))
            try:
                await server.storage.pause(execution_id, "op", clock.now_us())
            except AlreadyFinished:
                break
            pauses += 1
            await asyncio.sleep(rng.uniform(0.001, 0.02))
            await server.storage.unpause(execution_id, "op", clock.now_us())
        result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), 60)
        assert result == Ok(ReturnValue(55)), result
        assert pauses >= 10, f"the run finished after {pauses} pauses: the test did not pause it often enough"
        kinds = event_kinds((await server.storage.get(execution_id)).events)
        assert kinds.count("Paused") == pauses and kinds.count("Unpaused") == pauses
        twice = []
        for k in range(iterations):
            child_kinds = event_kinds((await server.storage.get(execution_id.child(k))).events)
            if child_kinds != ["Created", "Locked", "Finished"]:
                twice.append((k, child_kinds))
        assert twice == [], f"{len(twice)} children did not run exactly once, the first: {twice[:3]}"
