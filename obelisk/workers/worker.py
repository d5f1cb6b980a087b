"""The protocol between an executor and the worker of one component."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from obelisk.concepts.ffqn import Ffqn
from obelisk.storage.interface import LockedExecution
from obelisk.workers.outcome import WorkerOutcome


class AttemptDeadline:
    """When an attempt's lock expires. A workflow run may extend its lock while it runs (its next write carries
    the new expiry), and the executor watching the attempt reads the current value here."""

    def __init__(self, us: int) -> None:
        self._us = us
        self.cancelled = False
        """Set by the executor when the execution was cancelled while the attempt ran: a workflow run stops at its
        next host call (``RunDeadline.stop_if_cancelled``); an activity's thread is abandoned."""
        self.paused = False
        """Set by the executor when the execution was paused (or paused and resumed) while the attempt ran: a
        workflow run stops at its next host call and gives its lock back; an activity attempt ignores it and may
        finish (its guest has no point where it could stop cleanly), only a retry waits for the resume."""

    @property
    def us(self) -> int:
        return self._us

    def extend(self, us: int) -> None:
        self._us = max(self._us, us)


class Worker(Protocol):
    @property
    def ffqns(self) -> Sequence[Ffqn]:
        """The exported functions this worker runs: the executor locks executions of exactly these."""
        ...

    @property
    def retry_on_err(self) -> bool:
        """Whether a ``result::err`` return is retried like a trap (activities: configurable; workflows: no)."""
        ...

    @property
    def deadline_grace_seconds(self) -> float:
        """How long past the deadline the executor waits before it records a timeout itself and abandons the
        thread. Activities: none (a guest blocked in WASI cannot be stopped otherwise). Workflows: a little, as
        they watch their own deadline and report a more precise outcome (an interrupt, at the right version)."""
        ...

    @property
    def cancel_grace_seconds(self) -> float:
        """How long the executor waits for a cancelled attempt to return before it abandons the thread. Activities:
        none (their guest has no point where it could notice). Workflows: as at the deadline, for their next host
        call."""
        ...

    @property
    def max_timeouts_in_a_row(self) -> int | None:
        """Timeouts in a row without progress that end an execution (workflows), or None (activities: their
        ``max_retries`` bound them)."""
        ...

    def run(self, locked: LockedExecution, deadline: AttemptDeadline) -> WorkerOutcome:
        """Run one attempt in the calling (worker) thread; must not outlive ``deadline`` by much."""
        ...
