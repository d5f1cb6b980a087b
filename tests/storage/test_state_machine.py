"""The pending-state rules on their own: no database, no clock, rows and events in, rows and delay changes out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from obelisk.concepts.events import (
    BlockedByJoinSet,
    ChildExecutionFinished,
    ChildExecutionRequest,
    Created,
    DelayFinished,
    DelayRequest,
    Finished,
    FinishedState,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    Locked,
    LockedState,
    PendingAt,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import Cancelled, Ok, ResultKind, ReturnValue
from obelisk.storage import state_machine
from obelisk.storage.interface import AlreadyFinished, IllegalStateTransition, VersionMismatch
from obelisk.storage.state_machine import (
    BLOCKED,
    FINISHED,
    LOCKED,
    PENDING_AT,
    CreateDelay,
    DropAllDelays,
    DropDelay,
    Effects,
    ExecutionRow,
)

T0 = 1_700_000_000_000_000
SEC = 1_000_000
EXECUTOR = ExecutorId.generate()
RUN = RunId.generate()
JS = JoinSetId.generate()
CHILD = ExecutionId.generate()
DELAY = DelayId.generate()


@dataclass
class Responses:
    """Arrival times of each join set's responses, as a backend would read them."""

    arrived: dict[str, list[int]] = field(default_factory=dict)
    in_log: dict[str, int] = field(default_factory=dict)
    asked: list[tuple[str, int]] = field(default_factory=list)

    def response_for_join_next(self, execution_id: ExecutionId, join_set_id: str, earlier_in_batch: int) -> int | None:
        self.asked.append((join_set_id, earlier_in_batch))
        index = self.in_log.get(join_set_id, 0) + earlier_in_batch
        times = self.arrived.get(join_set_id, [])
        return times[index] if index < len(times) else None


def created(scheduled_at: int = T0) -> Created:
    return Created(
        ffqn=Ffqn.parse("testing:fibo/fibo.fibo"),
        params=[1],
        scheduled_at=scheduled_at,
        component_id="workflow_wasm:w:0123456789abcdef",
        max_retries=3,
        retry_exp_backoff_us=SEC,
        parent=None,
    )


def new_row(scheduled_at: int = T0) -> ExecutionRow:
    return state_machine.new_execution(ExecutionId.generate(), created(scheduled_at))


def lock(row: ExecutionRow, now: int = T0, *, run: RunId = RUN, expires: int = T0 + 10 * SEC) -> None:
    state_machine.append(row, row.next_version, [Locked("c", EXECUTOR, run, expires)], now, Responses())


def test_created_is_pending_at_its_schedule() -> None:
    row = new_row(T0 + 5 * SEC)
    assert state_machine.pending_state(row) == PendingAt(T0 + 5 * SEC)
    assert (row.next_version, row.response_count, row.temporary_event_count) == (1, 0, 0)


def test_lock_needs_a_due_pending_at() -> None:
    row = new_row(T0 + 5 * SEC)
    with pytest.raises(IllegalStateTransition, match="cannot lock"):
        lock(row, now=T0)
    lock(row, now=T0 + 5 * SEC)
    assert state_machine.pending_state(row) == LockedState(EXECUTOR, RUN, T0 + 10 * SEC)
    assert row.next_version == 2


def test_the_same_run_may_extend_its_lock_another_may_not() -> None:
    row = new_row()
    lock(row)
    lock(row, expires=T0 + 20 * SEC)
    assert row.pending_expires_finished == T0 + 20 * SEC
    with pytest.raises(IllegalStateTransition):
        lock(row, run=RunId.generate())


def test_stale_version_and_finished_are_refused() -> None:
    row = new_row()
    with pytest.raises(VersionMismatch):
        state_machine.append(row, 5, [JoinSetCreated(JS)], T0, Responses())
    lock(row)
    finished = Finished(Ok(ReturnValue(1)))
    changes = state_machine.append(row, row.next_version, [finished], T0 + SEC, Responses())
    assert changes == []  # it never requested a delay: nothing to delete
    assert state_machine.pending_state(row) == FinishedState(T0 + SEC, ResultKind.OK)
    assert row.executor_id is None and row.next_version == 3
    with pytest.raises(AlreadyFinished):
        state_machine.append(row, row.next_version, [JoinSetCreated(JS)], T0, Responses())
    # nothing may follow Finished within one append either
    other = new_row()
    with pytest.raises(AlreadyFinished):
        state_machine.append(other, 1, [finished, JoinSetCreated(JS)], T0, Responses())


def test_created_cannot_be_appended() -> None:
    row = new_row()
    with pytest.raises(IllegalStateTransition, match="Created"):
        state_machine.append(row, 1, [created()], T0, Responses())


@pytest.mark.parametrize(
    "event",
    [TemporarilyFailed(T0 + 3 * SEC, "trap"), TemporarilyTimedOut(T0 + 3 * SEC)],
    ids=["failed", "timed-out"],
)
def test_temporary_failures_count_and_back_off(event: TemporarilyFailed | TemporarilyTimedOut) -> None:
    row = new_row()
    lock(row)
    state_machine.append(row, row.next_version, [event], T0 + SEC, Responses())
    assert state_machine.pending_state(row) == PendingAt(T0 + 3 * SEC)
    assert row.temporary_event_count == 1 and row.executor_id is None and row.wake_when_due


def test_unlock_releases_without_a_retry() -> None:
    row = new_row()
    lock(row)
    state_machine.append(row, row.next_version, [Unlocked(T0 + SEC, "stop")], T0, Responses())
    assert state_machine.pending_state(row) == PendingAt(T0 + SEC)
    assert row.temporary_event_count == 0 and row.run_id is None


def test_join_next_without_its_response_blocks_and_keeps_the_owner() -> None:
    row = new_row()
    lock(row)
    state_machine.append(row, row.next_version, [JoinSetCreated(JS), JoinNext(JS, T0 + 9 * SEC)], T0, Responses())
    assert state_machine.pending_state(row) == BlockedByJoinSet(JS, T0 + 9 * SEC, False)
    assert (row.executor_id, row.run_id) == (EXECUTOR, RUN)
    # the response arrives: due when the waiting run's lock expires, owner kept so it may lock again
    changes = state_machine.accept_response(row, JS, ChildExecutionFinished(CHILD, Ok(None)))
    assert changes == []
    assert state_machine.pending_state(row) == PendingAt(T0 + 9 * SEC)
    assert (row.executor_id, row.run_id, row.response_count) == (EXECUTOR, RUN, 1)
    lock(row, now=T0 + SEC, expires=T0 + 11 * SEC)  # the same run goes on before that
    assert row.state == LOCKED


def test_join_next_whose_response_is_there_stays_pending() -> None:
    row = new_row()
    lock(row)
    row.response_count = 1  # as the backend stores it with the response
    responses = Responses(arrived={JS: [T0 + 2 * SEC]})
    state_machine.append(row, row.next_version, [JoinNext(JS, T0 + SEC)], T0 + 3 * SEC, responses)
    assert state_machine.pending_state(row) == PendingAt(T0 + 2 * SEC)
    assert row.matched_responses == 1


def test_join_nexts_in_one_append_consume_successive_responses() -> None:
    row = new_row()
    lock(row)
    row.response_count = 1
    responses = Responses(arrived={JS: [T0 + SEC]}, in_log={JS: 0})
    events = [JoinNext(JS, T0), JoinNext(JS, T0 + 4 * SEC, closing=True)]
    state_machine.append(row, row.next_version, events, T0 + 2 * SEC, responses)
    # The first consumed the only response: every response matched, the second needs no lookup.
    assert responses.asked == [(JS, 0)]
    assert state_machine.pending_state(row) == BlockedByJoinSet(JS, T0 + 4 * SEC, True)


def test_a_join_next_asks_the_database_only_while_some_response_is_unmatched() -> None:
    row = new_row()
    lock(row)
    nothing = Responses()
    state_machine.append(row, row.next_version, [JoinNext(JS, T0 + 9 * SEC)], T0, nothing)
    assert nothing.asked == [] and row.state == BLOCKED  # no response at all: none to look for
    state_machine.accept_response(row, JS, ChildExecutionFinished(CHILD, Ok(None)))
    assert (row.response_count, row.matched_responses) == (1, 1)  # consumed by the JoinNext blocked on it
    other = JoinSetId.generate()
    state_machine.append(row, row.next_version, [JoinNext(other, T0 + 9 * SEC)], T0, nothing)
    assert nothing.asked == [] and row.state == BLOCKED
    # A response to a join set nobody waits on stays unmatched: the next JoinNext asks, whichever join set.
    state_machine.accept_response(row, JS, ChildExecutionFinished(CHILD, Ok(None)))
    assert (row.response_count, row.matched_responses) == (2, 1)
    asking = Responses(arrived={JS: [T0, T0 + SEC]}, in_log={JS: 1})
    row.state, row.join_set_id = LOCKED, None
    state_machine.append(row, row.next_version, [JoinNext(JS, T0 + 9 * SEC)], T0 + 2 * SEC, asking)
    assert asking.asked == [(JS, 0)] and row.state == PENDING_AT
    assert (row.response_count, row.matched_responses) == (2, 2)


def test_a_response_to_another_join_set_does_not_unblock() -> None:
    row = new_row()
    lock(row)
    state_machine.append(row, row.next_version, [JoinNext(JS, T0 + 9 * SEC)], T0, Responses())
    state_machine.accept_response(row, JoinSetId.generate(), ChildExecutionFinished(CHILD, Ok(None)))
    assert row.state == BLOCKED and row.response_count == 1


def test_unlock_of_a_blocked_execution_keeps_it_blocked_without_owner() -> None:
    row = new_row()
    lock(row)
    state_machine.append(row, row.next_version, [JoinNext(JS, T0 + 9 * SEC)], T0, Responses())
    state_machine.append(row, row.next_version, [Unlocked(T0, "server stopped")], T0, Responses())
    assert state_machine.pending_state(row) == BlockedByJoinSet(JS, T0, False)
    assert row.executor_id is None and row.run_id is None
    state_machine.accept_response(row, JS, ChildExecutionFinished(CHILD, Ok(None)))
    assert state_machine.pending_state(row) == PendingAt(T0)


def test_delays_are_created_and_dropped() -> None:
    row = new_row()
    lock(row)
    request = JoinSetRequest(JS, DelayRequest(DELAY, T0 + 5 * SEC))
    changes = state_machine.append(row, row.next_version, [JoinSetCreated(JS), request], T0, Responses())
    assert changes == [CreateDelay(JS, DELAY, T0 + 5 * SEC)]
    assert row.pending_delays == 1
    assert state_machine.accept_response(row, JS, DelayFinished(DELAY)) == [DropDelay(JS, DELAY)]
    assert row.pending_delays == 0
    child_request = JoinSetRequest(JS, ChildExecutionRequest(CHILD))
    assert state_machine.append(row, row.next_version, [child_request], T0, Responses()) == []


def test_finished_drops_the_delays_only_when_there_are_some() -> None:
    row = new_row()
    lock(row)
    requests = [JoinSetRequest(JS, DelayRequest(DelayId(f"{DELAY}_{i}"), T0 + SEC)) for i in range(2)]
    state_machine.append(row, row.next_version, [JoinSetCreated(JS), *requests], T0, Responses())
    assert row.pending_delays == 2
    state_machine.accept_response(row, JS, DelayFinished(DelayId(f"{DELAY}_0")))
    assert row.pending_delays == 1
    finished = Finished(Ok(ReturnValue(1)))
    assert state_machine.append(row, row.next_version, [finished], T0, Responses()) == [DropAllDelays()]
    assert row.pending_delays == 0
    # The other delay's response, read by a timers watcher before the Finished, arrives after it: no row is left.
    assert state_machine.accept_response(row, JS, DelayFinished(DelayId(f"{DELAY}_1"))) == []
    assert row.pending_delays == 0


def test_a_response_to_a_finished_execution_changes_only_its_count() -> None:
    row = new_row()
    lock(row)
    state_machine.append(row, row.next_version, [Finished(Ok(None))], T0, Responses())
    state_machine.accept_response(row, JS, ChildExecutionFinished(CHILD, Ok(None)))
    assert row.state == FINISHED and row.response_count == 1


def test_effects_announce_due_work_and_later_retries() -> None:
    now = T0
    effects = Effects()
    due, later = new_row(now), new_row(now + 5 * SEC)
    effects.note_created(due, now)
    effects.note_created(later, now)
    assert effects.pending_now == {due.ffqn}
    assert effects.pending_later == {later.ffqn: now + 5 * SEC}
    # created and locked in one write (an inline child): no executor is woken for it
    lock(due, now)
    effects.note_changed(due, now)
    assert effects.pending_now == set()
    # a retry soon gets a timed wake-up; merging keeps the earliest
    lock(later, now + 5 * SEC)
    state_machine.append(later, later.next_version, [TemporarilyFailed(now + 2 * SEC, "x")], now, Responses())
    other = Effects()
    other.note_changed(later, now)
    effects.merge(other)
    assert effects.pending_later == {later.ffqn: now + 2 * SEC}
    assert set(effects.changed) == {due.execution_id, later.execution_id}


def test_status_counts_events_and_responses() -> None:
    row = new_row()
    lock(row)
    state_machine.append(row, row.next_version, [JoinNext(JS, T0 + SEC)], T0, Responses())
    state_machine.accept_response(row, JS, ChildExecutionFinished(CHILD, Ok(None)))
    status = state_machine.status(row)
    assert (status.change_count, status.next_version) == (4, 3)
    assert row.state == PENDING_AT


@pytest.mark.parametrize("state", [PENDING_AT, LOCKED, BLOCKED])
def test_cancel_finishes_an_unfinished_execution_in_any_state(state: str) -> None:
    row = new_row(T0 + 60 * SEC)  # scheduled later: a cancel does not wait for it
    if state != PENDING_AT:
        row.pending_expires_finished = T0
        lock(row)
        request = JoinSetRequest(JS, DelayRequest(DELAY, T0 + 9 * SEC))
        state_machine.append(row, row.next_version, [JoinSetCreated(JS), request], T0, Responses())
    if state == BLOCKED:
        state_machine.append(row, row.next_version, [JoinNext(JS, T0 + 5 * SEC)], T0, Responses())
    assert row.state == state
    version = row.next_version
    finished, changes = state_machine.cancel(row, "by an operator", T0 + SEC, Responses())
    assert finished == Finished(Cancelled("by an operator"))
    # its pending delay, if it has one, goes with it
    assert changes == ([] if state == PENDING_AT else [DropAllDelays()])
    assert state_machine.pending_state(row) == FinishedState(T0 + SEC, ResultKind.CANCELLED)
    assert row.next_version == version + 1
    assert (row.executor_id, row.run_id, row.join_set_id) == (None, None, None)


def test_cancel_of_a_finished_execution_is_refused_and_changes_nothing() -> None:
    row = new_row()
    state_machine.append(row, 1, [Finished(Ok(None))], T0, Responses())
    before = dataclasses.replace(row)
    with pytest.raises(AlreadyFinished):
        state_machine.cancel(row, "by an operator", T0 + SEC, Responses())
    assert row == before
