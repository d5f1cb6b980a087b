"""Every read of the storage, the same on every backend, over the backend's SQL (``ReadStatements``).

What a read returns and when it is ``ExecutionNotFound`` are decided here; a backend's ``reads.py`` only runs one
statement per method and hands back its rows, which ``row_codec`` decodes. The functions are synchronous and run
on the backend's database thread, inside whatever read transaction the backend opened for them (``SqlStorage``
asks for one unless the read is a single statement).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from obelisk.concepts.events import ExecutionEvent, JoinSetResponseEvent, PendingState, event_from_json
from obelisk.concepts.failed_runs import FailedRunsInARow, count_failed_runs
from obelisk.concepts.ids import ExecutionId, ExecutorId
from obelisk.storage import row_codec
from obelisk.storage.interface import (
    ExecutionLog,
    ExecutionNotFound,
    ExecutionQuery,
    ExecutionStatus,
    ExecutionSummary,
    ExpiredDelay,
    ExpiredLock,
    HeldLock,
    ListDirection,
    StorageGauges,
)
from obelisk.storage.state_machine import STATES, ExecutionRow, pending_state, status

Rows = Iterable[tuple[Any, ...]]

ROW_COLUMNS = (
    "ffqn, next_version, response_count, state, pending_expires_finished, join_set_id, join_set_closing,"
    " executor_id, run_id, temporary_event_count, result_kind, finished_at, pending_delays,"
    " matched_responses, paused, operator_versions"
)
"""The columns of ``execution_state`` that make an ``ExecutionRow``, in its field order after ``execution_id``."""
FAILED_RUNS_LOOK_BACK = 64
"""How many of an execution's newest events ``failed_runs_in_a_row`` reads (each failed run adds two or three)."""


class ReadStatements(Protocol):
    """A backend's read statements on one connection: each method runs its SQL and returns the rows as selected."""

    def state_row(self, execution_id: ExecutionId) -> tuple[Any, ...] | None:
        """``ROW_COLUMNS`` of the execution's state row, or ``None``."""

    def events(self, execution_id: ExecutionId, version_from: int, length: int) -> Rows:
        """``version, created_at, json`` of the log from ``version_from`` on, at most ``length`` (all if negative),
        in version order."""

    def responses(self, execution_id: ExecutionId, cursor_from: int, length: int, including_cursor: bool) -> Rows:
        """``id, created_at, join_set_id, json`` of the responses after ``cursor_from`` (from it, if
        ``including_cursor``), at most ``length`` (all if negative), in arrival (id) order."""

    def all_responses(self, execution_id: ExecutionId) -> Rows:
        """Every response of the execution, as ``responses``."""

    def change_count(self, execution_id: ExecutionId) -> int | None:
        """``next_version + response_count`` of the state row, or ``None``."""

    def exists(self, execution_id: ExecutionId) -> bool: ...

    def summary_row(self, execution_id: ExecutionId) -> tuple[Any, ...] | None:
        """``row_codec.SUMMARY_COLUMNS`` of the state row, or ``None``."""

    def last_event(self, execution_id: ExecutionId) -> tuple[Any, ...] | None:
        """``version, created_at, json`` of the log's newest event, or ``None``."""

    def descendants(self, low: str, high: str) -> Rows:
        """``row_codec.SUMMARY_COLUMNS`` of the state rows whose id lies strictly between ``low`` and ``high``
        (a range of the primary key)."""

    def log_tail(self, execution_id: ExecutionId, version_from: int) -> Rows:
        """``json`` of the log's events from ``version_from`` on, newest first."""

    def held_by(self, executor_id: ExecutorId, now: int) -> list[tuple[Any, ...]]:
        """``execution_id, next_version, state, parent_execution_id, parent_join_set_id`` of the state rows owned by
        ``executor_id`` that are ``Locked``, or ``PendingAt``/``BlockedByJoinSet`` with an expiry after ``now``."""

    def expired_locks(self, now: int) -> Rows:
        """The columns ``row_codec.expired_lock`` takes, of ``Locked`` rows expired at ``now``, oldest first."""

    def due_delays(self, now: int) -> Rows:
        """``execution_id, join_set_id, delay_id, expires_at`` of the delays due at ``now``, oldest first."""

    def state_counts(self) -> Rows:
        """``ffqn, state, count`` of ``execution_state`` grouped by both (a scan of a covering index)."""

    def paused_counts(self) -> Rows:
        """``ffqn, state, count`` of the paused rows only, grouped by both (few rows: the paused index)."""

    def due_counts(self, now: int) -> Rows:
        """``ffqn, count`` of the ``PendingAt`` rows due at ``now`` and not paused: what the executors would lock (a
        scan of the pending index only)."""

    def database_size(self) -> int:
        """The database's size in bytes."""

    def executions(self, query: ExecutionQuery) -> Rows:
        """``row_codec.SUMMARY_COLUMNS`` of the page ``list_executions_sql`` selects."""

    def delay_owner(self, delay_id: str) -> tuple[Any, ...] | None:
        """``execution_id, join_set_id`` of the pending delay ``delay_id``, or ``None`` (an operator's cancel: the
        table holds only pending delays, so it is read without an index on the id)."""


def load_row(db: ReadStatements, execution_id: ExecutionId) -> ExecutionRow:
    found = db.state_row(execution_id)
    if found is None:
        raise ExecutionNotFound(execution_id)
    return ExecutionRow(execution_id, *found)


def get_log(db: ReadStatements, execution_id: ExecutionId) -> ExecutionLog:
    row = load_row(db, execution_id)
    events = [row_codec.execution_event(r) for r in db.events(execution_id, 0, -1)]
    responses = [row_codec.response_event(r) for r in db.all_responses(execution_id)]
    return ExecutionLog(execution_id, events, responses, pending_state(row))


def get_pending_state(db: ReadStatements, execution_id: ExecutionId) -> PendingState:
    return pending_state(load_row(db, execution_id))


def get_status(db: ReadStatements, execution_id: ExecutionId) -> ExecutionStatus:
    return status(load_row(db, execution_id))


def get_summary(db: ReadStatements, execution_id: ExecutionId) -> ExecutionSummary:
    found = db.summary_row(execution_id)
    if found is None:
        raise ExecutionNotFound(execution_id)
    return row_codec.summary(found)


def list_children(db: ReadStatements, parent_id: ExecutionId) -> list[ExecutionSummary]:
    """Child ids are ``<parent>.<n>``: every descendant sorts between ``<parent>.`` and ``<parent>/`` (``/`` follows
    ``.`` in ASCII and both backends compare ids bytewise), so one range scan of the primary key finds them; the
    grandchildren it also meets are dropped here."""
    children = []
    for found in db.descendants(f"{parent_id}.", f"{parent_id}/"):
        summary = row_codec.summary(found)
        if summary.execution_id.parent_id == parent_id:
            children.append(summary)
    return children


def get_last_event(db: ReadStatements, execution_id: ExecutionId) -> ExecutionEvent:
    found = db.last_event(execution_id)
    if found is None:
        raise ExecutionNotFound(execution_id)
    return row_codec.execution_event(found)


def change_count(db: ReadStatements, execution_id: ExecutionId) -> int:
    found = db.change_count(execution_id)
    if found is None:
        raise ExecutionNotFound(execution_id)
    return int(found)


def failed_runs_in_a_row(db: ReadStatements, execution_id: ExecutionId, next_version: int) -> FailedRunsInARow:
    tail = db.log_tail(execution_id, max(0, next_version - FAILED_RUNS_LOOK_BACK))
    return count_failed_runs(event_from_json(json.loads(text)) for (text,) in tail)


def held_locks(db: ReadStatements, executor_id: ExecutorId, now: int) -> list[HeldLock]:
    """What ``executor_id`` holds: its locks, and the runs of it that wait in place (``BlockedByJoinSet``) or own a
    ``PendingAt`` whose time is still their lock's. An interrupt-strategy run waits with an expiry of ``now``, so
    its blocked execution is nobody's and is not returned."""
    held: list[HeldLock] = []
    for eid, version, state, parent_id, parent_js in db.held_by(executor_id, now):
        execution_id = ExecutionId(eid)
        running = state == "Locked"
        held.append(
            HeldLock(
                execution_id=execution_id,
                version=version,
                running=running,
                parent=row_codec.parent_ref(parent_id, parent_js),
                crashes_in_a_row=failed_runs_in_a_row(db, execution_id, version).crashes if running else 0,
            )
        )
    return held


def get_expired_timers(db: ReadStatements, now: int) -> list[ExpiredLock | ExpiredDelay]:
    """Expired locks and due delays. ``BlockedByJoinSet`` rows are never returned: they wait for a response."""
    timers: list[ExpiredLock | ExpiredDelay] = [row_codec.expired_lock(found) for found in db.expired_locks(now)]
    timers.extend(row_codec.expired_delay(found) for found in db.due_delays(now))
    return timers


def list_events(db: ReadStatements, execution_id: ExecutionId, version_from: int, length: int) -> list[ExecutionEvent]:
    events = [row_codec.execution_event(r) for r in db.events(execution_id, version_from, length)]
    if not events and not db.exists(execution_id):
        raise ExecutionNotFound(execution_id)
    return events


def list_responses(
    db: ReadStatements, execution_id: ExecutionId, cursor_from: int, length: int, including_cursor: bool
) -> list[JoinSetResponseEvent]:
    responses = [row_codec.response_event(r) for r in db.responses(execution_id, cursor_from, length, including_cursor)]
    if not responses and not db.exists(execution_id):
        raise ExecutionNotFound(execution_id)
    return responses


def list_executions(db: ReadStatements, query: ExecutionQuery) -> list[ExecutionSummary]:
    summaries = [row_codec.summary(found) for found in db.executions(query)]
    if query.direction is ListDirection.NEWER:
        summaries.reverse()
    return summaries


def list_executions_sql(query: ExecutionQuery, placeholder: str) -> tuple[str, list[Any]]:
    """The listing query with its parameters, ``placeholder`` being the driver's parameter marker. It is plain
    SQL (a row-value comparison for the cursor) that SQLite and PostgreSQL both run on the same indexes."""
    where: list[str] = []
    params: list[Any] = []
    if query.ffqn is not None:
        where.append(f"ffqn = {placeholder}")
        params.append(str(query.ffqn))
    if query.state is not None:
        if query.state not in STATES:
            raise ValueError(f"ExecutionQuery.state: expected one of {', '.join(STATES)} or None, got {query.state!r}")
        where.append(f"state = {placeholder}")
        params.append(query.state)
    if query.paused is not None:
        # A literal, not a parameter: the listing of paused executions uses its partial index (``WHERE paused``).
        where.append("paused" if query.paused else "NOT paused")
    if query.result_kind is not None:
        where.append(f"result_kind = {placeholder}")
        params.append(query.result_kind.value)
    if query.top_level_only:
        where.append("parent_execution_id IS NULL")
    newer = query.direction is ListDirection.NEWER
    if query.cursor is not None:
        operator = (">" if newer else "<") + ("=" if query.including_cursor else "")
        where.append(f"(created_at, execution_id) {operator} ({placeholder}, {placeholder})")
        params.extend(query.cursor)
    order = "ASC" if newer else "DESC"
    sql = f"SELECT {row_codec.SUMMARY_COLUMNS} FROM execution_state"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY created_at {order}, execution_id {order} LIMIT {placeholder}"
    params.append(query.length)
    return sql, params


PAUSED_STATE = "Paused"
"""The state a paused execution is counted under by ``gauges``: its stored state stays what it was (it resumes
from it), but an operator counting what runs wants it apart, as the lists and filters show it."""


def gauges(db: ReadStatements, now: int) -> StorageGauges:
    executions = {(str(ffqn), str(state)): int(count) for ffqn, state, count in db.state_counts()}
    for ffqn, state, count in db.paused_counts():
        key = (str(ffqn), str(state))
        left = executions.get(key, 0) - int(count)
        if left > 0:
            executions[key] = left
        else:
            executions.pop(key, None)
        paused = (str(ffqn), PAUSED_STATE)
        executions[paused] = executions.get(paused, 0) + int(count)
    return StorageGauges(
        executions=executions,
        due={str(ffqn): int(count) for ffqn, count in db.due_counts(now)},
        size_bytes=db.database_size(),
    )
