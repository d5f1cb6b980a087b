"""The executions whose runs this process is still to record.

An executor records the end of every run it started itself: a result, a failure, a timeout at its own deadline,
or, after a storage fault, the release of the lock once the database takes writes again. The timers watcher is
for the locks nobody watches any more (a dead process's, or a run abandoned with its thread); it must leave
these alone, or a lock that expires while the disk is full would be charged to the execution as a timeout when
space comes back, although its run was never at fault.
"""

from __future__ import annotations

import collections

from obelisk.concepts.ids import ExecutionId


class LiveRuns:
    """Shared by the executors (which add and discard) and the timers watcher (which asks); all on one loop.

    Counted, not a set: two owners may hold the same execution at once (a released inline child, still being given
    back by its parent's executor, is already run again by its own), and one owner's discard must not drop the
    other's claim.
    """

    def __init__(self) -> None:
        self._owners: collections.Counter[ExecutionId] = collections.Counter()

    def add(self, execution_id: ExecutionId) -> None:
        self._owners[execution_id] += 1

    def discard(self, execution_id: ExecutionId) -> None:
        owners = self._owners[execution_id] - 1
        if owners > 0:
            self._owners[execution_id] = owners
        else:
            del self._owners[execution_id]

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._owners

    def __len__(self) -> int:
        return len(self._owners)
