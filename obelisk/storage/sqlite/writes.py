"""The write statements of the SQLite backend (``write_flow.WriteStatements``).

Synchronous, on aiosqlite's worker thread, inside the transaction the group commit opened with ``BEGIN IMMEDIATE``:
it holds the database's one write lock, so a state row needs no lock of its own and the due rows of
``lock_due`` are nobody else's. The order of a write and every rule are ``write_flow``'s and ``state_machine``'s.

SQL texts are module constants (or cached, for the few column sets of an ``UPDATE``) so that ``sqlite3``'s
statement cache, keyed by text, keeps them prepared. The hot queries name their partial index (``INDEXED BY``):
without ``ANALYZE`` statistics the planner may prefer a broader index and scan a whole execution's log on every
``JoinNext``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from obelisk.concepts.events import HISTORY_EVENT_TYPES
from obelisk.concepts.ids import ExecutionId
from obelisk.storage.held_writes import HoldingConnection, HoldingWrites, WriteHold
from obelisk.storage.multi_row import MultiRowInsert
from obelisk.storage.read_flow import ROW_COLUMNS, Rows
from obelisk.storage.row_cache import RowCache
from obelisk.storage.sqlite.reads import SqliteReads
from obelisk.storage.write_flow import EVENT_COLUMNS, INSERT_COLUMNS, MUTABLE_COLUMNS, RESPONSE_COLUMNS

_HISTORY_TYPE_NAMES = tuple(t.__name__ for t in HISTORY_EVENT_TYPES)


_INSERT_EVENTS = MultiRowInsert("INSERT INTO execution_log", EVENT_COLUMNS, "?", max_rows=64)
"""Log rows (6 parameters each: 64 rows far below SQLite's limit of 32,766 parameters)."""
_INSERT_STATES = MultiRowInsert(
    "INSERT INTO execution_state", INSERT_COLUMNS, "?", tail=" ON CONFLICT (execution_id) DO NOTHING", max_rows=256
)
"""New executions, an existing one skipped (24 parameters each)."""
_INSERT_RESPONSES = MultiRowInsert("INSERT OR IGNORE INTO join_set_response", RESPONSE_COLUMNS, "?", max_rows=512)
"""Responses in arrival order, their ids drawn in that order; a duplicate skipped (6 parameters each)."""
_NTH_RESPONSE_TIME = (
    # One statement: the JoinNext events already on the join set are counted as the offset.
    "SELECT created_at FROM join_set_response WHERE execution_id = ? AND join_set_id = ? ORDER BY id LIMIT 1"
    " OFFSET (SELECT count(*) FROM execution_log INDEXED BY execution_log_join_next"
    " WHERE execution_id = ? AND join_set_id = ? AND event_type = 'JoinNext') + ?"
)
_INSERT_DELAY = (
    "INSERT INTO delay (execution_id, join_set_id, delay_id, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_DELETE_DELAY = "DELETE FROM delay WHERE execution_id = ? AND join_set_id = ? AND delay_id = ?"
_DELETE_DELAYS_OF = "DELETE FROM delay WHERE execution_id = ?"
_SELECT_DUE = (
    # The whole row and its Created event come along: one statement per ffqn for the commonest lock of all.
    f"SELECT s.execution_id, {', '.join('s.' + c.strip() for c in ROW_COLUMNS.split(','))}, l.json"
    " FROM execution_state AS s INDEXED BY execution_state_pending"
    " JOIN execution_log AS l ON l.execution_id = s.execution_id AND l.version = 0"
    " WHERE s.state = 'PendingAt' AND NOT s.paused AND s.ffqn = ? AND s.pending_expires_finished <= ?"
    " ORDER BY s.pending_expires_finished LIMIT ?"
)
_DUE_ORDER = 5
"""Where ``pending_expires_finished`` is in a row of ``_SELECT_DUE``."""
_SELECT_ROW = f"SELECT {ROW_COLUMNS} FROM execution_state WHERE execution_id = ?"
_SELECT_HISTORY = (
    "SELECT version, created_at, json FROM execution_log WHERE execution_id = ?"
    f" AND event_type IN ({', '.join(repr(n) for n in _HISTORY_TYPE_NAMES)}) ORDER BY version"
)

_update_texts: dict[tuple[str, ...], str] = {}
_select_due_texts: dict[int, str] = {}


def _select_due_sql(ffqns: int) -> str:
    """``_SELECT_DUE`` for each of ``ffqns`` FFQNs in one statement (each part still walks its own index range, in
    order, up to its limit); cached per count."""
    sql = _select_due_texts.get(ffqns)
    if sql is None:
        sql = " UNION ALL ".join([f"SELECT * FROM ({_SELECT_DUE})"] * ffqns)
        _select_due_texts[ffqns] = sql
    return sql


_select_rows_texts: dict[int, str] = {}


def _select_rows_sql(count: int) -> str:
    sql = _select_rows_texts.get(count)
    if sql is None:
        sql = (
            f"SELECT execution_id, {ROW_COLUMNS} FROM execution_state WHERE execution_id IN ({', '.join('?' * count)})"
        )
        _select_rows_texts[count] = sql
    return sql


INDEXED_MUTABLE_COLUMNS = frozenset({"state", "pending_expires_finished", "executor_id", "result_kind", "paused"})
"""The columns of ``MUTABLE_COLUMNS`` that an index of ``execution_state`` covers or filters on (migrations
0001-0005): an ``UPDATE`` naming one of them rewrites those indexes' entries of every row it updates."""
_merged_update_texts: dict[tuple[tuple[str, ...], int], str] = {}


def _merged_update_sql(columns: tuple[str, ...], rows: int) -> str:
    """One ``UPDATE`` of ``rows`` rows, each column taking the value of its row (``CASE execution_id``), each row
    only at its version and response count; cached per column set and row count."""
    key = (columns, rows)
    sql = _merged_update_texts.get(key)
    if sql is None:
        per_row = "CASE execution_id" + " WHEN ? THEN ?" * rows + " END"
        sql = (
            f"UPDATE execution_state SET {', '.join(f'{c} = {per_row}' for c in columns)}"
            f" WHERE execution_id IN ({', '.join('?' * rows)})"
            f" AND next_version = {per_row} AND response_count = {per_row}"
        )
        _merged_update_texts[key] = sql
    return sql


def _update_sql(columns: tuple[str, ...]) -> str:
    """``UPDATE`` of only the changed columns: SQLite rewrites every index that covers a column in the SET list,
    whether its value changed or not, and each rewritten index page is one more WAL frame to commit. The few
    column sets that occur are cached so their texts stay in the statement cache. The row must still be at the
    version and response count it was read or known at (``row_cache``)."""
    sql = _update_texts.get(columns)
    if sql is None:
        sql = (
            f"UPDATE execution_state SET {', '.join(c + ' = ?' for c in columns)}"
            " WHERE execution_id = ? AND next_version = ? AND response_count = ?"
        )
        _update_texts[columns] = sql
    return sql


class SqliteWrites(SqliteReads, HoldingWrites):
    """``write_flow.WriteStatements`` on the one ``sqlite3.Connection``; within a group commit's optimistic path,
    the hot writes are held to the group's end (``held_writes``)."""

    __slots__ = ("hold", "known_rows", "raw")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.hold = WriteHold(self, len(INSERT_COLUMNS) - len(MUTABLE_COLUMNS))
        super().__init__(HoldingConnection(conn, self.hold))
        self.raw = conn
        """The connection itself: what the held writes are written through."""
        self.known_rows = RowCache()

    def state_row_for_update(self, execution_id: ExecutionId) -> tuple[Any, ...] | None:
        # The transaction holds the database's write lock: reading the row is enough.
        found: tuple[Any, ...] | None = self.conn.execute(_SELECT_ROW, (execution_id,)).fetchone()
        return found

    def state_rows_for_update(self, execution_ids: list[ExecutionId]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self.conn.execute(_select_rows_sql(len(execution_ids)), execution_ids).fetchall()
        return rows

    def insert_states_now(self, rows: list[tuple[Any, ...]]) -> int:
        return _INSERT_STATES.run(self.raw.execute, rows)

    def update_states_now(self, updates: list[tuple[ExecutionId, tuple[Any, ...], tuple[Any, ...]]]) -> bool:
        # Rows whose changed indexed columns are the same share one statement: naming a column another row
        # changed costs nothing unless an index covers it (then every row's entry in that index is rewritten).
        groups: dict[frozenset[str], list[tuple[ExecutionId, tuple[Any, ...], tuple[Any, ...], set[int]]]] = {}
        for execution_id, values, loaded in updates:
            changed = {i for i, (a, b) in enumerate(zip(values, loaded, strict=True)) if a != b}
            indexed = frozenset(MUTABLE_COLUMNS[i] for i in changed) & INDEXED_MUTABLE_COLUMNS
            groups.setdefault(indexed, []).append((execution_id, values, loaded, changed))
        for group in groups.values():
            if len(group) == 1:
                execution_id, values, loaded, changed = group[0]
                order = sorted(changed)
                sql = _update_sql(tuple(MUTABLE_COLUMNS[i] for i in order))
                params: list[Any] = [*(values[i] for i in order), execution_id, loaded[0], loaded[1]]
            else:
                order = sorted(set().union(*(changed for _, _, _, changed in group)))
                sql = _merged_update_sql(tuple(MUTABLE_COLUMNS[i] for i in order), len(group))
                params = [p for i in order for row in group for p in (row[0], row[1][i])]
                params += [row[0] for row in group]
                params += [p for at in (0, 1) for row in group for p in (row[0], row[2][at])]
            if self.raw.execute(sql, params).rowcount != len(group):
                return False
        return True

    def insert_events_now(self, rows: list[tuple[Any, ...]]) -> None:
        _INSERT_EVENTS.run(self.raw.execute, rows)

    def nth_response_time(self, execution_id: ExecutionId, join_set_id: str, earlier_in_batch: int) -> int | None:
        found = self.conn.execute(
            _NTH_RESPONSE_TIME, (execution_id, join_set_id, execution_id, join_set_id, earlier_in_batch)
        ).fetchone()
        return None if found is None else int(found[0])

    def insert_responses_now(self, rows: list[tuple[Any, ...]]) -> int:
        return _INSERT_RESPONSES.run(self.raw.execute, rows)

    def insert_delay(self, execution_id: ExecutionId, join_set_id: str, delay_id: str, expires_at: int) -> bool:
        return self.conn.execute(_INSERT_DELAY, (execution_id, join_set_id, delay_id, expires_at)).rowcount != 0

    def delete_delay(self, execution_id: ExecutionId, join_set_id: str, delay_id: str) -> None:
        self.conn.execute(_DELETE_DELAY, (execution_id, join_set_id, delay_id))

    def delete_delays_of(self, execution_id: ExecutionId) -> None:
        self.conn.execute(_DELETE_DELAYS_OF, (execution_id,))

    def lock_due(self, ffqns: list[str], now: int, batch_size: int) -> list[tuple[Any, ...]]:
        if not ffqns:
            return []
        params = [value for ffqn in ffqns for value in (ffqn, now, batch_size)]
        candidates: list[tuple[Any, ...]] = self.conn.execute(_select_due_sql(len(ffqns)), params).fetchall()
        candidates.sort(key=lambda found: (found[_DUE_ORDER], found[0]))  # oldest first over all ffqns
        return candidates[:batch_size]

    def history(self, execution_id: ExecutionId) -> Rows:
        return self.conn.execute(_SELECT_HISTORY, (execution_id,))
