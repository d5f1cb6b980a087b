"""Transaction bodies of the SQLite backend: synchronous functions over one ``sqlite3.Connection``.

They run on aiosqlite's worker thread, inside a transaction (and a savepoint per caller) that the group commit in
``sqlite.py`` opened, so each of them is all-or-nothing without managing transactions itself. Keeping a whole
operation in one synchronous function costs one thread hop per transaction instead of one per statement.

SQL texts are module constants so that ``sqlite3``'s statement cache (keyed by text) keeps them prepared. The hot
queries name their partial index (``INDEXED BY``): without ``ANALYZE`` statistics the planner may prefer a broader
index and scan a whole execution's log on every ``JoinNext``.

The pending-state machine is the original's: ``Created`` makes ``PendingAt(scheduled_at)``; ``Locked``
needs a due ``PendingAt`` or the same executor and run extending; temporary failures, timeouts and ``Unlocked``
make ``PendingAt(backoff)`` (``Unlocked`` of a ``BlockedByJoinSet`` only drops the waiting run: the execution
stays blocked, due as soon as its response arrives); ``JoinNext`` makes
``PendingAt(max(run_expires_at, response time))`` when its response is there, else ``BlockedByJoinSet``; a
response to a join set the execution is blocked on makes ``PendingAt(lock_expires_at)``. Decisions of this project
on top:

- ``Finished`` bumps ``next_version`` like any event (so it equals the number of events) and deletes the
  execution's pending delays: nobody can consume them any more.
- A ``JoinNext`` keeps ``executor_id``/``run_id`` on the row: under the ``await`` strategy that run still owns the
  execution until ``run_expires_at``, and ``unlock_executor`` can then release it after a restart.
- A duplicate response (same execution, join set and child or delay) is ignored: delivering it again is a no-op,
  not an error, so a timers watcher or a retried delivery that races another one cannot fail a whole batch.
- A response to a finished execution is stored (and changes nothing): the child's own ``Finished`` must not fail
  because its parent already ended.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from obelisk.concepts.events import (
    HISTORY_EVENT_TYPES,
    BlockedByJoinSet,
    ChildExecutionFinished,
    Created,
    DelayFinished,
    DelayRequest,
    Event,
    ExecutionEvent,
    Finished,
    FinishedState,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    JoinSetResponseEvent,
    Locked,
    LockedState,
    PendingAt,
    PendingState,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
    event_from_json,
    event_kind,
    event_to_json,
    response_from_json,
    response_to_json,
)
from obelisk.concepts.failed_runs import NO_FAILED_RUNS, FailedRunsInARow, count_failed_runs
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import ResultKind
from obelisk.storage.interface import (
    AlreadyFinished,
    AppendEvents,
    CreateExecution,
    DeliverResponse,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    IllegalStateTransition,
    LockedExecution,
    VersionMismatch,
    WriteOp,
)

PENDING_AT = "PendingAt"
LOCKED = "Locked"
BLOCKED = "BlockedByJoinSet"
FINISHED = "Finished"
STATES = (PENDING_AT, LOCKED, BLOCKED, FINISHED)

_HISTORY_TYPE_NAMES = tuple(t.__name__ for t in HISTORY_EVENT_TYPES)
_JOIN_SET_EVENTS = (JoinSetCreated, JoinSetRequest, JoinNext)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass(slots=True)
class Effects:
    """What a committed job changed, for the notifications sent after the commit (never before)."""

    pending_now_by_execution: dict[ExecutionId, str] = field(default_factory=dict)
    """Executions (and their FFQNs) left ``PendingAt(t)`` with ``t <= now`` by this job. Keyed by execution so that
    one created and locked in the same job (a workflow's inline child) wakes no executor."""
    pending_later: dict[str, int] = field(default_factory=dict)
    """FFQN -> earliest future retry/backoff time made pending by this job."""
    changed: dict[ExecutionId, Row] = field(default_factory=dict)
    """Every execution the job changed, with its state row as the job leaves it (followers get their new status
    from it without a read)."""
    duplicate_responses: int = 0

    @property
    def pending_now(self) -> set[str]:
        """FFQNs of executions that became ``PendingAt(t)`` with ``t <= now``."""
        return set(self.pending_now_by_execution.values())

    def merge(self, other: Effects) -> None:
        self.pending_now_by_execution.update(other.pending_now_by_execution)
        for ffqn, at in other.pending_later.items():
            self.pending_later[ffqn] = min(at, self.pending_later.get(ffqn, at))
        self.changed.update(other.changed)
        self.duplicate_responses += other.duplicate_responses


# ---------------------------------------------------------------------------------------------- SQL
_SELECT_ROW = (
    "SELECT next_version, response_count, ffqn, state, pending_expires_finished, join_set_id, join_set_closing,"
    " executor_id, run_id, temporary_event_count, result_kind, finished_at"
    " FROM execution_state WHERE execution_id = ?"
)
_MUTABLE_COLUMNS = (
    "next_version",
    "response_count",
    "state",
    "pending_expires_finished",
    "join_set_id",
    "join_set_closing",
    "executor_id",
    "run_id",
    "temporary_event_count",
    "result_kind",
    "finished_at",
)
_update_texts: dict[tuple[str, ...], str] = {}


def _update_sql(columns: tuple[str, ...]) -> str:
    """``UPDATE`` of only the changed columns: SQLite rewrites every index that covers a column in the SET list,
    whether its value changed or not, and each rewritten index page is one more WAL frame to commit. The few
    column sets that occur are cached so their texts stay in the statement cache."""
    sql = _update_texts.get(columns)
    if sql is None:
        sql = f"UPDATE execution_state SET {', '.join(c + ' = ?' for c in columns)} WHERE execution_id = ?"
        _update_texts[columns] = sql
    return sql


_INSERT_STATE = (
    "INSERT INTO execution_state (execution_id, ffqn, created_at, scheduled_at, max_retries, retry_exp_backoff_us,"
    " parent_execution_id, parent_join_set_id, component_id, next_version, response_count, state,"
    " pending_expires_finished, join_set_id, join_set_closing, executor_id, run_id, temporary_event_count,"
    " result_kind, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_EVENT = (
    "INSERT INTO execution_log (execution_id, version, created_at, event_type, json, join_set_id)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_COUNT_JOIN_NEXT = (
    "SELECT count(*) FROM execution_log INDEXED BY execution_log_join_next"
    " WHERE execution_id = ? AND join_set_id = ? AND event_type = 'JoinNext'"
)
_NTH_RESPONSE_TIME = (
    "SELECT created_at FROM join_set_response WHERE execution_id = ? AND join_set_id = ? ORDER BY id LIMIT 1 OFFSET ?"
)
_INSERT_RESPONSE = (
    "INSERT OR IGNORE INTO join_set_response (execution_id, join_set_id, created_at, json, child_execution_id,"
    " delay_id) VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_DELAY = "INSERT INTO delay (execution_id, join_set_id, delay_id, expires_at) VALUES (?, ?, ?, ?)"
_DELETE_DELAY = "DELETE FROM delay WHERE execution_id = ? AND join_set_id = ? AND delay_id = ?"
_DELETE_DELAYS_OF = "DELETE FROM delay WHERE execution_id = ?"
_SELECT_DUE = (
    "SELECT pending_expires_finished, execution_id FROM execution_state INDEXED BY execution_state_pending"
    " WHERE state = 'PendingAt' AND ffqn = ? AND pending_expires_finished <= ?"
    " ORDER BY pending_expires_finished LIMIT ?"
)
_SELECT_LOG_TAIL = "SELECT json FROM execution_log WHERE execution_id = ? AND version >= ? ORDER BY version DESC"
FAILED_RUNS_LOOK_BACK = 64
"""How many of an execution's newest events ``failed_runs_in_a_row`` reads (each failed run adds two or three)."""
_SELECT_CREATED = "SELECT json FROM execution_log WHERE execution_id = ? AND version = 0"
_SELECT_HISTORY = (
    "SELECT version, created_at, json FROM execution_log WHERE execution_id = ?"
    f" AND event_type IN ({', '.join(repr(n) for n in _HISTORY_TYPE_NAMES)}) ORDER BY version"
)
SELECT_RESPONSES = (
    "SELECT id, created_at, join_set_id, json FROM join_set_response WHERE execution_id = ? AND id > ?"
    " ORDER BY id LIMIT ?"
)


# ---------------------------------------------------------------------------------------------- the state row
@dataclass(slots=True)
class Row:
    execution_id: ExecutionId
    next_version: int
    response_count: int
    ffqn: str
    state: str
    pending_expires_finished: int
    join_set_id: str | None
    join_set_closing: int | None
    executor_id: str | None
    run_id: str | None
    temporary_event_count: int
    result_kind: str | None
    finished_at: int | None
    loaded: tuple[Any, ...] | None = ()
    """The column values as read, so that ``store`` writes only what changed; ``None``: created by this job and
    not inserted yet (``insert`` holds its other columns)."""
    insert: tuple[Any, ...] = ()
    wake_when_due: bool = False
    """Set when the row became ``PendingAt`` through a retry/unlock: worth a timed executor wake-up."""

    def values(self) -> tuple[Any, ...]:
        return (
            self.next_version,
            self.response_count,
            self.state,
            self.pending_expires_finished,
            self.join_set_id,
            self.join_set_closing,
            self.executor_id,
            self.run_id,
            self.temporary_event_count,
            self.result_kind,
            self.finished_at,
        )

    def store(self, conn: sqlite3.Connection) -> None:
        current = self.values()
        if self.loaded is None:
            conn.execute(_INSERT_STATE, (*self.insert, *current))
            self.loaded = current
            return
        changed = [i for i, (a, b) in enumerate(zip(current, self.loaded, strict=True)) if a != b]
        if not changed:
            return
        sql = _update_sql(tuple(_MUTABLE_COLUMNS[i] for i in changed))
        conn.execute(sql, (*(current[i] for i in changed), self.execution_id))
        self.loaded = current

    def pending_at(self, at: int, *, keep_owner: bool = False) -> None:
        self.state = PENDING_AT
        self.pending_expires_finished = at
        self.join_set_id = None
        self.join_set_closing = None
        if not keep_owner:
            self.executor_id = None
            self.run_id = None

    def note_effects(self, effects: Effects, now: int) -> None:
        effects.changed[self.execution_id] = self
        if self.state != PENDING_AT:
            effects.pending_now_by_execution.pop(self.execution_id, None)
            return
        if self.pending_expires_finished <= now:
            effects.pending_now_by_execution[self.execution_id] = self.ffqn
        elif self.wake_when_due:
            at = self.pending_expires_finished
            effects.pending_later[self.ffqn] = min(at, effects.pending_later.get(self.ffqn, at))


class StateRows:
    """The ``execution_state`` rows one write job touches: each read at most once and written once, at the end.

    A serial workflow step touches its parent twice (the child's response, then the parent's next events) and
    creates a child it locks at once; reading and writing each row once per job instead of once per operation
    saves statements, and a child inserted already ``Locked`` never rewrites the indexes of a ``PendingAt`` row.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._rows: dict[ExecutionId, Row] = {}

    def get(self, execution_id: ExecutionId) -> Row:
        row = self._rows.get(execution_id)
        if row is None:
            row = self._rows[execution_id] = load_row(self.conn, execution_id)
        return row

    def add(self, row: Row) -> None:
        self._rows[row.execution_id] = row

    def store(self) -> None:
        for row in self._rows.values():
            row.store(self.conn)


def load_row(conn: sqlite3.Connection, execution_id: ExecutionId) -> Row:
    found = conn.execute(_SELECT_ROW, (execution_id,)).fetchone()
    if found is None:
        raise ExecutionNotFound(execution_id)
    row = Row(execution_id, *found)
    row.loaded = tuple(found[:2]) + tuple(found[3:])  # all but ffqn, in _MUTABLE_COLUMNS order
    return row


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
    if state == PENDING_AT:
        return PendingAt(pending_expires_finished)
    if state == LOCKED:
        assert executor_id is not None and run_id is not None
        return LockedState(ExecutorId(executor_id), RunId(run_id), pending_expires_finished)
    if state == BLOCKED:
        assert join_set_id is not None
        return BlockedByJoinSet(JoinSetId(join_set_id), pending_expires_finished, bool(join_set_closing))
    assert result_kind is not None and finished_at is not None
    return FinishedState(finished_at, ResultKind(result_kind))


# ---------------------------------------------------------------------------------------------- writes
def apply_ops(conn: sqlite3.Connection, ops: Sequence[WriteOp], now: int, effects: Effects) -> None:
    rows = StateRows(conn)
    for op in ops:
        if isinstance(op, AppendEvents):
            append_events(rows, op.execution_id, op.version, op.events, now, effects)
        elif isinstance(op, CreateExecution):
            create_execution(rows, op.execution_id, op.created, now, effects)
        elif isinstance(op, DeliverResponse):
            deliver_response(rows, op, now, effects)
        else:
            raise TypeError(f"not a write operation: {op!r}")
    rows.store()


def create_execution(rows: StateRows, execution_id: ExecutionId, created: Created, now: int, effects: Effects) -> None:
    parent = created.parent
    ffqn = str(created.ffqn)
    try:
        # The log's primary key (execution_id, 0) is what refuses a second creation; the state row follows at the
        # end of the job (``StateRows.store``), already in the state the rest of the job leaves it in.
        rows.conn.execute(_INSERT_EVENT, (execution_id, 0, now, "Created", dumps(event_to_json(created)), None))
    except sqlite3.IntegrityError:
        raise ExecutionAlreadyExists(execution_id) from None
    row = Row(
        execution_id=execution_id,
        next_version=1,
        response_count=0,
        ffqn=ffqn,
        state=PENDING_AT,
        pending_expires_finished=created.scheduled_at,
        join_set_id=None,
        join_set_closing=None,
        executor_id=None,
        run_id=None,
        temporary_event_count=0,
        result_kind=None,
        finished_at=None,
        loaded=None,
        insert=(
            execution_id,
            ffqn,
            now,
            created.scheduled_at,
            created.max_retries,
            created.retry_exp_backoff_us,
            None if parent is None else parent.execution_id,
            None if parent is None else parent.join_set_id,
            created.component_id,
        ),
    )
    rows.add(row)
    effects.changed[execution_id] = row
    if created.scheduled_at <= now:
        effects.pending_now_by_execution[execution_id] = ffqn
    else:
        effects.pending_later[ffqn] = min(created.scheduled_at, effects.pending_later.get(ffqn, created.scheduled_at))


def append_events(
    rows: StateRows,
    execution_id: ExecutionId,
    version: int,
    events: Sequence[Event],
    now: int,
    effects: Effects,
) -> Row:
    """Append ``events`` at ``version``; the state row is written when the job's ``rows`` are stored."""
    conn = rows.conn
    row = rows.get(execution_id)
    if row.state == FINISHED:
        raise AlreadyFinished(execution_id)
    if version != row.next_version:
        raise VersionMismatch(execution_id, version, row.next_version)
    for event in events:
        if row.state == FINISHED:
            raise AlreadyFinished(execution_id)
        _transition(conn, row, event, now)
        join_set_id = event.join_set_id if isinstance(event, _JOIN_SET_EVENTS) else None
        conn.execute(
            _INSERT_EVENT,
            (execution_id, row.next_version, now, event_kind(event), dumps(event_to_json(event)), join_set_id),
        )
        row.next_version += 1
    row.note_effects(effects, now)
    return row


def _transition(conn: sqlite3.Connection, row: Row, event: Event, now: int) -> None:
    """Move ``row`` by one event (before the event itself is inserted at ``row.next_version``)."""
    match event:
        case Locked(_, executor_id, run_id, lock_expires_at):
            due = row.state == PENDING_AT and row.pending_expires_finished <= now
            # The run holding the execution may extend its lock: while it runs (Locked), or after the response it
            # waited for in place arrived (PendingAt with the owner kept, see ``deliver_response``).
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
            row.pending_at(backoff_expires_at)
            row.wake_when_due = True
        case TemporarilyFailed(backoff_expires_at, _, _) | TemporarilyTimedOut(backoff_expires_at):
            row.pending_at(backoff_expires_at)
            row.temporary_event_count += 1
            row.wake_when_due = True
        case JoinNext(join_set_id, run_expires_at, closing):
            (earlier,) = conn.execute(_COUNT_JOIN_NEXT, (row.execution_id, join_set_id)).fetchone()
            response = conn.execute(_NTH_RESPONSE_TIME, (row.execution_id, join_set_id, earlier)).fetchone()
            if response is not None:
                row.pending_at(max(run_expires_at, response[0]), keep_owner=True)
            else:
                row.state = BLOCKED
                row.pending_expires_finished = run_expires_at
                row.join_set_id = join_set_id
                row.join_set_closing = int(closing)
            row.wake_when_due = False
        case JoinSetRequest(join_set_id, DelayRequest(delay_id, expires_at)):
            try:
                conn.execute(_INSERT_DELAY, (row.execution_id, join_set_id, delay_id, expires_at))
            except sqlite3.IntegrityError:
                raise IllegalStateTransition(
                    f"execution {row.execution_id} already requested delay {delay_id} in join set {join_set_id}"
                ) from None
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
            conn.execute(_DELETE_DELAYS_OF, (row.execution_id,))
        case Created():
            raise IllegalStateTransition(
                f"cannot append Created to existing execution {row.execution_id}: use CreateExecution"
            )
        case _:
            pass  # JoinSetCreated, child requests and Schedule only extend the history


def deliver_response(rows: StateRows, op: DeliverResponse, now: int, effects: Effects) -> None:
    conn = rows.conn
    row = rows.get(op.execution_id)
    response = op.response
    child_id = response.child_execution_id if isinstance(response, ChildExecutionFinished) else None
    delay_id = response.delay_id if isinstance(response, DelayFinished) else None
    cursor = conn.execute(
        _INSERT_RESPONSE,
        (
            op.execution_id,
            op.join_set_id,
            now if op.created_at is None else op.created_at,
            dumps(response_to_json(response)),
            child_id,
            delay_id,
        ),
    )
    if cursor.rowcount == 0:
        effects.duplicate_responses += 1
        return
    row.response_count += 1
    if row.state == BLOCKED and row.join_set_id == op.join_set_id:
        # The run that wrote JoinNext owns the execution until its lock_expires_at (await strategy); an
        # interrupt-strategy run wrote run_expires_at = now, so the execution is due at once.
        row.pending_at(row.pending_expires_finished, keep_owner=True)
    if delay_id is not None:
        conn.execute(_DELETE_DELAY, (op.execution_id, op.join_set_id, delay_id))
    row.note_effects(effects, now)


def lock_pending(
    conn: sqlite3.Connection,
    ffqns: Sequence[Ffqn],
    batch_size: int,
    now: int,
    executor_id: ExecutorId,
    component_id: str,
    lock_expires_at: int,
    effects: Effects,
) -> list[LockedExecution]:
    if batch_size <= 0:
        return []
    candidates: list[tuple[int, str]] = []
    for ffqn in ffqns:
        candidates.extend(conn.execute(_SELECT_DUE, (str(ffqn), now, batch_size)).fetchall())
    candidates.sort()
    locked: list[LockedExecution] = []
    rows = StateRows(conn)
    for _, raw_id in candidates[:batch_size]:
        execution_id = ExecutionId(raw_id)
        run_id = RunId.generate()
        row = rows.get(execution_id)
        # A first lock (only Created written, no response yet) has no history to read: two statements saved on
        # the most common lock of all.
        fresh = row.next_version == 1 and row.response_count == 0
        row = append_events(
            rows,
            execution_id,
            row.next_version,
            [Locked(component_id, executor_id, run_id, lock_expires_at)],
            now,
            effects,
        )
        (created_json,) = conn.execute(_SELECT_CREATED, (execution_id,)).fetchone()
        created = event_from_json(json.loads(created_json))
        assert isinstance(created, Created)
        history = [] if fresh else [execution_event(r) for r in conn.execute(_SELECT_HISTORY, (execution_id,))]
        failed_runs = NO_FAILED_RUNS if fresh else failed_runs_in_a_row(conn, execution_id, row.next_version)
        responses = [] if fresh else [response_event(r) for r in conn.execute(SELECT_RESPONSES, (execution_id, -1, -1))]
        locked.append(
            LockedExecution(
                execution_id=execution_id,
                run_id=run_id,
                version=row.next_version,
                created=created,
                lock_expires_at=lock_expires_at,
                temporary_event_count=row.temporary_event_count,
                history=history,
                responses=responses,
                timeouts_in_a_row=failed_runs.timeouts,
            )
        )
    rows.store()
    return locked


def failed_runs_in_a_row(conn: sqlite3.Connection, execution_id: ExecutionId, next_version: int) -> FailedRunsInARow:
    tail = conn.execute(_SELECT_LOG_TAIL, (execution_id, max(0, next_version - FAILED_RUNS_LOOK_BACK)))
    return count_failed_runs(event_from_json(json.loads(text)) for (text,) in tail)


# ---------------------------------------------------------------------------------------------- decoding
def execution_event(found: tuple[int, int, str]) -> ExecutionEvent:
    version, created_at, text = found
    return ExecutionEvent(version, created_at, event_from_json(json.loads(text)))


def response_event(found: tuple[int, int, str, str]) -> JoinSetResponseEvent:
    cursor, created_at, join_set_id, text = found
    return JoinSetResponseEvent(cursor, created_at, JoinSetId(join_set_id), response_from_json(json.loads(text)))
