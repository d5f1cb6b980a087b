"""The guest-log statements every SQL backend runs the same way (``Storage.append_logs`` and ``list_logs``).

Written in SQL both backends accept, with ``?`` placeholders; a backend hands in an ``Execute`` that runs one
statement on its connection (PostgreSQL's rewrites the placeholders) inside a transaction of the backend's
(``SqlStorage._logs_transaction``): log lines never share a transaction with an execution's events, so that a
guest printing much costs its workflow's writes nothing.

The bound per execution is kept with a counter row (``guest_log_count``: lines kept, lines dropped), so that
trimming needs no ``COUNT(*)`` over the execution's lines: only when ``kept`` passes the bound are the oldest
deleted, by cursor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from obelisk.concepts.guest_logs import LogKind, LogLine, LogPage, StoredLogLine
from obelisk.concepts.ids import ExecutionId
from obelisk.storage.interface import ExecutionNotFound, StorageError


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> Iterable[Any]: ...


Execute = Callable[[str, Sequence[Any]], Cursor]

_INSERT_LINE = "INSERT INTO guest_log (execution_id, run_id, created_at, kind, message) VALUES (?, ?, ?, ?, ?)"
_ADD_COUNTS = (
    "INSERT INTO guest_log_count (execution_id, kept, dropped) VALUES (?, ?, ?)"
    " ON CONFLICT (execution_id) DO UPDATE SET kept = guest_log_count.kept + excluded.kept,"
    " dropped = guest_log_count.dropped + excluded.dropped"
    " RETURNING kept"
)
_DELETE_OLDEST = (
    "DELETE FROM guest_log WHERE id IN (SELECT id FROM guest_log WHERE execution_id = ? ORDER BY id LIMIT ?)"
)
_TRIM_COUNTS = "UPDATE guest_log_count SET kept = kept - ?, dropped = dropped + ? WHERE execution_id = ?"
_SELECT_LINES = (
    "SELECT id, run_id, created_at, kind, message FROM guest_log WHERE execution_id = ? AND id > ? ORDER BY id LIMIT ?"
)
_SELECT_DROPPED = "SELECT dropped FROM guest_log_count WHERE execution_id = ?"
_EXISTS = "SELECT 1 FROM execution_state WHERE execution_id = ?"


def append_logs(execute: Execute, lines: Sequence[LogLine], dropped: Mapping[ExecutionId, int], keep: int) -> None:
    if keep < 1:
        raise StorageError(f"keep: expected at least 1 line per execution, got {keep}")
    added: Counter[ExecutionId] = Counter()
    for line in lines:
        execute(_INSERT_LINE, (line.execution_id, line.run_id, line.created_at, line.kind.value, line.message))
        added[line.execution_id] += 1
    for execution_id in sorted(set(added) | {e for e, n in dropped.items() if n > 0}):
        (kept,) = execute(_ADD_COUNTS, (execution_id, added[execution_id], dropped.get(execution_id, 0))).fetchone()
        excess = int(kept) - keep
        if excess > 0:
            execute(_DELETE_OLDEST, (execution_id, excess))
            execute(_TRIM_COUNTS, (excess, excess, execution_id))


def list_logs(execute: Execute, execution_id: ExecutionId, after: int, length: int) -> LogPage:
    rows = list(execute(_SELECT_LINES, (execution_id, after, length)).fetchall())
    counted = execute(_SELECT_DROPPED, (execution_id,)).fetchone()
    if not rows and counted is None and execute(_EXISTS, (execution_id,)).fetchone() is None:
        raise ExecutionNotFound(execution_id)
    lines = [
        StoredLogLine(int(cursor), LogLine(execution_id, run_id, int(created_at), LogKind(kind), message))
        for cursor, run_id, created_at, kind, message in rows
    ]
    return LogPage(lines, 0 if counted is None else int(counted[0]))
