"""Read-only queries of the PostgreSQL backend: logs, pending states, timers and listings.

Synchronous functions over one reader connection, run on a reader thread. A read of several statements runs in
one ``REPEATABLE READ, READ ONLY`` transaction (``backend.py``), so it sees one snapshot while other servers
write; a single statement is its own snapshot.
"""

from __future__ import annotations

from typing import Any

from obelisk.concepts.events import ExecutionEvent, JoinSetResponseEvent, ParentRef, PendingState
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId, JoinSetId, RunId
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
)
from obelisk.storage.postgres.writes import (
    ROW_COLUMNS,
    SELECT_ALL_RESPONSES,
    Connection,
    execution_event,
    failed_runs_in_a_row,
    response_event,
)
from obelisk.storage.state_machine import STATES, ExecutionRow, pending_state, pending_state_of, status

_SELECT_ROW = f"SELECT {ROW_COLUMNS} FROM execution_state WHERE execution_id = %s"
_SELECT_EVENTS = (
    "SELECT version, created_at, json FROM execution_log WHERE execution_id = %s AND version >= %s"
    " ORDER BY version LIMIT %s"
)
_SELECT_ALL_EVENTS = "SELECT version, created_at, json FROM execution_log WHERE execution_id = %s ORDER BY version"
_SELECT_RESPONSES_AFTER = (
    "SELECT id, created_at, join_set_id, json FROM join_set_response WHERE execution_id = %s AND id > %s"
    " ORDER BY id LIMIT %s"
)
_SELECT_RESPONSES_FROM = (
    "SELECT id, created_at, join_set_id, json FROM join_set_response WHERE execution_id = %s AND id >= %s"
    " ORDER BY id LIMIT %s"
)
_SELECT_EXPIRED_LOCKS = (
    "SELECT execution_id, next_version, run_id, executor_id, pending_expires_finished, temporary_event_count,"
    " max_retries, retry_exp_backoff_us, parent_execution_id, parent_join_set_id, ffqn"
    " FROM execution_state WHERE state = 'Locked' AND pending_expires_finished <= %s ORDER BY pending_expires_finished"
)
_SELECT_HELD_BY = (
    "SELECT execution_id, next_version, state, parent_execution_id, parent_join_set_id"
    " FROM execution_state WHERE executor_id = %s"
    " AND (state = 'Locked' OR (state IN ('PendingAt', 'BlockedByJoinSet') AND pending_expires_finished > %s))"
)
_SELECT_DUE_DELAYS = (
    "SELECT execution_id, join_set_id, delay_id, expires_at FROM delay WHERE expires_at <= %s ORDER BY expires_at"
)
_SELECT_COUNT = "SELECT next_version + response_count FROM execution_state WHERE execution_id = %s"
_EXISTS = "SELECT 1 FROM execution_state WHERE execution_id = %s"
_SUMMARY_COLUMNS = (
    "execution_id, ffqn, state, pending_expires_finished, join_set_id, join_set_closing, executor_id, run_id,"
    " result_kind, finished_at, created_at, scheduled_at, component_id, parent_execution_id"
)


def load_row(conn: Connection, execution_id: ExecutionId) -> ExecutionRow:
    found = conn.execute(_SELECT_ROW, (execution_id,)).fetchone()
    if found is None:
        raise ExecutionNotFound(execution_id)
    return ExecutionRow(execution_id, *found)


def get_log(conn: Connection, execution_id: ExecutionId) -> ExecutionLog:
    row = load_row(conn, execution_id)
    events = [execution_event(r) for r in conn.execute(_SELECT_ALL_EVENTS, (execution_id,))]
    responses = [response_event(r) for r in conn.execute(SELECT_ALL_RESPONSES, (execution_id,))]
    return ExecutionLog(execution_id, events, responses, pending_state(row))


def get_pending_state(conn: Connection, execution_id: ExecutionId) -> PendingState:
    return pending_state(load_row(conn, execution_id))


def get_status(conn: Connection, execution_id: ExecutionId) -> ExecutionStatus:
    return status(load_row(conn, execution_id))


def change_count(conn: Connection, execution_id: ExecutionId) -> int:
    found = conn.execute(_SELECT_COUNT, (execution_id,)).fetchone()
    if found is None:
        raise ExecutionNotFound(execution_id)
    return int(found[0])


def held_locks(conn: Connection, executor_id: ExecutorId, now: int) -> list[HeldLock]:
    """What ``executor_id`` holds: its locks, and the runs of it that wait in place (``BlockedByJoinSet``) or own a
    ``PendingAt`` whose time is still their lock's. An interrupt-strategy run waits with an expiry of ``now``, so
    its blocked execution is nobody's and is not returned."""
    held: list[HeldLock] = []
    for eid, version, state, parent_id, parent_js in conn.execute(_SELECT_HELD_BY, (executor_id, now)).fetchall():
        execution_id = ExecutionId(eid)
        running = state == "Locked"
        held.append(
            HeldLock(
                execution_id=execution_id,
                version=version,
                running=running,
                parent=None if parent_id is None else ParentRef(ExecutionId(parent_id), JoinSetId(parent_js)),
                crashes_in_a_row=failed_runs_in_a_row(conn, execution_id, version).crashes if running else 0,
            )
        )
    return held


def get_expired_timers(conn: Connection, now: int) -> list[ExpiredLock | ExpiredDelay]:
    """Expired locks and due delays. ``BlockedByJoinSet`` rows are never returned: they wait for a response."""
    timers: list[ExpiredLock | ExpiredDelay] = []
    for found in conn.execute(_SELECT_EXPIRED_LOCKS, (now,)).fetchall():
        (eid, version, run_id, executor_id, expires, temporaries, max_retries, backoff, parent_id, parent_js, ffqn) = (
            found
        )
        parent = None if parent_id is None else ParentRef(ExecutionId(parent_id), JoinSetId(parent_js))
        timers.append(
            ExpiredLock(
                execution_id=ExecutionId(eid),
                version=version,
                run_id=RunId(run_id),
                executor_id=ExecutorId(executor_id),
                lock_expires_at=expires,
                temporary_event_count=temporaries,
                max_retries=max_retries,
                retry_exp_backoff_us=backoff,
                parent=parent,
                ffqn=Ffqn.parse(ffqn),
            )
        )
    for eid, join_set_id, delay_id, expires_at in conn.execute(_SELECT_DUE_DELAYS, (now,)).fetchall():
        timers.append(ExpiredDelay(ExecutionId(eid), JoinSetId(join_set_id), DelayId(delay_id), expires_at))
    return timers


def list_events(conn: Connection, execution_id: ExecutionId, version_from: int, length: int) -> list[ExecutionEvent]:
    limit = None if length < 0 else length  # SQLite's LIMIT -1 means no limit, PostgreSQL's LIMIT NULL does
    events = [execution_event(r) for r in conn.execute(_SELECT_EVENTS, (execution_id, version_from, limit))]
    if not events and conn.execute(_EXISTS, (execution_id,)).fetchone() is None:
        raise ExecutionNotFound(execution_id)
    return events


def list_responses(
    conn: Connection, execution_id: ExecutionId, cursor_from: int, length: int, including_cursor: bool
) -> list[JoinSetResponseEvent]:
    sql = _SELECT_RESPONSES_FROM if including_cursor else _SELECT_RESPONSES_AFTER
    limit = None if length < 0 else length
    responses = [response_event(r) for r in conn.execute(sql, (execution_id, cursor_from, limit))]
    if not responses and conn.execute(_EXISTS, (execution_id,)).fetchone() is None:
        raise ExecutionNotFound(execution_id)
    return responses


def list_executions_sql(query: ExecutionQuery) -> tuple[str, list[Any]]:
    """The listing query; separate so that tests can ``EXPLAIN`` exactly what runs."""
    where: list[str] = []
    params: list[Any] = []
    if query.ffqn is not None:
        where.append("ffqn = %s")
        params.append(str(query.ffqn))
    if query.state is not None:
        if query.state not in STATES:
            raise ValueError(f"ExecutionQuery.state: expected one of {', '.join(STATES)} or None, got {query.state!r}")
        where.append("state = %s")
        params.append(query.state)
    if query.result_kind is not None:
        where.append("result_kind = %s")
        params.append(query.result_kind.value)
    if query.top_level_only:
        where.append("parent_execution_id IS NULL")
    newer = query.direction is ListDirection.NEWER
    if query.cursor is not None:
        operator = (">" if newer else "<") + ("=" if query.including_cursor else "")
        where.append(f"(created_at, execution_id) {operator} (%s, %s)")
        params.extend(query.cursor)
    order = "ASC" if newer else "DESC"
    sql = f"SELECT {_SUMMARY_COLUMNS} FROM execution_state"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY created_at {order}, execution_id {order} LIMIT %s"
    params.append(query.length)
    return sql, params


def list_executions(conn: Connection, query: ExecutionQuery) -> list[ExecutionSummary]:
    sql, params = list_executions_sql(query)
    summaries = []
    for found in conn.execute(sql.encode(), params).fetchall():
        (
            eid,
            ffqn,
            state,
            pef,
            js,
            closing,
            executor,
            run,
            kind,
            finished_at,
            created_at,
            scheduled_at,
            cid,
            parent,
        ) = found
        summaries.append(
            ExecutionSummary(
                execution_id=ExecutionId(eid),
                ffqn=Ffqn.parse(ffqn),
                pending_state=pending_state_of(state, pef, js, closing, executor, run, kind, finished_at),
                created_at=created_at,
                scheduled_at=scheduled_at,
                component_id=cid,
                parent_execution_id=None if parent is None else ExecutionId(parent),
            )
        )
    if query.direction is ListDirection.NEWER:
        summaries.reverse()
    return summaries
