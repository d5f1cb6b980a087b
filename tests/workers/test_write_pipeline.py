"""A workflow run's pipelined commits (``write_pipeline.py``) on a real SQLite database, driven from a thread of
its own as a workflow's executor thread drives them: in order, bounded, and a failed commit takes everything built
on it down with it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from obelisk.concepts.events import Locked
from obelisk.concepts.ids import ExecutionId, RunId
from obelisk.storage.interface import AppendEvents, CreateExecution, ExecutionAlreadyExists, StorageError, WriteOp
from obelisk.storage.sqlite import SqliteStorage
from obelisk.workers.workflow.storage_bridge import StorageBridge
from obelisk.workers.workflow.write_pipeline import CHILD_VERSION_AFTER_LOCK, WritePipeline
from tests.storage.helpers import EXECUTOR, SEC, T0, created, new_id

RUN = RunId.generate()


def _step(execution_id: ExecutionId, version: int) -> AppendEvents:
    """One event of the run at ``version`` (a lock extension: valid at any version while the run holds it)."""
    return AppendEvents(execution_id, version, [Locked("c", EXECUTOR, RUN, T0 + 100 * SEC + version)])


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[StorageBridge]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    storage = asyncio.run_coroutine_threadsafe(SqliteStorage.open(tmp_path / "db.sqlite"), loop).result()
    try:
        yield StorageBridge(storage, loop)
    finally:
        asyncio.run_coroutine_threadsafe(storage.close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def _locked_execution(bridge: StorageBridge) -> ExecutionId:
    execution_id = new_id()
    bridge.run(bridge.storage.create(execution_id, created(), T0))
    bridge.run(bridge.storage.write([_step(execution_id, 1)], T0))
    return execution_id


def test_pipelined_commits_land_in_order_and_share_transactions(bridge: StorageBridge) -> None:
    execution_id = _locked_execution(bridge)
    groups_before = bridge.storage.stats.extra["groups"]
    pipeline = WritePipeline(bridge, max_in_flight=4)
    children = [ExecutionId.generate() for _ in range(20)]
    for n, child in enumerate(children):
        version = 2 + n
        finishes = children[n - 1] if n else None
        pipeline.start([_step(execution_id, version)], T0, version_before=version, finishes=finishes, locks=child)
    pipeline.settle()
    log = bridge.run(bridge.storage.get(execution_id))
    assert log.next_version == 2 + len(children)
    assert [e.version for e in log.events] == list(range(len(children) + 2))
    # the last child's result rides on a write not made yet: it is the one a fault would give back
    assert pipeline.unrecorded_inline_children() == ((children[-1], CHILD_VERSION_AFTER_LOCK),)
    assert pipeline.failed_at_version is None
    groups = bridge.storage.stats.extra["groups"] - groups_before
    assert groups < len(children), "no two steps ever shared a commit: nothing was pipelined"


def test_a_failed_commit_fails_every_later_one_and_says_what_is_committed(bridge: StorageBridge) -> None:
    execution_id = _locked_execution(bridge)
    taken = new_id(1)
    bridge.run(bridge.storage.create(taken, created(), T0))
    pipeline = WritePipeline(bridge, max_in_flight=3)
    first, second, third = (ExecutionId.generate() for _ in range(3))
    pipeline.start([_step(execution_id, 2)], T0, version_before=2, finishes=None, locks=first)
    # The second step's commit fails as a whole (it creates an execution that exists); the third is built on it.
    failing: list[WriteOp] = [_step(execution_id, 3), CreateExecution(taken, created())]
    pipeline.start(failing, T0, version_before=3, finishes=first, locks=second)
    pipeline.start([_step(execution_id, 4)], T0, version_before=4, finishes=second, locks=third)
    with pytest.raises(ExecutionAlreadyExists):
        pipeline.settle()
    assert pipeline.failed_at_version == 3
    log = bridge.run(bridge.storage.get(execution_id))
    assert log.next_version == 3, "a commit built on the failed one landed"
    # the first child's lock is committed, its result (in the failed commit) is not: it is given back
    assert pipeline.unrecorded_inline_children() == ((first, CHILD_VERSION_AFTER_LOCK),)
    pipeline.settle()  # nothing is left in flight


def test_at_most_max_in_flight_commits_are_outstanding(bridge: StorageBridge) -> None:
    execution_id = _locked_execution(bridge)
    pipeline = WritePipeline(bridge, max_in_flight=2)
    children = [ExecutionId.generate() for _ in range(3)]
    pipeline.start([_step(execution_id, 2)], T0, version_before=2, finishes=None, locks=children[0])
    pipeline.start([_step(execution_id, 3)], T0, version_before=3, finishes=children[0], locks=children[1])
    assert pipeline.unrecorded_inline_children() == ()
    pipeline.start([_step(execution_id, 4)], T0, version_before=4, finishes=children[1], locks=children[2])
    # room for the third was made by waiting for the first: its lock is known to be committed now
    assert pipeline.unrecorded_inline_children() == ((children[0], CHILD_VERSION_AFTER_LOCK),)
    pipeline.settle()
    assert bridge.run(bridge.storage.get(execution_id)).next_version == 5


def test_max_in_flight_below_one_is_refused(bridge: StorageBridge) -> None:
    with pytest.raises(ValueError, match="max_in_flight: expected at least 1, got 0"):
        WritePipeline(bridge, max_in_flight=0)


def test_a_write_waits_for_the_commits_in_flight_first(bridge: StorageBridge) -> None:
    execution_id = _locked_execution(bridge)
    pipeline = WritePipeline(bridge, max_in_flight=4)
    child = ExecutionId.generate()
    pipeline.start([_step(execution_id, 2)], T0, version_before=2, finishes=None, locks=child)
    pipeline.write([_step(execution_id, 3)], T0, finishes=child)
    assert bridge.run(bridge.storage.get(execution_id)).next_version == 4
    assert pipeline.unrecorded_inline_children() == ()
    with pytest.raises(StorageError):
        pipeline.write([_step(execution_id, 3)], T0)
