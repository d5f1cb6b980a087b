"""The write statements of the PostgreSQL backend (``write_flow.WriteStatements``).

Synchronous, on the writer connection's thread, inside the transaction the group commit opened. The order of a
write and every rule are ``write_flow``'s and ``state_machine``'s; what is PostgreSQL's is how several servers
writing one database at once, under READ COMMITTED, are kept apart:

* every state row is read ``FOR UPDATE`` before the rules check its version, so a second server's append waits
  for the first one's commit, then sees its version and fails with ``VersionMismatch``;
* a creation inserts the state row ``ON CONFLICT DO NOTHING``: the second of two racing creations waits for the
  first, inserts nothing and fails with ``ExecutionAlreadyExists``;
* where one statement locks several rows (a group's held updates, a job's rows read ahead), it locks them in id
  order, which takes an execution before its descendants (a child's id extends its parent's), as a cancel walking
  a tree down does: two servers taking the same rows do not wait for each other in a cycle that way;
* ``lock_due`` selects due rows ``FOR UPDATE SKIP LOCKED``: a row another server is locking is skipped, not
  waited for, so each execution is locked by exactly one of them;
* a response is stored while its execution's row is held, so response ids grow in commit order per execution,
  and a second delivery of the same response (two servers' timer watchers) is ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from typing import Any

import psycopg

from obelisk.concepts.events import HISTORY_EVENT_TYPES
from obelisk.concepts.ids import ExecutionId
from obelisk.storage.held_writes import HoldingConnection, HoldingWrites, WriteHold
from obelisk.storage.multi_row import NUMBERED, MultiRowInsert
from obelisk.storage.postgres.reads import Connection, PostgresReads
from obelisk.storage.read_flow import ROW_COLUMNS, Rows
from obelisk.storage.row_cache import RowCache
from obelisk.storage.write_flow import EVENT_COLUMNS, INSERT_COLUMNS, MUTABLE_COLUMNS, RESPONSE_COLUMNS

__all__ = ["Connection", "PostgresWrites"]

_HISTORY_TYPE_NAMES = [t.__name__ for t in HISTORY_EVENT_TYPES]


_SELECT_ROW_FOR_UPDATE = f"SELECT {ROW_COLUMNS} FROM execution_state WHERE execution_id = %s FOR UPDATE"
_SELECT_ROWS_FOR_UPDATE = (
    # Locked in the order every multi-row lock takes (``_LOCK_ROWS``), whatever order the caller names them in.
    f"SELECT execution_id, {ROW_COLUMNS} FROM execution_state WHERE execution_id = ANY(%s)"
    " ORDER BY execution_id FOR UPDATE"
)
_LOCK_ROWS = (
    # A child's id extends its parent's (``E_x.3`` under ``E_x``), so id order takes every ancestor before its
    # descendants: the order of a cancel, which walks the tree down from the execution it cancels.
    "SELECT 1 FROM execution_state WHERE execution_id = ANY(%s) ORDER BY execution_id FOR UPDATE"
)
_UPDATE_ROW = (
    # The row must still be at the version and response count it was read or known at (``row_cache``).
    f"UPDATE execution_state SET {', '.join(c + ' = %s' for c in MUTABLE_COLUMNS)}"
    " WHERE execution_id = %s AND next_version = %s AND response_count = %s"
)
_SQL_TYPES = {
    "next_version": "bigint",
    "response_count": "bigint",
    "state": "text",
    "pending_expires_finished": "bigint",
    "join_set_id": "text",
    "join_set_closing": "integer",
    "executor_id": "text",
    "run_id": "text",
    "temporary_event_count": "integer",
    "result_kind": "text",
    "finished_at": "bigint",
    "pending_delays": "integer",
    "matched_responses": "integer",
    "paused": "boolean",
    "operator_versions": "integer",
}
_CASTS = [_SQL_TYPES[c] for c in MUTABLE_COLUMNS]
"""Each of ``MUTABLE_COLUMNS``' type, for the parameters of a ``VALUES`` list (typed text otherwise)."""
_merged_update_texts: dict[int, str] = {}


def _merged_update_sql(rows: int) -> str:
    """One ``UPDATE`` of ``rows`` rows from a ``VALUES`` list, each only at its version and response count: every
    column is written anyway (as by ``_UPDATE_ROW``), so several rows cost no more than one statement. Numbered
    placeholders, for the ``RawCursor`` (see ``multi_row``)."""
    sql = _merged_update_texts.get(rows)
    if sql is None:
        width = 3 + len(_CASTS)
        casts = ["", "::bigint", "::bigint", *(f"::{cast}" for cast in _CASTS)]
        values = ", ".join(
            "(" + ", ".join(f"${row * width + column + 1}{cast}" for column, cast in enumerate(casts)) + ")"
            for row in range(rows)
        )
        sql = (
            f"UPDATE execution_state AS s SET {', '.join(f'{c} = v.{c}' for c in MUTABLE_COLUMNS)}"
            f" FROM (VALUES {values})"
            f" AS v(execution_id, loaded_version, loaded_responses, {', '.join(MUTABLE_COLUMNS)})"
            " WHERE s.execution_id = v.execution_id AND s.next_version = v.loaded_version"
            " AND s.response_count = v.loaded_responses"
        )
        _merged_update_texts[rows] = sql
    return sql


_INSERT_EVENTS = MultiRowInsert("INSERT INTO execution_log", EVENT_COLUMNS, NUMBERED, max_rows=64)
"""Log rows (6 parameters each: 64 rows far below PostgreSQL's limit of 65,535 parameters)."""
_INSERT_STATES = MultiRowInsert(
    "INSERT INTO execution_state", INSERT_COLUMNS, NUMBERED, tail=" ON CONFLICT (execution_id) DO NOTHING", max_rows=256
)
"""New executions, an existing one skipped (24 parameters each)."""
_INSERT_RESPONSES = MultiRowInsert(
    "INSERT INTO join_set_response", RESPONSE_COLUMNS, NUMBERED, tail=" ON CONFLICT DO NOTHING", max_rows=512
)
"""Responses in arrival order, their ids drawn in the order of the list; a duplicate skipped (6 parameters each)."""
_INSERT_RESPONSE_HOLDING_ROW = (
    # Written at once (no hold), a job may know its execution's row without having locked it: the row is locked
    # first, by the same statement, so that two servers' deliveries of the same child's end (a cancel's and the
    # child's own) wait on the row, in the order every lock takes, never on each other's index entry first.
    "WITH held AS (SELECT 1 FROM execution_state WHERE execution_id = %s FOR UPDATE)"
    f" INSERT INTO join_set_response ({', '.join(RESPONSE_COLUMNS)})"
    " SELECT %s, %s, %s::bigint, %s, %s, %s FROM held ON CONFLICT DO NOTHING"
)
_NTH_RESPONSE_TIME = (
    "SELECT created_at FROM join_set_response WHERE execution_id = %s AND join_set_id = %s ORDER BY id"
    " LIMIT 1 OFFSET (SELECT count(*) FROM execution_log"
    " WHERE execution_id = %s AND join_set_id = %s AND event_type = 'JoinNext') + %s"
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
    " WHERE s.state = 'PendingAt' AND NOT s.paused AND s.ffqn = %s AND s.pending_expires_finished <= %s"
    " ORDER BY s.pending_expires_finished LIMIT %s FOR UPDATE OF s SKIP LOCKED"
)
_DUE_ORDER = 5
"""Where ``pending_expires_finished`` is in a row of ``_LOCK_DUE``."""
_SELECT_HISTORY = (
    "SELECT version, created_at, json FROM execution_log WHERE execution_id = %s AND event_type = ANY(%s)"
    " ORDER BY version"
)


class PostgresWrites(PostgresReads, HoldingWrites):
    """``write_flow.WriteStatements`` on the writer connection; within a group commit's optimistic path, the hot
    writes are held to the group's end (``held_writes``), which saves a round trip for each statement not sent."""

    __slots__ = ("hold", "known_rows", "numbered", "raw")

    def __init__(self, conn: Connection, known_rows: RowCache) -> None:
        self.hold = WriteHold(self, len(INSERT_COLUMNS) - len(MUTABLE_COLUMNS))
        super().__init__(HoldingConnection(conn, self.hold))
        self.raw = conn
        """The connection itself: what the held writes are written through."""
        self.numbered = psycopg.RawCursor(conn)
        """Runs the multi-row statements, whose texts use PostgreSQL's numbered placeholders (``multi_row``)."""
        self.known_rows = known_rows

    def state_row_for_update(self, execution_id: ExecutionId) -> tuple[Any, ...] | None:
        found: tuple[Any, ...] | None = self.conn.execute(_SELECT_ROW_FOR_UPDATE, (execution_id,)).fetchone()
        return found

    def state_rows_for_update(self, execution_ids: list[ExecutionId]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self.conn.execute(_SELECT_ROWS_FOR_UPDATE, (execution_ids,)).fetchall()
        return rows

    def insert_states_now(self, rows: list[tuple[Any, ...]]) -> int:
        return _INSERT_STATES.run(self.numbered.execute, rows)

    def update_states_now(self, updates: list[tuple[ExecutionId, tuple[Any, ...], tuple[Any, ...]]]) -> bool:
        if len(updates) == 1:
            ((execution_id, values, loaded),) = updates
            return self.raw.execute(_UPDATE_ROW, (*values, execution_id, loaded[0], loaded[1])).rowcount == 1
        # The batched UPDATE would lock its rows in whatever order its plan visits them; a cancel on another server
        # locking the same rows in another order would make one of the two a deadlock victim.
        self.raw.execute(_LOCK_ROWS, ([execution_id for execution_id, _, _ in updates],))
        params = [p for execution_id, values, loaded in updates for p in (execution_id, loaded[0], loaded[1], *values)]
        return self.numbered.execute(_merged_update_sql(len(updates)), params).rowcount == len(updates)

    def insert_events_now(self, rows: list[tuple[Any, ...]]) -> None:
        _INSERT_EVENTS.run(self.numbered.execute, rows)

    def nth_response_time(self, execution_id: ExecutionId, join_set_id: str, earlier_in_batch: int) -> int | None:
        found = self.conn.execute(
            _NTH_RESPONSE_TIME, (execution_id, join_set_id, execution_id, join_set_id, earlier_in_batch)
        ).fetchone()
        return None if found is None else int(found[0])

    def insert_responses_now(self, rows: list[tuple[Any, ...]]) -> int:
        return _INSERT_RESPONSES.run(self.numbered.execute, rows)

    def insert_response_now(self, values: tuple[Any, ...]) -> bool:
        # Held, a response is written at the group's end, after its rows were locked; at once, the row may be known
        # rather than locked (``_INSERT_RESPONSE_HOLDING_ROW``).
        return bool(self.raw.execute(_INSERT_RESPONSE_HOLDING_ROW, (values[0], *values)).rowcount == 1)

    def insert_delay(self, execution_id: ExecutionId, join_set_id: str, delay_id: str, expires_at: int) -> bool:
        return self.conn.execute(_INSERT_DELAY, (execution_id, join_set_id, delay_id, expires_at)).rowcount != 0

    def delete_delay(self, execution_id: ExecutionId, join_set_id: str, delay_id: str) -> None:
        self.conn.execute(_DELETE_DELAY, (execution_id, join_set_id, delay_id))

    def delete_delays_of(self, execution_id: ExecutionId) -> None:
        self.conn.execute(_DELETE_DELAYS_OF, (execution_id,))

    def lock_due(self, ffqns: list[str], now: int, batch_size: int) -> list[tuple[Any, ...]]:
        candidates: list[tuple[Any, ...]] = []
        for ffqn in ffqns:
            candidates.extend(self.conn.execute(_LOCK_DUE, (ffqn, now, batch_size)).fetchall())
        # Oldest first over all ffqns; rows beyond the batch stay locked only until this transaction ends.
        candidates.sort(key=lambda found: (found[_DUE_ORDER], found[0]))
        return candidates[:batch_size]

    def history(self, execution_id: ExecutionId) -> Rows:
        return self.conn.execute(_SELECT_HISTORY, (execution_id, _HISTORY_TYPE_NAMES))
