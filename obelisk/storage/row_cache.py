"""The state rows the writer itself last wrote, so that the next job touching them need not read them back.

A serial workflow step touches rows its own writer wrote one job earlier: the parent it updated, the inline
child it created. Reading them again was one ``SELECT`` per step. Here each job's stored rows are noted
(``stage``), become known when the transaction commits (``commit``) and are forgotten when it, or a job in it,
rolls back (``discard_staged``).

Nothing relies on a known row being current: another process sharing the SQLite file, another server on the
same PostgreSQL database, or a cancel may have changed it meanwhile. A row taken from here is written back with
an ``UPDATE`` whose ``WHERE`` also names the version and response count it was known at (every change of a row
changes one of them); when that matches no row, or when the rules refuse the job on a known row, the job fails
with ``StaleRow``, which the group commit treats as a conflict: it runs the job again, with every row read. So a
stale entry costs a rerun, never a wrong write or a wrong refusal.
"""

from __future__ import annotations

from typing import Any

from obelisk.concepts.ids import ExecutionId
from obelisk.storage.interface import StorageError

MAX_KNOWN_ROWS = 4096
"""Rows kept at most; past it the cache starts empty again (a run's own rows come back after one job)."""


class StaleRow(StorageError):
    """A row known to the writer had changed in the database: the job is run again with its rows read."""

    def __init__(self, execution_id: ExecutionId) -> None:
        super().__init__(f"the state row of execution {execution_id} changed since this writer last wrote it")
        self.execution_id = execution_id


class RowCache:
    """Known rows (``ROW_COLUMNS`` values) by execution; used only on the writer's thread."""

    __slots__ = ("_known", "_staged")

    def __init__(self) -> None:
        self._known: dict[ExecutionId, tuple[Any, ...]] = {}
        self._staged: dict[ExecutionId, tuple[Any, ...] | None] = {}

    def get(self, execution_id: ExecutionId) -> tuple[Any, ...] | None:
        if execution_id in self._staged:
            return self._staged[execution_id]
        return self._known.get(execution_id)

    def stage(self, execution_id: ExecutionId, values: tuple[Any, ...] | None) -> None:
        """The row as this transaction leaves it (``None``: not worth keeping, e.g. finished)."""
        self._staged[execution_id] = values

    def commit(self) -> None:
        known = self._known
        if len(known) + len(self._staged) > MAX_KNOWN_ROWS:
            known.clear()
        for execution_id, values in self._staged.items():
            if values is None:
                known.pop(execution_id, None)
            else:
                known[execution_id] = values
        self._staged.clear()

    def discard_staged(self) -> None:
        """A job or the transaction rolled back: forget every row this transaction staged, also as known before
        (what the rolled-back jobs read or wrote is not worth trusting)."""
        for execution_id in self._staged:
            self._known.pop(execution_id, None)
        self._staged.clear()

    def forget(self, execution_id: ExecutionId) -> None:
        self._known.pop(execution_id, None)
        self._staged.pop(execution_id, None)

    def clear(self) -> None:
        self._known.clear()
        self._staged.clear()
