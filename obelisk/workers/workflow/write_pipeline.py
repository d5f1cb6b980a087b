"""The writes of one workflow run: commits still in flight while the guest goes on, the writes deferred to ride
with the next one, and the inline children whose lock is committed but whose result is not.

A serial step run inline (``inline.py``) starts its commit and does not wait for it: the activity runs and the guest
goes on to its next step meanwhile. Up to ``max_in_flight`` such commits may be outstanding; each is handed to
storage in order, and storage's group commit puts whatever has queued behind a running transaction into the next
one (one fsync for several steps). Every commit appends to the run's own history at the version the previous one
left, so a commit that fails makes every later one of the run fail too (a version mismatch): nothing built on a
failed commit is ever committed. ``settle`` waits for all of them and raises the first failure; the run then
ends, and its ``version`` goes back to what is committed (``failed_at_version``).

What a crash may cost: the steps whose commit has not completed. Their activities ran (or were running) and run
again on replay: at most ``max_in_flight + 1`` activities (those whose results ride in the uncommitted writes, and
the one running) — at-least-once, as activities are by contract. No recorded result is lost or redone: a result is
recorded only by a commit, and what a run shows anyone else (a follower, its parent) comes from committed rows.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections import deque
from dataclasses import dataclass

from obelisk.concepts.ids import ExecutionId
from obelisk.storage.interface import DeliverResponse, WriteOp
from obelisk.workers.workflow.storage_bridge import StorageBridge

log = logging.getLogger(__name__)

CHILD_VERSION_AFTER_LOCK = 2
"""An inline child's next version: its ``Created`` and its ``Locked`` are written with its parent's request."""


@dataclass(frozen=True, slots=True)
class _InflightCommit:
    future: concurrent.futures.Future[None]
    version_before: int
    """The parent's committed version should this commit fail."""
    finishes: ExecutionId | None
    """The inline child whose result this commit carries."""
    locks: ExecutionId
    """The inline child this commit creates already locked."""


class WritePipeline:
    """The run's writes in order: started, deferred, settled."""

    def __init__(self, bridge: StorageBridge, *, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight: expected at least 1, got {max_in_flight}")
        self._bridge = bridge
        self._max_in_flight = max_in_flight
        self._inflight: deque[_InflightCommit] = deque()
        self._deferred: list[WriteOp] = []
        """The last inline child's ``Finished`` and this execution's response: written with the next write."""
        self._deferred_child: ExecutionId | None = None
        self._unrecorded_children: dict[ExecutionId, int] = {}
        """Inline children whose lock is committed but whose result is not (with the version to append at): if this
        run ends on a storage fault, they are given back with it (``Released.inline_children``)."""
        self.failed_at_version: int | None = None
        """Set when a commit failed: the run's committed version (everything after it was not written)."""

    # ------------------------------------------------------------------------------------------ deferred writes
    def defer(self, ops: list[WriteOp], child: ExecutionId) -> None:
        """Keep an inline child's result for the run's next write (it is recorded with what the run does next)."""
        self._deferred = ops
        self._deferred_child = child

    @property
    def has_deferred(self) -> bool:
        return bool(self._deferred)

    def take_deferred(self) -> tuple[list[WriteOp], ExecutionId | None, int]:
        """The deferred ops, the child whose result they carry, and how many responses they deliver to the run."""
        deferred, self._deferred = self._deferred, []
        child, self._deferred_child = self._deferred_child, None
        return deferred, child, sum(isinstance(op, DeliverResponse) for op in deferred)

    # ------------------------------------------------------------------------------------------ commits
    def start(
        self, ops: list[WriteOp], now: int, *, version_before: int, finishes: ExecutionId | None, locks: ExecutionId
    ) -> None:
        """Hand ``ops`` to storage without waiting for their commit (after the oldest, if too many are in flight).

        ``version_before``: the run's version before these ops; ``finishes``: the inline child whose result they
        carry; ``locks``: the inline child they create locked.
        """
        while len(self._inflight) >= self._max_in_flight:
            self._settle_oldest()
        future = self._bridge.storage.write_from_thread(ops, now)
        self._inflight.append(_InflightCommit(future, version_before, finishes, locks))

    def write(self, ops: list[WriteOp], now: int, *, finishes: ExecutionId | None = None) -> None:
        """Write ``ops`` and wait for their commit, after every commit in flight."""
        self.settle()
        self._bridge.run(self._bridge.storage.write(ops, now))
        if finishes is not None:
            self._unrecorded_children.pop(finishes, None)

    def settle(self) -> None:
        """Wait for every commit in flight; raises the first one's ``StorageError`` (the run must end then)."""
        while self._inflight:
            self._settle_oldest()

    def _settle_oldest(self) -> None:
        inflight = self._inflight.popleft()
        try:
            inflight.future.result()
        except BaseException:
            self.failed_at_version = inflight.version_before
            self._drain_after_failure()
            raise
        self._committed(inflight)

    def _committed(self, inflight: _InflightCommit) -> None:
        if inflight.finishes is not None:
            self._unrecorded_children.pop(inflight.finishes, None)
        self._unrecorded_children[inflight.locks] = CHILD_VERSION_AFTER_LOCK

    def _drain_after_failure(self) -> None:
        """Wait for the commits started after a failed one: they fail too (each appends after it), and the run's
        outcome may be written only once none of them can land any more."""
        while self._inflight:
            later = self._inflight.popleft()
            try:
                later.future.result()
            except BaseException:  # expected: it was built on the failed commit
                continue
            log.warning("a commit after a failed one of the same run succeeded; locks: %s", later.locks)
            self._committed(later)

    def unrecorded_inline_children(self) -> tuple[tuple[ExecutionId, int], ...]:
        """What a run ended by a storage fault must give back besides itself (see ``Released``)."""
        return tuple(self._unrecorded_children.items())
