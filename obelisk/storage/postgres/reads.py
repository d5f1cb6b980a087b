"""The read statements of the PostgreSQL backend (``read_flow.ReadStatements``): logs, state rows, timers, listings.

Synchronous, over one connection (a reader's, or the writer's within a write); what the rows mean and when a read
fails is ``read_flow``'s. A read of several statements runs in one ``REPEATABLE READ, READ ONLY`` transaction
(``backend.py``), so it sees one snapshot while other servers write; a single statement is its own snapshot.
"""

from __future__ import annotations

from typing import Any

import psycopg

from obelisk.concepts.ids import ExecutionId, ExecutorId
from obelisk.storage.held_writes import HoldingConnection
from obelisk.storage.interface import ExecutionQuery
from obelisk.storage.read_flow import ROW_COLUMNS, Rows
from obelisk.storage.read_flow import list_executions_sql as shared_list_executions_sql
from obelisk.storage.row_codec import SUMMARY_COLUMNS

Connection = psycopg.Connection[tuple[Any, ...]]

_SELECT_ROW = f"SELECT {ROW_COLUMNS} FROM execution_state WHERE execution_id = %s"
_SELECT_EVENTS = (
    "SELECT version, created_at, json FROM execution_log WHERE execution_id = %s AND version >= %s"
    " ORDER BY version LIMIT %s"
)
_SELECT_RESPONSES_AFTER = (
    "SELECT id, created_at, join_set_id, json FROM join_set_response WHERE execution_id = %s AND id > %s"
    " ORDER BY id LIMIT %s"
)
_SELECT_RESPONSES_FROM = (
    "SELECT id, created_at, join_set_id, json FROM join_set_response WHERE execution_id = %s AND id >= %s"
    " ORDER BY id LIMIT %s"
)
_SELECT_ALL_RESPONSES = (
    "SELECT id, created_at, join_set_id, json FROM join_set_response WHERE execution_id = %s ORDER BY id"
)
_SELECT_COUNT = "SELECT next_version + response_count FROM execution_state WHERE execution_id = %s"
_EXISTS = "SELECT 1 FROM execution_state WHERE execution_id = %s"
_SELECT_SUMMARY = f"SELECT {SUMMARY_COLUMNS} FROM execution_state WHERE execution_id = %s"
_SELECT_DESCENDANTS = f"SELECT {SUMMARY_COLUMNS} FROM execution_state WHERE execution_id > %s AND execution_id < %s"
_SELECT_LAST_EVENT = (
    "SELECT version, created_at, json FROM execution_log WHERE execution_id = %s ORDER BY version DESC LIMIT 1"
)
_SELECT_LOG_TAIL = "SELECT json FROM execution_log WHERE execution_id = %s AND version >= %s ORDER BY version DESC"
_SELECT_HELD_BY = (
    "SELECT execution_id, next_version, state, parent_execution_id, parent_join_set_id"
    " FROM execution_state WHERE executor_id = %s"
    " AND (state = 'Locked' OR (state IN ('PendingAt', 'BlockedByJoinSet') AND pending_expires_finished > %s))"
)
_SELECT_EXPIRED_LOCKS = (
    "SELECT execution_id, next_version, run_id, executor_id, pending_expires_finished, temporary_event_count,"
    " max_retries, retry_exp_backoff_us, parent_execution_id, parent_join_set_id, ffqn"
    " FROM execution_state WHERE state = 'Locked' AND pending_expires_finished <= %s ORDER BY pending_expires_finished"
)
_SELECT_DUE_DELAYS = (
    "SELECT execution_id, join_set_id, delay_id, expires_at FROM delay WHERE expires_at <= %s ORDER BY expires_at"
)

_SELECT_DELAY_OWNER = "SELECT execution_id, join_set_id FROM delay WHERE delay_id = %s"
_SELECT_STATE_COUNTS = "SELECT ffqn, state, COUNT(*) FROM execution_state GROUP BY ffqn, state"
_SELECT_PAUSED_COUNTS = "SELECT ffqn, state, COUNT(*) FROM execution_state WHERE paused GROUP BY ffqn, state"
_SELECT_DUE_COUNTS = (
    "SELECT ffqn, COUNT(*) FROM execution_state WHERE state = 'PendingAt' AND NOT paused"
    " AND pending_expires_finished <= %s"
    " GROUP BY ffqn"
)
_SELECT_DATABASE_SIZE = "SELECT pg_database_size(current_database())"


def list_executions_sql(query: ExecutionQuery) -> tuple[str, list[Any]]:
    """The listing query as it runs here; separate so that tests can ``EXPLAIN`` exactly that."""
    return shared_list_executions_sql(query, "%s")


def _limit(length: int) -> int | None:
    """SQLite's ``LIMIT -1`` means no limit, PostgreSQL's ``LIMIT NULL`` does."""
    return None if length < 0 else length


class PostgresReads:
    """``read_flow.ReadStatements`` on one psycopg connection."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection | HoldingConnection) -> None:
        self.conn = conn

    def state_row(self, execution_id: ExecutionId) -> tuple[Any, ...] | None:
        return self.conn.execute(_SELECT_ROW, (execution_id,)).fetchone()

    def events(self, execution_id: ExecutionId, version_from: int, length: int) -> Rows:
        return self.conn.execute(_SELECT_EVENTS, (execution_id, version_from, _limit(length)))

    def responses(self, execution_id: ExecutionId, cursor_from: int, length: int, including_cursor: bool) -> Rows:
        sql = _SELECT_RESPONSES_FROM if including_cursor else _SELECT_RESPONSES_AFTER
        return self.conn.execute(sql, (execution_id, cursor_from, _limit(length)))

    def all_responses(self, execution_id: ExecutionId) -> Rows:
        return self.conn.execute(_SELECT_ALL_RESPONSES, (execution_id,))

    def change_count(self, execution_id: ExecutionId) -> int | None:
        found = self.conn.execute(_SELECT_COUNT, (execution_id,)).fetchone()
        return None if found is None else int(found[0])

    def exists(self, execution_id: ExecutionId) -> bool:
        return self.conn.execute(_EXISTS, (execution_id,)).fetchone() is not None

    def summary_row(self, execution_id: ExecutionId) -> tuple[Any, ...] | None:
        found: tuple[Any, ...] | None = self.conn.execute(_SELECT_SUMMARY, (execution_id,)).fetchone()
        return found

    def last_event(self, execution_id: ExecutionId) -> tuple[Any, ...] | None:
        found: tuple[Any, ...] | None = self.conn.execute(_SELECT_LAST_EVENT, (execution_id,)).fetchone()
        return found

    def descendants(self, low: str, high: str) -> Rows:
        return self.conn.execute(_SELECT_DESCENDANTS, (low, high)).fetchall()

    def log_tail(self, execution_id: ExecutionId, version_from: int) -> Rows:
        return self.conn.execute(_SELECT_LOG_TAIL, (execution_id, version_from))

    def held_by(self, executor_id: ExecutorId, now: int) -> list[tuple[Any, ...]]:
        return self.conn.execute(_SELECT_HELD_BY, (executor_id, now)).fetchall()

    def expired_locks(self, now: int) -> Rows:
        return self.conn.execute(_SELECT_EXPIRED_LOCKS, (now,)).fetchall()

    def due_delays(self, now: int) -> Rows:
        return self.conn.execute(_SELECT_DUE_DELAYS, (now,)).fetchall()

    def delay_owner(self, delay_id: str) -> tuple[Any, ...] | None:
        return self.conn.execute(_SELECT_DELAY_OWNER, (delay_id,)).fetchone()

    def state_counts(self) -> Rows:
        return self.conn.execute(_SELECT_STATE_COUNTS).fetchall()

    def paused_counts(self) -> Rows:
        return self.conn.execute(_SELECT_PAUSED_COUNTS).fetchall()

    def due_counts(self, now: int) -> Rows:
        return self.conn.execute(_SELECT_DUE_COUNTS, (now,)).fetchall()

    def database_size(self) -> int:
        found = self.conn.execute(_SELECT_DATABASE_SIZE).fetchone()
        assert found is not None
        return int(found[0])

    def executions(self, query: ExecutionQuery) -> Rows:
        sql, params = list_executions_sql(query)
        return self.conn.execute(sql.encode(), params).fetchall()
