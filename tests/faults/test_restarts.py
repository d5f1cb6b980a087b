"""Faults around a server's life: a second server on the same database, `kill -9` while a workflow waits for its
child, and an execution that is running every time the server dies (an activity, an activity a workflow runs
inline, and an attempt that kills the server itself: ``tests/faults/deadly_attempt.py``).

Each test drives real `obelisk server run` processes and reads the database beside them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from obelisk.concepts.clock import SystemClock
from obelisk.concepts.component_id import ComponentId, ComponentType, ContentDigest
from obelisk.concepts.events import (
    BlockedByJoinSet,
    Created,
    Finished,
    FinishedState,
    JoinSetRequest,
    Locked,
    LockedState,
    Unlocked,
)
from obelisk.concepts.ffqn import WEBHOOK_FFQN, Ffqn
from obelisk.concepts.ids import ExecutionId, ExecutorId, RunId
from obelisk.concepts.results import ExecutionFailure, Ok, Timeout
from obelisk.executor.held_locks import WEBHOOK_RECORD_LEFT_OPEN
from obelisk.storage.interface import AppendEvents, CreateExecution, ExecutionLog, ExecutionQuery, Storage, WriteOp
from obelisk.storage.sqlite import SqliteStorage
from obelisk.workers.outcome_events import MAX_CRASHES_IN_A_ROW
from tests.faults.conftest import scaled_timeout
from tests.faults.deadly_attempt import DEADLY_FFQN_ENV
from tests.integration.server_harness import finished, running_server, write_config
from tests.integration.server_process import ServerProcess
from tests.wat_fixtures import build_wat_fixture

pytestmark = pytest.mark.slow

SLEEP = Ffqn.parse("testing:sleep/sleep.sleep")
SLEEP_ACTIVITY_IN_WORKFLOW = Ffqn.parse("testing:sleep-workflow/workflow.sleep-activity")


def _components(built: Path) -> str:
    return f"""
[[activity_wasm]]
name = "sleep_activity"
location.path = "{built / "sleep_activity.wasm"}"
exec.lock_expiry = {{secs = 60}}
exec.tick_sleep = {{millis = 50}}

[[workflow]]
name = "sleep_workflow"
location.path = "{built / "sleep_workflow.wasm"}"
exec.lock_expiry = {{secs = 90}}
exec.tick_sleep = {{millis = 50}}
"""


async def _submit(storage: SqliteStorage, built: Path, ffqn: Ffqn, params: list[object]) -> ExecutionId:
    """Create an execution the way Submit does, straight in the database the server polls."""
    now = SystemClock().now_us()
    workflow = ffqn == SLEEP_ACTIVITY_IN_WORKFLOW
    name = "sleep_workflow" if workflow else "sleep_activity"
    kind = ComponentType.WORKFLOW if workflow else ComponentType.ACTIVITY_WASM
    component = ComponentId.of(kind, name, ContentDigest.of_file(built / f"{name}.wasm"))
    execution_id = ExecutionId.generate()
    max_retries = 2**32 - 1 if workflow else 0
    await storage.create(execution_id, Created(ffqn, params, now, str(component), max_retries, 100_000), now)
    return execution_id


async def _wait_for(storage: SqliteStorage, execution_id: ExecutionId, done: object, timeout: float) -> ExecutionLog:
    """Poll the execution until ``done(log)`` holds; fail with its events otherwise."""
    assert callable(done)
    timeout = scaled_timeout(timeout)
    deadline = time.monotonic() + timeout
    while True:
        log = await storage.get(execution_id)
        if done(log):
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"{execution_id}: condition not met in {timeout} s: {[e.event for e in log.events]}")
        await asyncio.sleep(0.05)


async def _only_child(storage: SqliteStorage, parent: ExecutionId, timeout: float) -> ExecutionId:
    timeout = scaled_timeout(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = [s for s in await storage.list_executions(ExecutionQuery()) if s.parent_execution_id == parent]
        if children:
            (child,) = children
            return child.execution_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"{parent} created no child in {timeout} s")


@asynccontextmanager
async def _server_and_database(
    tmp_path: Path, built: Path, codegen_cache: Path
) -> AsyncIterator[tuple[ServerProcess, SqliteStorage]]:
    """A real server process on the components above, and the database it uses opened beside it."""
    server = ServerProcess(write_config(tmp_path, codegen_cache, _components(built))).start()
    storage = await SqliteStorage.open(tmp_path / "db" / "obelisk.sqlite")
    try:
        yield server, storage
    finally:
        server.kill()
        await storage.close()


def _locks(log: ExecutionLog) -> int:
    return sum(isinstance(e.event, Locked) for e in log.events)


async def test_a_second_server_on_the_same_database_refuses_to_start_and_takes_nothing(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    async with _server_and_database(tmp_path, built_components, codegen_cache) as (first, storage):
        assert first.process is not None
        running = await _submit(storage, built_components, SLEEP, [{"seconds": 3}])
        await _wait_for(storage, running, lambda log: _locks(log) == 1, 20)

        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "obelisk", "server", "run", "-c", str(tmp_path / "obelisk.toml")],
            capture_output=True,
            text=True,
            timeout=scaled_timeout(60),
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
            check=False,
        )
        output = second.stdout + second.stderr
        assert second.returncode != 0
        assert f"in use by another Obelisk server (PID {first.process.pid})" in output
        assert "Traceback" not in output
        assert len(output.strip().splitlines()) == 1, output

        # The first server's work was not touched: its attempt finishes once, with no release in between.
        log = await _wait_for(storage, running, lambda log: isinstance(log.pending_state, FinishedState), 20)
        assert finished(log.events) == Ok(None)
        assert _locks(log) == 1
        assert not any(isinstance(e.event, Unlocked) for e in log.events)
        assert first.terminate() == 0


async def test_kill_9_while_a_workflow_waits_for_its_child_resumes_it_at_once(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    """The workflow's run waits in place for its child with a 90 s lock. The restarted server must release that
    lock at once: the workflow goes on as soon as its child (run again) is done, not when the lock expires."""
    async with _server_and_database(tmp_path, built_components, codegen_cache) as (server, storage):
        workflow = await _submit(storage, built_components, SLEEP_ACTIVITY_IN_WORKFLOW, [{"milliseconds": 500}])
        child = await _only_child(storage, workflow, 20)
        await _wait_for(storage, child, lambda log: _locks(log) == 1, 20)
        server.kill()
        server.start()
        restarted_at = SystemClock().now_us()
        log = await _wait_for(storage, workflow, lambda log: isinstance(log.pending_state, FinishedState), 10)
        assert finished(log.events) == Ok(None)
        child_log = await storage.get(child)
        child_finished_at = next(e.created_at for e in child_log.events if isinstance(e.event, Finished))
        assert sum(isinstance(e.event, Finished) for e in child_log.events) == 1
        assert _locks(child_log) == 2  # its attempt was cut short by the kill and ran again
        workflow_finished_at = log.events[-1].created_at
        assert workflow_finished_at - child_finished_at < 1_000_000, "the workflow stood still after its child"
        assert workflow_finished_at - restarted_at < 3_000_000
        assert server.terminate() == 0


async def test_an_execution_running_at_every_crash_is_ended_but_a_clean_stop_is_not_a_crash(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    async with _server_and_database(tmp_path, built_components, codegen_cache) as (server, storage):
        stuck = await _submit(storage, built_components, SLEEP, [{"seconds": 600}])
        await _wait_for(storage, stuck, lambda log: _locks(log) == 1, 20)
        assert server.terminate() == 0  # a clean stop releases it, not counted as a crash
        log = await storage.get(stuck)
        last = log.events[-1].event
        assert isinstance(last, Unlocked) and not last.after_crash
        server.start()
        for crash in range(1, MAX_CRASHES_IN_A_ROW + 1):
            await _wait_for(storage, stuck, lambda log, n=crash: _locks(log) == n + 1, 20)
            server.kill()
            server.start()
        log = await _wait_for(storage, stuck, lambda log: isinstance(log.pending_state, FinishedState), 10)
        result = finished(log.events)
        assert isinstance(result, ExecutionFailure)
        assert f"died {MAX_CRASHES_IN_A_ROW} times in a row" in result.reason
        crashes = [e.event for e in log.events if isinstance(e.event, Unlocked) and e.event.after_crash]
        assert len(crashes) == MAX_CRASHES_IN_A_ROW - 1
        assert server.terminate() == 0


async def test_an_inline_activity_running_at_every_crash_ends_it_and_its_workflow(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    """A workflow's direct call runs the activity's first attempt inline, in the workflow's own thread; the server
    is killed while it runs, and then while each attempt after it runs. The attempt is counted, not the workflow
    (its run waits in place for the child: it did not kill the server), so the child ends as one that keeps killing
    the server and the workflow ends with the child's failure: nothing is run again on every start for ever."""
    async with _server_and_database(tmp_path, built_components, codegen_cache) as (server, storage):
        workflow = await _submit(storage, built_components, SLEEP_ACTIVITY_IN_WORKFLOW, [{"seconds": 600}])
        child = await _only_child(storage, workflow, 20)
        await _wait_for(storage, child, lambda log: _locks(log) == 1, 20)
        await _wait_for(storage, workflow, lambda log: isinstance(log.pending_state, BlockedByJoinSet), 20)
        for crash in range(1, MAX_CRASHES_IN_A_ROW + 1):
            await _wait_for(storage, child, lambda log, n=crash: _locks(log) == n, 20)
            server.kill()
            server.start()
        child_log = await _wait_for(storage, child, lambda log: isinstance(log.pending_state, FinishedState), 10)
        log = await _wait_for(storage, workflow, lambda log: isinstance(log.pending_state, FinishedState), 10)

        # The first attempt ran inline: the child was created locked, in the commit of its parent's request.
        request_at = next(e.created_at for e in log.events if isinstance(e.event, JoinSetRequest))
        assert isinstance(child_log.events[1].event, Locked)
        assert child_log.events[0].created_at == child_log.events[1].created_at == request_at

        died = f"the server died {MAX_CRASHES_IN_A_ROW} times in a row while running this execution"
        child_result = finished(child_log.events)
        assert isinstance(child_result, ExecutionFailure) and died in child_result.reason
        assert _locks(child_log) == MAX_CRASHES_IN_A_ROW
        crashes = [e.event for e in child_log.events if isinstance(e.event, Unlocked) and e.event.after_crash]
        assert len(crashes) == MAX_CRASHES_IN_A_ROW - 1
        result = finished(log.events)
        assert isinstance(result, ExecutionFailure) and died in result.reason
        assert not any(isinstance(e.event, Unlocked) and e.event.after_crash for e in log.events)
        assert sum(isinstance(e.event, Finished) for e in log.events) == 1
        assert server.terminate() == 0


async def _die_or_finish(process: subprocess.Popen[str], storage: SqliteStorage, execution_id: ExecutionId) -> bool:
    """Wait until the server process dies (True) or, alive, has finished the execution (False)."""
    deadline = time.monotonic() + scaled_timeout(60)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            assert process.returncode == -signal.SIGKILL, process.returncode
            return True
        if isinstance((await storage.get_status(execution_id)).pending_state, FinishedState):
            return False
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server neither died nor finished {execution_id} in {scaled_timeout(60)} s")


async def test_an_inline_activity_that_kills_the_server_on_every_attempt_stops_being_run(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    """Every attempt of the activity kills the server as it starts, its first attempt (inline, in the workflow's
    thread) included. Whether a crash lands before the commit that creates the child (the workflow's run is what
    was running) or after it (the child's attempt was), each restart counts it on one of them, and one of them ends
    at its fifth: the server stops dying, and the workflow ends with the reason."""
    config = write_config(tmp_path, codegen_cache, _components(built_components))
    command = [sys.executable, "-m", "tests.faults.deadly_attempt", "server", "run", "-c", str(config)]
    env = dict(os.environ, HOME=str(tmp_path), **{DEADLY_FFQN_ENV: str(SLEEP)})
    server = ServerProcess(config, module="tests.faults.deadly_attempt", env={DEADLY_FFQN_ENV: str(SLEEP)}).start()
    storage = await SqliteStorage.open(tmp_path / "db" / "obelisk.sqlite")
    process = server.process
    assert process is not None
    try:
        workflow = await _submit(storage, built_components, SLEEP_ACTIVITY_IN_WORKFLOW, [{"milliseconds": 1}])
        deaths = 0
        while await _die_or_finish(process, storage, workflow):
            deaths += 1
            assert deaths < 2 * MAX_CRASHES_IN_A_ROW, "the attempt kept killing the server"
            # Not ServerProcess.start: the restarted server may die before it says it is ready.
            process = await asyncio.to_thread(
                subprocess.Popen, command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
            )
        log = await storage.get(workflow)
        result = finished(log.events)
        assert isinstance(result, ExecutionFailure)
        assert f"the server died {MAX_CRASHES_IN_A_ROW} times in a row" in result.reason, result.reason
        assert deaths >= MAX_CRASHES_IN_A_ROW, deaths
        await asyncio.sleep(1)
        assert process.poll() is None, "the server died again after the execution ended"
        child_crashes = 0
        if any(isinstance(e.event, JoinSetRequest) for e in log.events):  # a crash came after the child's commit
            child_log = await storage.get(await _only_child(storage, workflow, 1))
            child_crashes = sum(isinstance(e.event, Unlocked) and e.event.after_crash for e in child_log.events)
        workflow_crashes = sum(isinstance(e.event, Unlocked) and e.event.after_crash for e in log.events)
        logging.getLogger(__name__).info(
            "server deaths: %d, counted on the workflow %d, on its child %d", deaths, workflow_crashes, child_crashes
        )
        assert workflow_crashes + child_crashes >= MAX_CRASHES_IN_A_ROW - 1  # each restart released one as crashed
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        server.kill()
        await storage.close()


async def _open_webhook_record(storage: Storage, owner: ExecutorId | None, lock_seconds: float) -> ExecutionId:
    """A webhook request's record as a server writes it at the request's first call (owned: locked by the server's
    executor id), or as records were written before they had owners."""
    record = ExecutionId.generate()
    now = SystemClock().now_us()
    created = Created(WEBHOOK_FFQN, ["GET", "/hook"], now, "webhook_endpoint:hook:0123456789abcdef", 0, 0)
    ops: list[WriteOp] = [CreateExecution(record, created)]
    if owner is not None:
        locked = Locked(created.component_id, owner, RunId.generate(), now + int(lock_seconds * 1_000_000))
        ops.append(AppendEvents(record, 1, [locked]))
    await storage.write(ops, now)
    return record


def _left_open_finished(log: ExecutionLog) -> bool:
    """Finished as a request that was never answered, without being released first (that would be a run's fate)."""
    result = finished(log.events)
    assert not any(isinstance(e.event, Unlocked) for e in log.events), [e.event for e in log.events]
    return isinstance(result, ExecutionFailure) and result.reason == WEBHOOK_RECORD_LEFT_OPEN.reason


async def test_webhook_records_left_open_are_finished_at_start_but_only_the_servers_own(tmp_path: Path) -> None:
    """A webhook request's record is locked by the server that serves it and finished when its response ends; the
    process may die first. Its next start finishes its own records (they have no executor and would stay open for
    ever) and records without an owner, never a record another server holds: on a shared database that is a request
    in flight there. Should that server be dead, the record is finished when its lock expires."""
    components = f'[[activity_wasm]]\nname = "fibo"\nlocation.path = "{build_wat_fixture("fibo", tmp_path / "wat")}"\n'
    path = write_config(tmp_path, tmp_path / "codegen", components)
    async with running_server(path) as first:
        mine = first.executor_id
        at_stop = await _open_webhook_record(first.storage, mine, 600)  # its request's finish failed, say
    other = ExecutorId.generate()
    storage = await SqliteStorage.open(tmp_path / "db" / "obelisk.sqlite")
    try:
        assert _left_open_finished(await storage.get(at_stop))
        own = await _open_webhook_record(storage, mine, 600)
        unowned = await _open_webhook_record(storage, None, 0)
        others_in_flight = await _open_webhook_record(storage, other, 600)
        others_dead = await _open_webhook_record(storage, other, 1)
    finally:
        await storage.close()
    async with running_server(path) as server:
        assert server.executor_id == mine
        assert _left_open_finished(await server.storage.get(own))
        assert _left_open_finished(await server.storage.get(unowned))
        state = (await server.storage.get(others_in_flight)).pending_state
        assert isinstance(state, LockedState) and state.executor_id == other
        deadline = time.monotonic() + scaled_timeout(10)
        while not isinstance((log := await server.storage.get(others_dead)).pending_state, FinishedState):
            assert time.monotonic() < deadline, [e.event for e in log.events]
            await asyncio.sleep(0.05)
        assert finished(log.events) == Timeout()
    storage = await SqliteStorage.open(tmp_path / "db" / "obelisk.sqlite")
    try:  # a clean stop left the other server's record alone too
        state = (await storage.get(others_in_flight)).pending_state
        assert isinstance(state, LockedState) and state.executor_id == other
    finally:
        await storage.close()
