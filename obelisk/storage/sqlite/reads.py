"""The read statements of the SQLite backend (``read_flow.ReadStatements``): logs, state rows, timers, listings.

Synchronous, on aiosqlite's worker thread; what the rows mean and when a read fails is ``read_flow``'s. SQL texts
are module constants so that ``sqlite3``'s statement cache (keyed by text) keeps them prepared; the timer queries
name their partial index (``INDEXED BY``), as without ``ANALYZE`` statistics the planner may prefer a broader one.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from obelisk.concepts.ids import ExecutionId, ExecutorId
from obelisk.storage.held_writes import HoldingConnection
from obelisk.storage.interface import ExecutionQuery
from obelisk.storage.read_flow import ROW_COLUMNS, Rows
from obelisk.storage.read_flow import list_executions_sql as shared_list_executions_sql
from obelisk.storage.row_codec import SUMMARY_COLUMNS

_SELECT_ROW = f"SELECT {ROW_COLUMNS} FROM execution_state WHERE execution_id = ?"
_SELECT_EVENTS = (
    "SELECT version, created_at, json FROM execution_log WHERE execution_id = ? AND version >= ?"
    " ORDER BY version LIMIT ?"
)
_SELECT_RESPONSES = (
    "SELECT id, created_at, join_set_id, json FROM join_set_response WHERE execution_id = ? AND id > ?"
    " ORDER BY id LIMIT ?"
)
_SELECT_RESPONSES_INCL = (
    "SELECT id, created_at, join_set_id, json FROM join_set_response WHERE execution_id = ? AND id >= ?"
    " ORDER BY id LIMIT ?"
)
_SELECT_COUNT = "SELECT next_version + response_count FROM execution_state WHERE execution_id = ?"
_EXISTS = "SELECT 1 FROM execution_state WHERE execution_id = ?"
_SELECT_SUMMARY = f"SELECT {SUMMARY_COLUMNS} FROM execution_state WHERE execution_id = ?"
_SELECT_DESCENDANTS = f"SELECT {SUMMARY_COLUMNS} FROM execution_state WHERE execution_id > ? AND execution_id < ?"
_SELECT_LAST_EVENT = (
    "SELECT version, created_at, json FROM execution_log WHERE execution_id = ? ORDER BY version DESC LIMIT 1"
)
_SELECT_LOG_TAIL = "SELECT json FROM execution_log WHERE execution_id = ? AND version >= ? ORDER BY version DESC"
_SELECT_HELD_BY = (
    "SELECT execution_id, next_version, state, parent_execution_id, parent_join_set_id"
    " FROM execution_state INDEXED BY execution_state_executor WHERE executor_id = ?"
    " AND (state = 'Locked' OR (state IN ('PendingAt', 'BlockedByJoinSet') AND pending_expires_finished > ?))"
)
_SELECT_EXPIRED_LOCKS = (
    "SELECT execution_id, next_version, run_id, executor_id, pending_expires_finished, temporary_event_count,"
    " max_retries, retry_exp_backoff_us, parent_execution_id, parent_join_set_id, ffqn"
    " FROM execution_state INDEXED BY execution_state_locked"
    " WHERE state = 'Locked' AND pending_expires_finished <= ? ORDER BY pending_expires_finished"
)
_SELECT_DUE_DELAYS = (
    "SELECT execution_id, join_set_id, delay_id, expires_at FROM delay WHERE expires_at <= ? ORDER BY expires_at"
)

_SELECT_DELAY_OWNER = "SELECT execution_id, join_set_id FROM delay WHERE delay_id = ?"
_SELECT_STATE_COUNTS = (
    "SELECT ffqn, state, COUNT(*) FROM execution_state INDEXED BY execution_state_list_ffqn_state GROUP BY ffqn, state"
)
_SELECT_PAUSED_COUNTS = (
    "SELECT ffqn, state, COUNT(*) FROM execution_state INDEXED BY execution_state_list_paused WHERE paused"
    " GROUP BY ffqn, state"
)
_SELECT_DUE_COUNTS = (
    "SELECT ffqn, COUNT(*) FROM execution_state INDEXED BY execution_state_pending"
    " WHERE state = 'PendingAt' AND NOT paused AND pending_expires_finished <= ? GROUP BY ffqn"
)
_SELECT_DATABASE_SIZE = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"


def list_executions_sql(query: ExecutionQuery) -> tuple[str, list[Any]]:
    """The listing query as it runs here; separate so that tests can ``EXPLAIN QUERY PLAN`` exactly that."""
    return shared_list_executions_sql(query, "?")


class SqliteReads:
    """``read_flow.ReadStatements`` on one ``sqlite3.Connection``, or the writer's ``HoldingConnection`` over it
    (``LIMIT -1`` is SQLite's "no limit")."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection | HoldingConnection) -> None:
        self.conn = conn

    def state_row(self, execution_id: ExecutionId) -> tuple[Any, ...] | None:
        found: tuple[Any, ...] | None = self.conn.execute(_SELECT_ROW, (execution_id,)).fetchone()
        return found

    def events(self, execution_id: ExecutionId, version_from: int, length: int) -> Rows:
        return self.conn.execute(_SELECT_EVENTS, (execution_id, version_from, length))

    def responses(self, execution_id: ExecutionId, cursor_from: int, length: int, including_cursor: bool) -> Rows:
        sql = _SELECT_RESPONSES_INCL if including_cursor else _SELECT_RESPONSES
        return self.conn.execute(sql, (execution_id, cursor_from, length))

    def all_responses(self, execution_id: ExecutionId) -> Rows:
        return self.conn.execute(_SELECT_RESPONSES, (execution_id, -1, -1))

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
        return self.conn.execute(_SELECT_DESCENDANTS, (low, high))

    def log_tail(self, execution_id: ExecutionId, version_from: int) -> Rows:
        return self.conn.execute(_SELECT_LOG_TAIL, (execution_id, version_from))

    def held_by(self, executor_id: ExecutorId, now: int) -> list[tuple[Any, ...]]:
        return self.conn.execute(_SELECT_HELD_BY, (executor_id, now)).fetchall()

    def expired_locks(self, now: int) -> Rows:
        return self.conn.execute(_SELECT_EXPIRED_LOCKS, (now,))

    def due_delays(self, now: int) -> Rows:
        return self.conn.execute(_SELECT_DUE_DELAYS, (now,))

    def delay_owner(self, delay_id: str) -> tuple[Any, ...] | None:
        found: tuple[Any, ...] | None = self.conn.execute(_SELECT_DELAY_OWNER, (delay_id,)).fetchone()
        return found

    def state_counts(self) -> Rows:
        return self.conn.execute(_SELECT_STATE_COUNTS)

    def paused_counts(self) -> Rows:
        return self.conn.execute(_SELECT_PAUSED_COUNTS)

    def due_counts(self, now: int) -> Rows:
        return self.conn.execute(_SELECT_DUE_COUNTS, (now,))

    def database_size(self) -> int:
        return int(self.conn.execute(_SELECT_DATABASE_SIZE).fetchone()[0])

    def executions(self, query: ExecutionQuery) -> Rows:
        sql, params = list_executions_sql(query)
        return self.conn.execute(sql, params)
