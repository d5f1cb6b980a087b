"""Transaction bodies of the SQLite backend: synchronous functions over one ``sqlite3.Connection``.

They run on aiosqlite's worker thread, inside a transaction (and a savepoint per caller) that the group commit in
``backend.py`` opened, so each of them is all-or-nothing without managing transactions itself. Keeping a whole
operation in one synchronous function costs one thread hop per transaction instead of one per statement.

They only load and store: every rule of an execution's pending state is ``obelisk.storage.state_machine``'s.

SQL texts are module constants so that ``sqlite3``'s statement cache (keyed by text) keeps them prepared. The hot
queries name their partial index (``INDEXED BY``): without ``ANALYZE`` statistics the planner may prefer a broader
index and scan a whole execution's log on every ``JoinNext``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any, assert_never

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

_HISTORY_TYPE_NAMES = tuple(t.__name__ for t in HISTORY_EVENT_TYPES)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------- SQL
_SELECT_ROW = (  # in ExecutionRow's field order
    "SELECT ffqn, next_version, response_count, state, pending_expires_finished, join_set_id, join_set_closing,"
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


# ---------------------------------------------------------------------------------------------- state rows
class _StoredRow:
    """An execution's state row in this job: the rules' ``ExecutionRow`` plus what SQLite needs to write it back.

    ``loaded`` holds the column values as read, so that ``store`` writes only what changed; ``None`` means created
    by this job and not inserted yet (``insert`` holds its immutable columns)."""

    __slots__ = ("insert", "loaded", "row")

    def __init__(self, row: ExecutionRow, loaded: tuple[Any, ...] | None, insert: tuple[Any, ...] = ()) -> None:
        self.row = row
        self.loaded = loaded
        self.insert = insert

    def store(self, conn: sqlite3.Connection) -> None:
        current = _mutable_values(self.row)
        if self.loaded is None:
            conn.execute(_INSERT_STATE, (*self.insert, *current))
            self.loaded = current
            return
        changed = [i for i, (a, b) in enumerate(zip(current, self.loaded, strict=True)) if a != b]
        if not changed:
            return
        sql = _update_sql(tuple(_MUTABLE_COLUMNS[i] for i in changed))
        conn.execute(sql, (*(current[i] for i in changed), self.row.execution_id))
        self.loaded = current


def _mutable_values(row: ExecutionRow) -> tuple[Any, ...]:
    """The row's values in ``_MUTABLE_COLUMNS`` order."""
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


class StateRows:
    """The ``execution_state`` rows one write job touches: each read at most once and written once, at the end.

    A serial workflow step touches its parent twice (the child's response, then the parent's next events) and
    creates a child it locks at once; reading and writing each row once per job instead of once per operation
    saves statements, and a child inserted already ``Locked`` never rewrites the indexes of a ``PendingAt`` row.
    It is also the ``ResponseLookup`` the rules ask about join-set responses.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._rows: dict[ExecutionId, _StoredRow] = {}

    def get(self, execution_id: ExecutionId) -> ExecutionRow:
        stored = self._rows.get(execution_id)
        if stored is None:
            row = load_row(self.conn, execution_id)
            stored = self._rows[execution_id] = _StoredRow(row, _mutable_values(row))
        return stored.row

    def add_created(self, row: ExecutionRow, insert: tuple[Any, ...]) -> None:
        self._rows[row.execution_id] = _StoredRow(row, None, insert)

    def store(self) -> None:
        for stored in self._rows.values():
            stored.store(self.conn)

    def response_for_join_next(self, execution_id: ExecutionId, join_set_id: str, earlier_in_batch: int) -> int | None:
        (in_log,) = self.conn.execute(_COUNT_JOIN_NEXT, (execution_id, join_set_id)).fetchone()
        found = self.conn.execute(_NTH_RESPONSE_TIME, (execution_id, join_set_id, in_log + earlier_in_batch)).fetchone()
        return None if found is None else int(found[0])


def load_row(conn: sqlite3.Connection, execution_id: ExecutionId) -> ExecutionRow:
    found = conn.execute(_SELECT_ROW, (execution_id,)).fetchone()
    if found is None:
        raise ExecutionNotFound(execution_id)
    return ExecutionRow(execution_id, *found)


# ---------------------------------------------------------------------------------------------- writes
def apply_ops(conn: sqlite3.Connection, ops: Sequence[WriteOp], now: int, effects: Effects) -> None:
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
    try:
        # The log's primary key (execution_id, 0) is what refuses a second creation; the state row follows at the
        # end of the job (``StateRows.store``), already in the state the rest of the job leaves it in.
        rows.conn.execute(_INSERT_EVENT, (execution_id, 0, now, "Created", dumps(event_to_json(created)), None))
    except sqlite3.IntegrityError:
        raise ExecutionAlreadyExists(execution_id) from None
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
    conn.executemany(
        _INSERT_EVENT,
        [
            (execution_id, at, now, event_kind(event), dumps(event_to_json(event)), _join_set_of(event))
            for at, event in enumerate(events, start=version)
        ],
    )
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


def _apply_delay_changes(conn: sqlite3.Connection, execution_id: ExecutionId, changes: Sequence[DelayChange]) -> None:
    for change in changes:
        match change:
            case CreateDelay(join_set_id, delay_id, expires_at):
                try:
                    conn.execute(_INSERT_DELAY, (execution_id, join_set_id, delay_id, expires_at))
                except sqlite3.IntegrityError:
                    raise IllegalStateTransition(
                        f"execution {execution_id} already requested delay {delay_id} in join set {join_set_id}"
                    ) from None
            case DropDelay(join_set_id, delay_id):
                conn.execute(_DELETE_DELAY, (execution_id, join_set_id, delay_id))
            case DropAllDelays():
                conn.execute(_DELETE_DELAYS_OF, (execution_id,))
            case _:
                assert_never(change)


def deliver_response(rows: StateRows, op: DeliverResponse, now: int, effects: Effects) -> None:
    conn = rows.conn
    row = rows.get(op.execution_id)
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
