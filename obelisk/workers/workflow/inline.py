"""Direct calls of activities run in the calling workflow's thread (the fast path of a serial workflow step).

A serial step, done by the book, is three commits and several thread hops: the parent records its request and
creates the child, an executor locks the child, the executor records the child's result and the parent's
response. Here the parent creates the child already locked, in the commit that records its request, runs the
attempt itself, and keeps the child's ``Finished`` and its own response pending until its next write, which also
carries its next request: one commit per step (docs/architecture.md#atomic-transitions-and-commits). A crash loses
the result and what the parent did with it together, and the activity, which is idempotent, runs again on replay:
no recorded result is ever lost or redone.

Only a first attempt runs inline, and only when it fits in the parent's lock. Anything but a plain result (a trap,
a timeout, an ``err`` to retry) is recorded at once and the child continues on the activity's own executor with
the usual retries, while the parent waits for it as for any child.
"""

from __future__ import annotations

from dataclasses import dataclass

from obelisk.concepts.events import ChildExecutionFinished, JoinSetResponseEvent
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, JoinSetId
from obelisk.concepts.results import FinishedResult
from obelisk.workers.worker import Worker


@dataclass(frozen=True, slots=True)
class InlineActivity:
    """An activity function a workflow may run in its own thread."""

    worker: Worker
    component_id: str
    lock_expiry_us: int


InlineActivities = dict[Ffqn, InlineActivity]


class InlineResponses:
    """The responses of inline children, as the run saw them: fed to the replay machine at once (with cursors of
    their own, below zero), and recognised when storage later lists them, so that they are not fed twice."""

    def __init__(self) -> None:
        self._delivered: set[tuple[JoinSetId, ExecutionId]] = set()
        self._synthetic_cursor = 0

    def delivered(
        self, join_set_id: JoinSetId, child_id: ExecutionId, result: FinishedResult, at: int
    ) -> JoinSetResponseEvent:
        """The response to feed the machine for a child that finished inline."""
        self._synthetic_cursor -= 1
        self._delivered.add((join_set_id, child_id))
        return JoinSetResponseEvent(self._synthetic_cursor, at, join_set_id, ChildExecutionFinished(child_id, result))

    def seen(self, response: JoinSetResponseEvent) -> bool:
        """Whether ``response`` (listed from storage) is one the run was fed already."""
        child = response.response
        return (
            isinstance(child, ChildExecutionFinished)
            and (response.join_set_id, child.child_execution_id) in self._delivered
        )
