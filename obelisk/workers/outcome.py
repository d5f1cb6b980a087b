"""What one run of a worker (an activity attempt, a workflow run) came to.

Workers only report; the executor turns an outcome into events (``obelisk.workers.outcome_events``), because the
retry budget and the parent to notify are the executor's business. A workflow run appends events of its own while
it runs, so its outcome carries ``version``: where the executor must append; ``None`` means the version the
execution was locked at (activities never append during a run).
"""

from __future__ import annotations

from dataclasses import dataclass

from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import FallibleError, FinishedResult, Ok
from obelisk.storage.interface import WriteOp


@dataclass(frozen=True, slots=True)
class Succeeded:
    """The function returned. A ``FallibleError`` may still be retried when the component retries on ``err``."""

    result: Ok | FallibleError
    version: int | None = None
    carried: tuple[WriteOp, ...] = ()
    """Writes of the run not committed yet (its last inline child's result and the response to the run), for the
    outcome's own transaction: one commit per workflow less. Recorded alone if the outcome is refused."""


@dataclass(frozen=True, slots=True)
class FailedTemporarily:
    """A trap or an instantiation failure: retried while the budget lasts."""

    reason: str
    detail: str | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The attempt ran past its lock expiry."""

    version: int | None = None


@dataclass(frozen=True, slots=True)
class FailedPermanently:
    """Never retried: bad params, nondeterminism, a child's execution error in a direct call, ..."""

    result: FinishedResult
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The run wrote its own state (e.g. blocked on a join set) and released the execution; nothing to add."""


@dataclass(frozen=True, slots=True)
class Released:
    """The run could not start or go on for a reason that is not the execution's fault (shutdown, instance limit,
    a storage fault): give the lock back without consuming a retry, due again after ``pause_us``."""

    reason: str
    version: int | None = None
    pause_us: int = 0
    inline_children: tuple[tuple[ExecutionId, int], ...] = ()
    """Children (and the version to append at) that the run locked and ran in its own thread, whose results were
    lost with the write that carried them: given back too, so that their own executor runs them again."""


WorkerOutcome = Succeeded | FailedTemporarily | TimedOut | FailedPermanently | Interrupted | Released


def outcome_version(outcome: WorkerOutcome) -> int | None:
    """Where the run left the execution's log, or None: where it was locked (see the module docstring)."""
    return getattr(outcome, "version", None)
