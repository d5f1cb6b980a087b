"""Transaction bodies of the PostgreSQL backend: synchronous functions over the one writer connection.

They run on the backend's database thread, inside a transaction (and a savepoint per caller) that the group
commit in ``backend.py`` opened, so each is all-or-nothing without managing transactions itself; a whole
operation in one synchronous function costs one thread hop per transaction, not one per statement.

They only load and store: every rule of an execution's pending state is ``obelisk.storage.state_machine``'s.

Several servers may write one database at once, under READ COMMITTED. What keeps them apart:

* every state row is read ``FOR UPDATE`` before the rules check its version, so a second server's append waits
  for the first one's commit, then sees its version and fails with ``VersionMismatch``;
* a creation inserts the log's ``(execution_id, 0)`` row ``ON CONFLICT DO NOTHING``: the second of two racing
  creations waits for the first, inserts nothing and fails with ``ExecutionAlreadyExists``;
* ``lock_pending`` selects due rows ``FOR UPDATE SKIP LOCKED``: a row another server is locking is skipped,
  not waited for, so each execution is locked by exactly one of them;
* a response is stored while its execution's row is locked, so response ids grow in commit order per execution,
  and a second delivery of the same response (two servers' timer watchers) is ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, assert_never

import psycopg

from obelisk.concepts.events import (
    HISTORY_EVENT_TYPES,
    ChildExecutionFinished,
    Created,
    DelayFinished,
    Event,
    ExecutionEvent,
    Finished,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    JoinSetResponseEvent,
    Locked,
    Schedule,
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
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.storage import state_machine
from obelisk.storage.interface import (
    AppendEvents,
    CreateExecution,
    DeliverResponse,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    IllegalStateTransition,
    LockedExecution,
    WriteOp,
)
from obelisk.storage.state_machine import CreateDelay, DelayChange, DropAllDelays, DropDelay, Effects, ExecutionRow

Connection = psycopg.Connection[tuple[Any, ...]]

_HISTORY_TYPE_NAMES = [t.__name__ for t in HISTORY_EVENT_TYPES]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------- SQL
ROW_COLUMNS = (  # in ExecutionRow's field order, after execution_id
    "ffqn, next_version, response_count, state, pending_expires_finished, join_set_id, join_set_closing,"
    " executor_id, run_id, temporary_event_count, result_kind, finished_at"
)
_SELECT_ROW_FOR_UPDATE = f"SELECT {ROW_COLUMNS} FROM execution_state WHERE execution_id = %s FOR UPDATE"
_UPDATE_ROW = (
    "UPDATE execution_state SET next_version = %s, response_count = %s, state = %s, pending_expires_finished = %s,"
    " join_set_id = %s, join_set_closing = %s, executor_id = %s, run_id = %s, temporary_event_count = %s,"
    " result_kind = %s, finished_at = %s WHERE execution_id = %s"
)
_INSERT_STATE = (
    "INSERT INTO execution_state (execution_id, ffqn, created_at, scheduled_at, max_retries, retry_exp_backoff_us,"
    " parent_execution_id, parent_join_set_id, component_id, next_version, response_count, state,"
    " pending_expires_finished, join_set_id, join_set_closing, executor_id, run_id, temporary_event_count,"
    " result_kind, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    " %s)"
)
_INSERT_CREATED = (
    "INSERT INTO execution_log (execution_id, version, created_at, event_type, json, join_set_id)"
    " VALUES (%s, 0, %s, 'Created', %s, NULL) ON CONFLICT DO NOTHING"
)
_INSERT_EVENT = (
    "INSERT INTO execution_log (execution_id, version, created_at, event_type, json, join_set_id)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
_NTH_RESPONSE_TIME = (
    "SELECT created_at FROM join_set_response WHERE execution_id = %s AND join_set_id = %s ORDER BY id"
    " LIMIT 1 OFFSET (SELECT count(*) FROM execution_log"
    " WHERE execution_id = %s AND join_set_id = %s AND event_type = 'JoinNext') + %s"
)
_INSERT_RESPONSE = (
    "INSERT INTO join_set_response (execution_id, join_set_id, created_at, json, child_execution_id, delay_id)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
_INSERT_DELAY = (
    "INSERT INTO delay (execution_id, join_set_id, delay_id, expires_at) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
_DELETE_DELAY = "DELETE FROM delay WHERE execution_id = %s AND join_set_id = %s AND delay_id = %s"
_DELETE_DELAYS_OF = "DELETE FROM delay WHERE execution_id = %s"
_LOCK_DUE = (
    # The Created event comes along (one statement per ffqn for the commonest lock of all, a fresh execution).
    f"SELECT s.execution_id, {', '.join('s.' + c.strip() for c in ROW_COLUMNS.split(','))}, l.json"
    " FROM execution_state s JOIN execution_log l ON l.execution_id = s.execution_id AND l.version = 0"
    " WHERE s.state = 'PendingAt' AND s.ffqn = %s AND s.pending_expires_finished <= %s"
    " ORDER BY s.pending_expires_finished LIMIT %s FOR UPDATE OF s SKIP LOCKED"
)
_SELECT_LOG_TAIL = "SELECT json FROM execution_log WHERE execution_id = %s AND version >= %s ORDER BY version DESC"
FAILED_RUNS_LOOK_BACK = 64
"""How many of an execution's newest events ``failed_runs_in_a_row`` reads (each failed run adds two or three)."""
_SELECT_HISTORY = (
    "SELECT version, created_at, json FROM execution_log WHERE execution_id = %s AND event_type = ANY(%s)"
    " ORDER BY version"
)
SELECT_ALL_RESPONSES = (
    "SELECT id, created_at, join_set_id, json FROM join_set_response WHERE execution_id = %s ORDER BY id"
)


# ---------------------------------------------------------------------------------------------- state rows
def mutable_values(row: ExecutionRow) -> tuple[Any, ...]:
    return (
        row.next_version,
        row.response_count,
        row.state,
        row.pending_expires_finished,
        row.join_set_id,
        row.join_set_closing,
        row.executor_id,
        row.run_id,
        row.temporary_event_count,
        row.result_kind,
        row.finished_at,
    )


class _StoredRow:
    """A state row in this job: the rules' ``ExecutionRow``, its values as loaded (``None``: created by this job,
    ``insert`` holding its immutable columns), so that ``store`` writes it once and only if it changed."""

    __slots__ = ("insert", "loaded", "row")

    def __init__(self, row: ExecutionRow, loaded: tuple[Any, ...] | None, insert: tuple[Any, ...] = ()) -> None:
        self.row = row
        self.loaded = loaded
        self.insert = insert

    def store(self, conn: Connection) -> None:
        current = mutable_values(self.row)
        if self.loaded is None:
            conn.execute(_INSERT_STATE, (*self.insert, *current))
        elif current != self.loaded:
            conn.execute(_UPDATE_ROW, (*current, self.row.execution_id))
        self.loaded = current


class StateRows:
    """The ``execution_state`` rows one write job touches, each locked and read once and written once at the end;
    also the rules' ``ResponseLookup``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._rows: dict[ExecutionId, _StoredRow] = {}

    def get(self, execution_id: ExecutionId) -> ExecutionRow:
        stored = self._rows.get(execution_id)
        if stored is None:
            found = self.conn.execute(_SELECT_ROW_FOR_UPDATE, (execution_id,)).fetchone()
            if found is None:
                raise ExecutionNotFound(execution_id)
            row = ExecutionRow(execution_id, *found)
            stored = self._rows[execution_id] = _StoredRow(row, mutable_values(row))
        return stored.row

    def add_locked(self, row: ExecutionRow) -> None:
        """A row this job already locked and read (``lock_pending``)."""
        self._rows[row.execution_id] = _StoredRow(row, mutable_values(row))

    def add_created(self, row: ExecutionRow, insert: tuple[Any, ...]) -> None:
        self._rows[row.execution_id] = _StoredRow(row, None, insert)

    def store(self) -> None:
        for stored in self._rows.values():
            stored.store(self.conn)

    def response_for_join_next(self, execution_id: ExecutionId, join_set_id: str, earlier_in_batch: int) -> int | None:
        found = self.conn.execute(
            _NTH_RESPONSE_TIME, (execution_id, join_set_id, execution_id, join_set_id, earlier_in_batch)
        ).fetchone()
        return None if found is None else int(found[0])


# ---------------------------------------------------------------------------------------------- writes
def apply_ops(conn: Connection, ops: Sequence[WriteOp], now: int, effects: Effects) -> None:
    rows = StateRows(conn)
    for op in ops:
        match op:
            case AppendEvents(execution_id, version, events):
                append_events(rows, execution_id, version, events, now, effects)
            case CreateExecution(execution_id, created):
                create_execution(rows, execution_id, created, now, effects)
            case DeliverResponse():
                deliver_response(rows, op, now, effects)
            case _:
                assert_never(op)
    rows.store()


def create_execution(rows: StateRows, execution_id: ExecutionId, created: Created, now: int, effects: Effects) -> None:
    parent = created.parent
    # The log's primary key (execution_id, 0) is what refuses a second creation (a racing one waits for this
    # transaction and then inserts nothing); the state row follows at the end of the job.
    cursor = rows.conn.execute(_INSERT_CREATED, (execution_id, now, dumps(event_to_json(created))))
    if cursor.rowcount == 0:
        raise ExecutionAlreadyExists(execution_id)
    row = state_machine.new_execution(execution_id, created)
    rows.add_created(
        row,
        (
            execution_id,
            row.ffqn,
            now,
            created.scheduled_at,
            created.max_retries,
            created.retry_exp_backoff_us,
            None if parent is None else parent.execution_id,
            None if parent is None else parent.join_set_id,
            created.component_id,
        ),
    )
    effects.note_created(row, now)


def append_events(
    rows: StateRows,
    execution_id: ExecutionId,
    version: int,
    events: Sequence[Event],
    now: int,
    effects: Effects,
) -> ExecutionRow:
    """Append ``events`` at ``version``; the state row is written when the job's ``rows`` are stored."""
    conn = rows.conn
    row = rows.get(execution_id)
    delay_changes = state_machine.append(row, version, events, now, rows)
    values = [
        (execution_id, at, now, event_kind(event), dumps(event_to_json(event)), _join_set_of(event))
        for at, event in enumerate(events, start=version)
    ]
    if len(values) == 1:
        conn.execute(_INSERT_EVENT, values[0])
    elif values:
        conn.cursor().executemany(_INSERT_EVENT, values)
    _apply_delay_changes(conn, execution_id, delay_changes)
    effects.note_changed(row, now)
    return row


def _join_set_of(event: Event) -> str | None:
    """The join set an event is indexed by (``JoinNext`` counting reads it)."""
    match event:
        case JoinSetCreated(join_set_id) | JoinSetRequest(join_set_id) | JoinNext(join_set_id):
            return join_set_id
        case Created() | Locked() | Unlocked() | TemporarilyFailed() | TemporarilyTimedOut() | Finished() | Schedule():
            return None
        case _:
            assert_never(event)


def _apply_delay_changes(conn: Connection, execution_id: ExecutionId, changes: Sequence[DelayChange]) -> None:
    for change in changes:
        match change:
            case CreateDelay(join_set_id, delay_id, expires_at):
                cursor = conn.execute(_INSERT_DELAY, (execution_id, join_set_id, delay_id, expires_at))
                if cursor.rowcount == 0:
                    raise IllegalStateTransition(
                        f"execution {execution_id} already requested delay {delay_id} in join set {join_set_id}"
                    )
            case DropDelay(join_set_id, delay_id):
                conn.execute(_DELETE_DELAY, (execution_id, join_set_id, delay_id))
            case DropAllDelays():
                conn.execute(_DELETE_DELAYS_OF, (execution_id,))
            case _:
                assert_never(change)


def deliver_response(rows: StateRows, op: DeliverResponse, now: int, effects: Effects) -> None:
    conn = rows.conn
    row = rows.get(op.execution_id)  # locked first: responses to one execution are stored in commit order
    response = op.response
    child_id: ExecutionId | None = None
    delay_id: DelayId | None = None
    match response:
        case ChildExecutionFinished(child_execution_id=child_execution_id):
            child_id = child_execution_id
        case DelayFinished(delay_id=finished_delay):
            delay_id = finished_delay
        case _:
            assert_never(response)
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
    if cursor.rowcount == 0:  # already delivered: a second delivery is a no-op
        effects.duplicate_responses += 1
        return
    _apply_delay_changes(conn, op.execution_id, state_machine.accept_response(row, op.join_set_id, response))
    effects.note_changed(row, now)


def lock_pending(
    conn: Connection,
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
    candidates: list[tuple[Any, ...]] = []
    for ffqn in ffqns:
        candidates.extend(conn.execute(_LOCK_DUE, (str(ffqn), now, batch_size)).fetchall())
    # Oldest first over all ffqns; rows beyond the batch stay locked only until this transaction ends.
    candidates.sort(key=lambda found: (found[5], found[0]))
    locked: list[LockedExecution] = []
    rows = StateRows(conn)
    for found in candidates[:batch_size]:
        execution_id = ExecutionId(found[0])
        row = ExecutionRow(execution_id, *found[1:-1])
        rows.add_locked(row)
        created = event_from_json(json.loads(found[-1]))
        assert isinstance(created, Created)
        # A first lock (only Created written, no response yet) has no history to read.
        fresh = row.next_version == 1 and row.response_count == 0
        run_id = RunId.generate()
        append_events(
            rows,
            execution_id,
            row.next_version,
            [Locked(component_id, executor_id, run_id, lock_expires_at)],
            now,
            effects,
        )
        history = (
            []
            if fresh
            else [execution_event(r) for r in conn.execute(_SELECT_HISTORY, (execution_id, _HISTORY_TYPE_NAMES))]
        )
        failed_runs = NO_FAILED_RUNS if fresh else failed_runs_in_a_row(conn, execution_id, row.next_version)
        responses = [] if fresh else [response_event(r) for r in conn.execute(SELECT_ALL_RESPONSES, (execution_id,))]
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


def history_of(conn: Connection, execution_id: ExecutionId) -> list[ExecutionEvent]:
    """The history events a replay needs, in version order."""
    return [execution_event(r) for r in conn.execute(_SELECT_HISTORY, (execution_id, _HISTORY_TYPE_NAMES))]


def failed_runs_in_a_row(conn: Connection, execution_id: ExecutionId, next_version: int) -> FailedRunsInARow:
    tail = conn.execute(_SELECT_LOG_TAIL, (execution_id, max(0, next_version - FAILED_RUNS_LOOK_BACK)))
    return count_failed_runs(event_from_json(json.loads(text)) for (text,) in tail)


# ---------------------------------------------------------------------------------------------- decoding
def execution_event(found: tuple[Any, ...]) -> ExecutionEvent:
    version, created_at, text = found
    return ExecutionEvent(version, created_at, event_from_json(json.loads(text)))


def response_event(found: tuple[Any, ...]) -> JoinSetResponseEvent:
    cursor, created_at, join_set_id, text = found
    return JoinSetResponseEvent(cursor, created_at, JoinSetId(join_set_id), response_from_json(json.loads(text)))
