"""The pure replay state machine of one workflow run (docs/compatibility.md#replay-and-matching).

Every run of a workflow starts its function from the beginning; each host call the guest makes is turned into one
or more *keys* that are matched, in order, against the recorded history. A key that equals the
next unprocessed history event marks it processed and writes nothing; past the end of the history the key is a new
event, appended to the pending writes at the next version. A key that differs is nondeterminism.

The machine does no I/O and has no clock: the host layer passes the real time where a new event needs it, flushes
:meth:`ReplayMachine.take_pending` to storage when :attr:`ReplayMachine.must_flush` says so, and feeds responses
that arrive while a blocked await waits. Because it is pure, the first run and every replay of the same calls
produce the same ids, the same clock readings and the same results, which is what the tests check exhaustively.

Blocked awaits: ``await_next``, ``call`` and ``sleep`` return :class:`Blocked` when the awaited join set has no
response yet. The machine then stays in an *awaiting* state; the host flushes, waits, calls
:meth:`ReplayMachine.feed_response` and then :meth:`ReplayMachine.resume` (never the original call again), so the
``JoinNext`` is recorded exactly once. Any other host call while awaiting is a :class:`ReplayProtocolError`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from obelisk.concepts.events import (
    ChildExecutionFinished,
    ChildExecutionRequest,
    DelayRequest,
    Event,
    ExecutionEvent,
    HistoryEvent,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    JoinSetResponseEvent,
    Schedule,
    ScheduleAt,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import DelayId, DeterministicIds, ExecutionId, JoinSetId
from obelisk.workers.workflow.replay_types import (
    AwaitResult,
    Blocked,
    ChildCreation,
    NondeterminismError,
    PendingWrites,
    Ready,
    ReplayProtocolError,
    ScheduledCreation,
    WorkflowError,
    describe_event,
    is_history_event,
)

DEFAULT_BATCH_LIMIT = 100
"""Non-blocking events held before a flush is required (``non_blocking_event_batching`` of the original)."""


@dataclass(slots=True)
class _JoinSet:
    """What this run has asked of one join set and taken from it; responses themselves wait in the queues."""

    join_set_id: JoinSetId
    child_requests: int = 0
    delay_requests: int = 0
    consumed: int = 0
    consumed_children: int = 0

    @property
    def unanswered(self) -> int:
        return self.child_requests + self.delay_requests - self.consumed

    @property
    def open_children(self) -> int:
        return self.child_requests - self.consumed_children


@dataclass(frozen=True, slots=True)
class _Awaiting:
    join_set_id: JoinSetId
    closing: bool


@dataclass(slots=True)
class _Pending:
    version: int
    events: list[Event] = field(default_factory=list)
    children: list[ChildCreation] = field(default_factory=list)
    scheduled: list[ScheduledCreation] = field(default_factory=list)
    blocking: bool = False


class ReplayMachine:
    """Matches one run's host calls against the stored history and collects what is new.

    ``history`` may be the whole event log: only history events (``JoinSetCreated``, ``JoinSetRequest``,
    ``JoinNext``, ``Schedule``) are kept, in version order. ``responses`` are all join-set responses of the execution
    in arrival order. ``next_version`` is the version the first new event will be appended at.
    """

    def __init__(
        self,
        *,
        execution_id: ExecutionId,
        scheduled_at: int,
        history: Sequence[ExecutionEvent],
        responses: Sequence[JoinSetResponseEvent],
        next_version: int,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
    ) -> None:
        if batch_limit < 1:
            raise ReplayProtocolError(f"batch_limit must be at least 1, got {batch_limit}")
        self._execution_id = execution_id
        self._ids = DeterministicIds(execution_id)
        self._child_counter = 0
        self._history: list[ExecutionEvent] = sorted(
            (event for event in history if is_history_event(event.event)), key=lambda event: event.version
        )
        if self._history and self._history[-1].version >= next_version:
            last = self._history[-1]
            raise ReplayProtocolError(
                f"next_version {next_version} of {execution_id} is not past the last history event "
                f"{describe_event(last.event)} at version {last.version}"
            )
        self._position = 0
        self._join_sets: dict[JoinSetId, _JoinSet] = {}
        self._queues: dict[JoinSetId, deque[JoinSetResponseEvent]] = {}
        self._seen_cursors: set[int] = set()
        for response in responses:
            self.feed_response(response)
        self._clock_us = scheduled_at
        self._awaiting: _Awaiting | None = None
        self._batch_limit = batch_limit
        self._pending = _Pending(version=next_version)

    # ------------------------------------------------------------------------------------------ state
    @property
    def execution_id(self) -> ExecutionId:
        return self._execution_id

    @property
    def clock_us(self) -> int:
        """The workflow clock: ``created_at`` of the latest consumed response, or ``scheduled_at`` before any.

        It never goes backwards: responses of different join sets may be consumed out of arrival order.
        """
        return self._clock_us

    @property
    def is_replaying(self) -> bool:
        """True while recorded history remains unprocessed; the host suppresses guest output meanwhile."""
        return self._position < len(self._history)

    @property
    def remaining_history(self) -> int:
        return len(self._history) - self._position

    @property
    def next_version(self) -> int:
        """The version the next new event will get (pending events included)."""
        return self._pending.version + len(self._pending.events)

    @property
    def awaiting(self) -> JoinSetId | None:
        """The join set a blocked await is waiting on, or None."""
        return None if self._awaiting is None else self._awaiting.join_set_id

    @property
    def must_flush(self) -> bool:
        """A blocking event is pending, or the non-blocking batch is full: write before going on or waiting."""
        return self._pending.blocking or len(self._pending.events) >= self._batch_limit

    @property
    def has_pending(self) -> bool:
        pending = self._pending
        return bool(pending.events or pending.children or pending.scheduled)

    def skip_version(self) -> None:
        """An event that is not part of the history (a lock extension) was appended before the pending events:
        the next new event comes one version later. Only between batches (nothing pending)."""
        if self.has_pending:
            raise ReplayProtocolError("skip_version() with pending events")
        self._pending.version += 1

    def pending_children(self) -> list[ChildCreation]:
        """The child executions the next flush will create (the last is the newest request)."""
        return list(self._pending.children)

    def take_pending(self) -> PendingWrites:
        """Hand over what must be written and start a new batch at the following version."""
        pending = self._pending
        self._pending = _Pending(version=pending.version + len(pending.events))
        return PendingWrites(
            version=pending.version,
            events=pending.events,
            children=pending.children,
            scheduled=pending.scheduled,
        )

    # ------------------------------------------------------------------------------------------ host calls
    def new_join_set(self) -> JoinSetId:
        self._check_idle("new-join-set")
        return self._new_join_set("new-join-set")

    def submit(self, join_set_id: JoinSetId, ffqn: Ffqn, params: list[Any]) -> ExecutionId:
        self._check_idle(f"{ffqn}-submit")
        join_set = self._known_join_set(join_set_id, f"submit of {ffqn}")
        return self._submit(join_set, ffqn, params, f"{ffqn}-submit")

    def schedule(self, schedule_at: ScheduleAt, ffqn: Ffqn, params: list[Any]) -> ExecutionId:
        """Creates a new top-level execution; the recorded ``schedule_at`` wins on replay (not compared)."""
        call = f"{ffqn}-schedule"
        self._check_idle(call)
        execution_id = self._ids.execution_id()
        key = Schedule(execution_id, schedule_at)
        recorded = self._match(call, key, lambda e: isinstance(e, Schedule) and e.execution_id == execution_id)
        if recorded is None:
            self._append(key)
            self._pending.scheduled.append(ScheduledCreation(execution_id, ffqn, list(params), schedule_at))
        return execution_id

    def await_next(self, join_set_id: JoinSetId, *, run_expires_at: int, closing: bool = False) -> AwaitResult:
        call = "await-next (closing)" if closing else "await-next"
        self._check_idle(call)
        join_set = self._known_join_set(join_set_id, call)
        return self._await(join_set, run_expires_at, closing, call)

    def call(self, ffqn: Ffqn, params: list[Any], *, run_expires_at: int) -> AwaitResult:
        """A direct (blocking) child call: a one-off join set, a submit and an await, three history events."""
        call = f"direct call of {ffqn}"
        self._check_idle(call)
        join_set = self._join_sets[self._new_join_set(call)]
        self._submit(join_set, ffqn, params, call)
        return self._await(join_set, run_expires_at, False, call)

    def sleep(self, duration_us: int, *, now_us: int, run_expires_at: int) -> AwaitResult:
        """A delay in a one-off join set; ``now_us`` is the real time, used only if the request is new."""
        call = "sleep"
        self._check_idle(call)
        join_set = self._join_sets[self._new_join_set(call)]
        delay_id: DelayId = self._ids.delay_id()
        key = JoinSetRequest(join_set.join_set_id, DelayRequest(delay_id, now_us + duration_us))
        recorded = self._match(
            call,
            key,
            lambda e: (
                isinstance(e, JoinSetRequest)
                and e.join_set_id == join_set.join_set_id
                and isinstance(e.request, DelayRequest)
                and e.request.delay_id == delay_id
            ),
        )
        if recorded is None:
            self._append(key)
        join_set.delay_requests += 1
        return self._await(join_set, run_expires_at, False, call)

    # ------------------------------------------------------------------------------------------ waiting
    def feed_response(self, response: JoinSetResponseEvent) -> None:
        """Adds a response that arrived; one already known (same cursor) is ignored, so re-reads are harmless."""
        if response.cursor in self._seen_cursors:
            return
        self._seen_cursors.add(response.cursor)
        self._queues.setdefault(response.join_set_id, deque()).append(response)

    def resume(self) -> AwaitResult:
        """Retries the blocked await without recording anything again."""
        awaiting = self._awaiting
        if awaiting is None:
            raise ReplayProtocolError(f"resume() of {self._execution_id} without a blocked await-next")
        queue = self._queues.get(awaiting.join_set_id)
        if not queue:
            return Blocked(awaiting.join_set_id, awaiting.closing)
        response = queue.popleft()
        self._awaiting = None
        join_set = self._join_sets[awaiting.join_set_id]
        join_set.consumed += 1
        if isinstance(response.response, ChildExecutionFinished):
            join_set.consumed_children += 1
        self._clock_us = max(self._clock_us, response.created_at)
        return Ready(response)

    # ------------------------------------------------------------------------------------------ finishing
    def next_join_set_to_close(self) -> JoinSetId | None:
        """The first join set (in creation order) with child requests whose responses were not consumed.

        Delays are ignored, as in the original. The host awaits it with ``closing=True`` and asks again.
        """
        self._check_idle("closing")
        for join_set in self._join_sets.values():
            if join_set.open_children > 0:
                return join_set.join_set_id
        return None

    def check_finished_replay(self, *, after_closing: bool = False) -> None:
        """Raises if recorded history was left unprocessed when the function returned.

        Right after the function returns, recorded ``closing`` ``JoinNext`` events may remain (the closing loop
        replays them); with ``after_closing=True`` nothing may remain.
        """
        leftover = self._history[self._position :]
        if not after_closing:
            leftover = [e for e in leftover if not (isinstance(e.event, JoinNext) and e.event.closing)]
        if leftover:
            first = leftover[0]
            stage = "after closing its join sets" if after_closing else "when the function returned"
            raise NondeterminismError(
                f"{len(leftover)} recorded history event(s) not replayed {stage}: first is "
                f"{describe_event(first.event)} at version {first.version}"
            )

    # ------------------------------------------------------------------------------------------ internals
    def _check_idle(self, call: str) -> None:
        if self._awaiting is not None:
            raise ReplayProtocolError(
                f"{call} while an await-next on {self._awaiting.join_set_id} is blocked; "
                "feed the response and call resume() first"
            )

    def _known_join_set(self, join_set_id: JoinSetId, call: str) -> _JoinSet:
        join_set = self._join_sets.get(join_set_id)
        if join_set is None:
            raise WorkflowError(f"{call} on join set {join_set_id}, which this execution never created")
        return join_set

    def _new_join_set(self, call: str) -> JoinSetId:
        join_set_id: JoinSetId = self._ids.join_set_id()
        key = JoinSetCreated(join_set_id)
        recorded = self._match(call, key, lambda e: isinstance(e, JoinSetCreated) and e.join_set_id == join_set_id)
        if recorded is None:
            self._append(key)
        self._join_sets[join_set_id] = _JoinSet(join_set_id)
        return join_set_id

    def _submit(self, join_set: _JoinSet, ffqn: Ffqn, params: list[Any], call: str) -> ExecutionId:
        child_id = self._execution_id.child(self._child_counter)
        self._child_counter += 1
        key = JoinSetRequest(join_set.join_set_id, ChildExecutionRequest(child_id))
        recorded = self._match(call, key, lambda e: e == key)
        if recorded is None:
            self._append(key)
            self._pending.children.append(ChildCreation(child_id, ffqn, list(params), join_set.join_set_id))
        join_set.child_requests += 1
        return child_id

    def _await(self, join_set: _JoinSet, run_expires_at: int, closing: bool, call: str) -> AwaitResult:
        join_set_id = join_set.join_set_id
        key = JoinNext(join_set_id, run_expires_at, closing)
        recorded = self._match(
            call,
            key,
            lambda e: isinstance(e, JoinNext) and e.join_set_id == join_set_id and e.closing == closing,
        )
        if join_set.unanswered <= 0:
            raise WorkflowError(f"{call} on join set {join_set_id} with no unanswered request")
        if recorded is None:
            self._append(key, blocking=True)
        self._awaiting = _Awaiting(join_set_id, closing)
        return self.resume()

    def _match(self, call: str, key: HistoryEvent, matches: Callable[[HistoryEvent], bool]) -> HistoryEvent | None:
        """The recorded event equal to ``key`` (now processed), or None past the end of the history."""
        if self._position >= len(self._history):
            return None
        recorded = self._history[self._position]
        event = recorded.event
        assert isinstance(event, HistoryEvent)
        if not matches(event):
            raise NondeterminismError(
                f"unexpected {call} ({describe_event(key)}) at version {recorded.version}: "
                f"history has {describe_event(event)}"
            )
        self._position += 1
        return event

    def _append(self, event: HistoryEvent, *, blocking: bool = False) -> None:
        self._pending.events.append(event)
        if blocking:
            self._pending.blocking = True
