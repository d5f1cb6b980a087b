"""One ``INSERT`` of many rows, the same on both backends but for their placeholders and conflict clauses.

A group commit inserts the log rows, the new executions and the responses of all its jobs at once
(``held_writes``): one statement per table instead of one per job. The text of each row count is built once and
cached, so that the driver's statement cache (``sqlite3``'s, keyed by text; psycopg's, by repetition) keeps it
prepared; past ``max_rows`` the rows go in several statements, within every database's parameter limit.

On PostgreSQL the texts use numbered placeholders (``$1``) and run on psycopg's ``RawCursor``: psycopg parses a
``%s`` text with more than 50 parameters again on every execution (its cache skips those), ~100 µs of the
database thread for a dozen log rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

NUMBERED = "$n"
"""The placeholder argument for PostgreSQL's numbered parameters."""


class MultiRowInsert:
    """``{head} VALUES (row), (row), ... {tail}`` for any number of rows."""

    __slots__ = ("_columns", "_head", "_max_rows", "_row", "_tail", "_texts")

    def __init__(self, head: str, columns: Sequence[str], placeholder: str, *, tail: str = "", max_rows: int) -> None:
        """``head`` up to the column list (``INSERT INTO t``), ``placeholder`` the driver's (``?``), or ``$n``:
        PostgreSQL's own numbered ones (``$1``, ``$2``, ...), which psycopg's ``RawCursor`` passes on unparsed."""
        self._head = f"{head} ({', '.join(columns)}) VALUES "
        self._columns = len(columns)
        self._row = "" if placeholder == NUMBERED else f"({', '.join(placeholder for _ in columns)})"
        self._tail = tail
        self._max_rows = max_rows
        self._texts: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        text = self._texts.get(rows)
        if text is None:
            if self._row:
                values = ", ".join([self._row] * rows)
            else:
                width = self._columns
                values = ", ".join(
                    f"({', '.join(f'${row * width + column}' for column in range(1, width + 1))})"
                    for row in range(rows)
                )
            text = self._texts[rows] = self._head + values + self._tail
        return text

    def run(self, execute: Callable[[str, list[Any]], Any], rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert ``rows`` in as few statements as ``max_rows`` allows; how many rows the database inserted (one a
        conflict clause skipped is not counted)."""
        inserted = 0
        for start in range(0, len(rows), self._max_rows):
            chunk = rows[start : start + self._max_rows]
            inserted += execute(self.sql(len(chunk)), [value for row in chunk for value in row]).rowcount
        return inserted
