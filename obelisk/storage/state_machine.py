"""The rules of an execution's life: its pending state and every transition, apart from any database.

Both backends load an execution's state row, hand it here with what is to be written, store what comes back and
announce the ``Effects`` after their commit. Nothing here does I/O or reads a clock (time comes in as ``now``),
so the rules are unit-tested without a database and a third backend would add SQL and nothing else. The one fact
a rule needs from the database, the response a ``JoinNext`` would consume, is asked through ``ResponseLookup``.

The pending-state machine is the original Obelisk's: ``Created`` makes ``PendingAt(scheduled_at)``; ``Locked``
needs a due ``PendingAt`` or the same executor and run extending; temporary failures, timeouts and ``Unlocked``
make ``PendingAt(backoff)`` (``Unlocked`` of a ``BlockedByJoinSet`` only drops the waiting run: the execution
stays blocked, due as soon as its response arrives); ``JoinNext`` makes ``PendingAt(max(run_expires_at, response
time))`` when its response is there, else ``BlockedByJoinSet``; a response to the join set the execution is
blocked on makes it ``PendingAt`` its run's expiry. Decisions of this project on top
(docs/architecture.md#execution-model):

- ``Finished`` bumps ``next_version`` like any event (so it equals the number of events) and drops the
  execution's pending delays: nobody can consume them any more.
- A ``JoinNext`` keeps ``executor_id``/``run_id``: under the ``await`` strategy that run still owns the
  execution until ``run_expires_at``, and a restarted server can then release it.
- A response to a finished execution is stored and changes nothing: the child's own ``Finished`` must not fail
  because its parent already ended. (Duplicate responses are refused by the backends' unique keys before they
  get here: delivering one twice is a no-op, so racing timer watchers cannot fail a batch.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol, assert_never

from obelisk.concepts.events import (
    BlockedByJoinSet,
    ChildExecutionFinished,
    Created,
    DelayFinished,
    DelayRequest,
    Event,
    Finished,
    FinishedState,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    JoinSetResponseBody,
    Locked,
    LockedState,
    PendingAt,
    PendingState,
    Schedule,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
)
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import Cancelled, ResultKind
from obelisk.storage.interface import (
    AlreadyFinished,
    ExecutionStatus,
    IllegalStateTransition,
    VersionMismatch,
)

PENDING_AT: Final = "PendingAt"
LOCKED: Final = "Locked"
BLOCKED: Final = "BlockedByJoinSet"
FINISHED: Final = "Finished"
STATES: Final = (PENDING_AT, LOCKED, BLOCKED, FINISHED)
"""The names of the pending states as the backends store them (the ``state`` column) and listings filter them."""


@dataclass(slots=True)
class ExecutionRow:
    """The mutable part of an execution's state row, as every backend loads and stores it.

    ``pending_expires_finished`` is one column with three meanings, as in the original: when a ``PendingAt`` is
    due, when a lock or a wait expires, when the execution finished.
    """

    execution_id: ExecutionId
    ffqn: str
    next_version: int
    response_count: int
    state: str
    pending_expires_finished: int
    join_set_id: str | None
    join_set_closing: int | None
    executor_id: str | None
    run_id: str | None
    temporary_event_count: int
    result_kind: str | None
    finished_at: int | None
    pending_delays: int = 0
    """The execution's rows in ``delay``: requested, not yet finished, and not dropped by ``Finished``. Kept here
    so that a ``Finished`` deletes delays only when there are some (most executions never request one)."""
    matched_responses: int = 0
    """Responses known to be consumed by a ``JoinNext`` (found by its lookup, or arriving for the one blocked on
    it). While it equals ``response_count`` no response waits unconsumed, so a new ``JoinNext`` finds none without
    asking the database (see ``_transition``); it may stay lower than that (then the lookup runs), never higher."""
    wake_when_due: bool = False
    """Set when the row became ``PendingAt`` through a retry or an unlock: worth a timed executor wake-up."""


class ResponseLookup(Protocol):
    """The one fact the rules need from the database."""

    def response_for_join_next(self, execution_id: ExecutionId, join_set_id: str, earlier_in_batch: int) -> int | None:
        """When the response that the next ``JoinNext`` on ``join_set_id`` consumes arrived (its ``created_at``), or
        ``None`` if it has not. It is the (k+1)-th response of the join set in arrival order, where k counts the
        ``JoinNext`` events on it already in the log plus ``earlier_in_batch`` (those of the append in progress,
        not written yet)."""


# ---------------------------------------------------------------------------------------------- delays
@dataclass(frozen=True, slots=True)
class CreateDelay:
    join_set_id: JoinSetId
    delay_id: DelayId
    expires_at: int


@dataclass(frozen=True, slots=True)
class DropDelay:
    join_set_id: JoinSetId
    delay_id: DelayId


@dataclass(frozen=True, slots=True)
class DropAllDelays:
    """Every pending delay of the execution: it finished."""


DelayChange = CreateDelay | DropDelay | DropAllDelays


# ---------------------------------------------------------------------------------------------- transitions
def new_execution(execution_id: ExecutionId, created: Created) -> ExecutionRow:
    """The state row of a created execution: ``PendingAt(scheduled_at)``, its log holding ``Created`` only."""
    return ExecutionRow(
        execution_id=execution_id,
        ffqn=str(created.ffqn),
        next_version=1,
        response_count=0,
        state=PENDING_AT,
        pending_expires_finished=created.scheduled_at,
        join_set_id=None,
        join_set_closing=None,
        executor_id=None,
        run_id=None,
        temporary_event_count=0,
        result_kind=None,
        finished_at=None,
    )


def append(
    row: ExecutionRow, version: int, events: Sequence[Event], now: int, responses: ResponseLookup
) -> list[DelayChange]:
    """Move ``row`` over ``events`` appended at ``version``; the caller then writes them at ``version``,
    ``version + 1``, ... and applies the delay changes. Raises (leaving nothing for the caller to write)
    ``AlreadyFinished``, ``VersionMismatch`` or ``IllegalStateTransition``; ``row`` must then be dropped."""
    if row.state == FINISHED:
        raise AlreadyFinished(row.execution_id)
    if version != row.next_version:
        raise VersionMismatch(row.execution_id, version, row.next_version)
    changes: list[DelayChange] = []
    join_nexts: dict[str, int] = {}
    for event in events:
        if row.state == FINISHED:
            raise AlreadyFinished(row.execution_id)
        _transition(row, event, now, responses, join_nexts, changes)
        row.next_version += 1
    return changes


def _transition(
    row: ExecutionRow,
    event: Event,
    now: int,
    responses: ResponseLookup,
    join_nexts: dict[str, int],
    changes: list[DelayChange],
) -> None:
    match event:
        case Locked(_, executor_id, run_id, lock_expires_at):
            due = row.state == PENDING_AT and row.pending_expires_finished <= now
            # The run holding the execution may extend its lock: while it runs (Locked), or after the response it
            # waited for in place arrived (PendingAt with the owner kept, see ``accept_response``).
            extending = row.state in (LOCKED, PENDING_AT) and row.executor_id == executor_id and row.run_id == run_id
            if not (due or extending):
                raise IllegalStateTransition(
                    f"cannot lock execution {row.execution_id} for {executor_id}/{run_id}: it is {row.state}"
                    f" (at {row.pending_expires_finished}, owner {row.executor_id}/{row.run_id}, now {now})"
                )
            row.state = LOCKED
            row.pending_expires_finished = lock_expires_at
            row.executor_id = executor_id
            row.run_id = run_id
            row.join_set_id = None
            row.join_set_closing = None
            row.wake_when_due = False
        case Unlocked(backoff_expires_at, _) if row.state == BLOCKED:
            # A run that waited in place for a response is gone (its server stopped or died): the execution goes
            # on waiting for that response in the database only, and is due as soon as it arrives, not when the
            # gone run's lock would have expired. Made due now, its replay would only block on the same response.
            row.pending_expires_finished = backoff_expires_at
            row.executor_id = None
            row.run_id = None
        case Unlocked(backoff_expires_at, _):
            _make_pending_at(row, backoff_expires_at)
            row.wake_when_due = True
        case TemporarilyFailed(backoff_expires_at, _, _) | TemporarilyTimedOut(backoff_expires_at):
            _make_pending_at(row, backoff_expires_at)
            row.temporary_event_count += 1
            row.wake_when_due = True
        case JoinNext(join_set_id, run_expires_at, closing):
            earlier = join_nexts.get(join_set_id, 0)
            join_nexts[join_set_id] = earlier + 1
            # Every response counted by matched_responses was consumed by a distinct JoinNext of its own join set,
            # at its own index (the lookup's, or the blocked one's); so when all responses are matched, each join
            # set has no more responses than JoinNexts, and this JoinNext (one past them) has none to consume.
            arrived_at = (
                None
                if row.matched_responses == row.response_count
                else responses.response_for_join_next(row.execution_id, join_set_id, earlier)
            )
            if arrived_at is not None:
                row.matched_responses += 1
                _make_pending_at(row, max(run_expires_at, arrived_at), keep_owner=True)
            else:
                row.state = BLOCKED
                row.pending_expires_finished = run_expires_at
                row.join_set_id = join_set_id
                row.join_set_closing = int(closing)
            row.wake_when_due = False
        case JoinSetRequest(join_set_id, DelayRequest(delay_id, expires_at)):
            row.pending_delays += 1
            changes.append(CreateDelay(join_set_id, delay_id, expires_at))
        case Finished(result):
            row.state = FINISHED
            row.pending_expires_finished = now
            row.result_kind = result.kind.value
            row.finished_at = now
            row.executor_id = None
            row.run_id = None
            row.join_set_id = None
            row.join_set_closing = None
            row.wake_when_due = False
            if row.pending_delays:
                row.pending_delays = 0
                changes.append(DropAllDelays())
        case Created():
            raise IllegalStateTransition(
                f"cannot append Created to existing execution {row.execution_id}: create it instead"
            )
        case JoinSetCreated() | JoinSetRequest() | Schedule():
            pass  # they only extend the history (the execution they request is created in the same write)
        case _:
            assert_never(event)


def cancel(row: ExecutionRow, reason: str, now: int, responses: ResponseLookup) -> tuple[Finished, list[DelayChange]]:
    """An operator's cancel: ``Finished(Cancelled)`` appended at the row's own next version, whatever state it is
    in (pending, locked by a run anywhere, waiting for a response). Not version-checked against a caller's view:
    the run holding the execution finds its next write refused (``AlreadyFinished``) and stops. Raises
    ``AlreadyFinished`` for a finished execution, which then stays as it is."""
    finished = Finished(Cancelled(reason))
    return finished, append(row, row.next_version, [finished], now, responses)


def _make_pending_at(row: ExecutionRow, at: int, *, keep_owner: bool = False) -> None:
    row.state = PENDING_AT
    row.pending_expires_finished = at
    row.join_set_id = None
    row.join_set_closing = None
    if not keep_owner:
        row.executor_id = None
        row.run_id = None


def accept_response(row: ExecutionRow, join_set_id: JoinSetId, response: JoinSetResponseBody) -> list[DelayChange]:
    """Move ``row`` for a join-set response the backend has just stored (a new one, not a duplicate)."""
    row.response_count += 1
    if row.state == BLOCKED and row.join_set_id == join_set_id:
        row.matched_responses += 1  # the JoinNext it is blocked on consumes it
        # The run that wrote JoinNext owns the execution until its lock expiry (await strategy); an
        # interrupt-strategy run wrote run_expires_at = now, so the execution is due at once.
        _make_pending_at(row, row.pending_expires_finished, keep_owner=True)
    match response:
        case DelayFinished(delay_id) if row.pending_delays:
            # Its row is still there: a delay's response is delivered once (a second delivery is refused before
            # the rules see it), by the timers watcher that found the row, unless a Finished dropped every delay
            # of the execution since (then the count is 0 and there is nothing to delete).
            row.pending_delays -= 1
            return [DropDelay(join_set_id, delay_id)]
        case DelayFinished():
            return []
        case ChildExecutionFinished():
            return []
        case _:
            assert_never(response)


# ---------------------------------------------------------------------------------------------- views of a row
def pending_state(row: ExecutionRow) -> PendingState:
    return pending_state_of(
        row.state,
        row.pending_expires_finished,
        row.join_set_id,
        row.join_set_closing,
        row.executor_id,
        row.run_id,
        row.result_kind,
        row.finished_at,
    )


def pending_state_of(
    state: str,
    pending_expires_finished: int,
    join_set_id: str | None,
    join_set_closing: int | None,
    executor_id: str | None,
    run_id: str | None,
    result_kind: str | None,
    finished_at: int | None,
) -> PendingState:
    """The pending state from its stored columns (listings read them without a whole row)."""
    if state == PENDING_AT:
        return PendingAt(pending_expires_finished)
    if state == LOCKED:
        assert executor_id is not None and run_id is not None
        return LockedState(ExecutorId(executor_id), RunId(run_id), pending_expires_finished)
    if state == BLOCKED:
        assert join_set_id is not None
        return BlockedByJoinSet(JoinSetId(join_set_id), pending_expires_finished, bool(join_set_closing))
    assert state == FINISHED and result_kind is not None and finished_at is not None, state
    return FinishedState(finished_at, ResultKind(result_kind))


def status(row: ExecutionRow) -> ExecutionStatus:
    return ExecutionStatus(pending_state(row), row.next_version + row.response_count, row.next_version)


# ---------------------------------------------------------------------------------------------- announcements
@dataclass(slots=True)
class Effects:
    """What a committed write changed, for the notifications a backend sends after its commit (never before)."""

    pending_now_by_execution: dict[ExecutionId, str] = field(default_factory=dict)
    """Executions (and their FFQNs) left ``PendingAt(t)`` with ``t <= now``. Keyed by execution so that one created
    and locked in the same write (a workflow's inline child) wakes no executor."""
    pending_later: dict[str, int] = field(default_factory=dict)
    """FFQN -> earliest future time a retry, backoff or scheduled creation of this write becomes due."""
    changed: dict[ExecutionId, ExecutionRow] = field(default_factory=dict)
    """Every execution the write changed, with its row as the write leaves it (followers get their new status
    from it without a read)."""
    duplicate_responses: int = 0
    created: list[str] = field(default_factory=list)
    """The FFQN of each execution the write created (counted by ``obelisk.metrics``, after the commit)."""
    finished: list[tuple[str, str]] = field(default_factory=list)
    """``(ffqn, result_kind)`` of each execution the write finished."""
    finished_events: dict[ExecutionId, tuple[int, int, str]] = field(default_factory=dict)
    """The ``Finished`` log row (version, created_at, JSON) of each execution the write finished: an execution's
    end never changes, so a reader of it (a follower at the end) needs no read after this commit."""

    @property
    def pending_now(self) -> set[str]:
        """FFQNs of executions that became ``PendingAt(t)`` with ``t <= now``."""
        return set(self.pending_now_by_execution.values())

    def merge(self, other: Effects) -> None:
        self.pending_now_by_execution.update(other.pending_now_by_execution)
        for ffqn, at in other.pending_later.items():
            self._later(ffqn, at)
        self.changed.update(other.changed)
        self.duplicate_responses += other.duplicate_responses
        self.created += other.created
        self.finished += other.finished
        self.finished_events.update(other.finished_events)

    def note_created(self, row: ExecutionRow, now: int) -> None:
        """A new execution: due now wakes an executor, later gets a timed wake-up."""
        self.changed[row.execution_id] = row
        self.created.append(row.ffqn)
        if row.pending_expires_finished <= now:
            self.pending_now_by_execution[row.execution_id] = row.ffqn
        else:
            self._later(row.ffqn, row.pending_expires_finished)

    def note_changed(self, row: ExecutionRow, now: int) -> None:
        self.changed[row.execution_id] = row
        if row.state != PENDING_AT:
            self.pending_now_by_execution.pop(row.execution_id, None)
            return
        if row.pending_expires_finished <= now:
            self.pending_now_by_execution[row.execution_id] = row.ffqn
        elif row.wake_when_due:
            self._later(row.ffqn, row.pending_expires_finished)

    def note_finished(self, row: ExecutionRow) -> None:
        """The write finished the execution (called once per execution: only an unfinished one can finish)."""
        self.finished.append((row.ffqn, row.result_kind or ""))

    def _later(self, ffqn: str, at: int) -> None:
        self.pending_later[ffqn] = min(at, self.pending_later.get(ffqn, at))
