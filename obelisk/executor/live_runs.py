"""The executions whose runs this process is still to record.

An executor records the end of every run it started itself: a result, a failure, a timeout at its own deadline,
or, after a storage fault, the release of the lock once the database takes writes again. The timers watcher is
for the locks nobody watches any more (a dead process's, or a run abandoned with its thread); it must leave
these alone, or a lock that expires while the disk is full would be charged to the execution as a timeout when
space comes back, although its run was never at fault.
"""

from __future__ import annotations

from obelisk.concepts.ids import ExecutionId


class LiveRuns:
    """Shared by the executors (which add and discard) and the timers watcher (which asks); all on one loop."""

    def __init__(self) -> None:
        self._executions: set[ExecutionId] = set()

    def add(self, execution_id: ExecutionId) -> None:
        self._executions.add(execution_id)

    def discard(self, execution_id: ExecutionId) -> None:
        self._executions.discard(execution_id)

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._executions

    def __len__(self) -> int:
        return len(self._executions)
