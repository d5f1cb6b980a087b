"""One ``INSERT`` of many rows, the same on both backends but for their placeholders and conflict clauses.

A group commit inserts the log rows, the new executions and the responses of all its jobs at once
(``held_writes``): one statement per table instead of one per job. The text of each row count is built once and
cached, so that the driver's statement cache (``sqlite3``'s, keyed by text; psycopg's, by repetition) keeps it
prepared; past ``max_rows`` the rows go in several statements, within every database's parameter limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class MultiRowInsert:
    """``{head} VALUES (row), (row), ... {tail}`` for any number of rows."""

    __slots__ = ("_head", "_max_rows", "_row", "_tail", "_texts")

    def __init__(self, head: str, columns: Sequence[str], placeholder: str, *, tail: str = "", max_rows: int) -> None:
        """``head`` up to the column list (``INSERT INTO t``), ``placeholder`` the driver's (``?``, ``%s``)."""
        self._head = f"{head} ({', '.join(columns)}) VALUES "
        self._row = f"({', '.join(placeholder for _ in columns)})"
        self._tail = tail
        self._max_rows = max_rows
        self._texts: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        text = self._texts.get(rows)
        if text is None:
            text = self._texts[rows] = self._head + ", ".join([self._row] * rows) + self._tail
        return text

    def run(self, execute: Callable[[str, list[Any]], Any], rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert ``rows`` in as few statements as ``max_rows`` allows; how many rows the database inserted (one a
        conflict clause skipped is not counted)."""
        inserted = 0
        for start in range(0, len(rows), self._max_rows):
            chunk = rows[start : start + self._max_rows]
            inserted += execute(self.sql(len(chunk)), [value for row in chunk for value in row]).rowcount
        return inserted
