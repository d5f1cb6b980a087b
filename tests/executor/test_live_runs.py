"""LiveRuns: the executions this process's executors are still to record, with one claim per owner."""

from __future__ import annotations

from obelisk.concepts.ids import ExecutionId
from obelisk.executor.live_runs import LiveRuns


def test_one_owners_discard_keeps_the_other_owners_claim() -> None:
    live = LiveRuns()
    child = ExecutionId.generate()
    live.add(child)  # its parent's executor, giving it back after a storage fault
    live.add(child)  # its own executor, already running it again
    live.discard(child)
    assert child in live
    live.discard(child)
    assert child not in live
    assert len(live) == 0
