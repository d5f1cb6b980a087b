"""The protocol between an executor and the worker of one component."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from obelisk.concepts.ffqn import Ffqn
from obelisk.storage.interface import LockedExecution
from obelisk.workers.outcome import WorkerOutcome


class Worker(Protocol):
    @property
    def ffqns(self) -> Sequence[Ffqn]:
        """The exported functions this worker runs: the executor locks executions of exactly these."""
        ...

    @property
    def retry_on_err(self) -> bool:
        """Whether a ``result::err`` return is retried like a trap (activities: configurable; workflows: no)."""
        ...

    def run(self, locked: LockedExecution, deadline_us: int) -> WorkerOutcome:
        """Run one attempt in the calling (worker) thread; must not outlive ``deadline_us`` by much."""
        ...
