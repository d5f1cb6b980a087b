"""Listing cursors as they appear in URLs: ``<created_at µs>-<execution id>``.

Readable on purpose (a person can see which execution a link pages from); a malformed one is a ``BadCursor``,
which the UI answers with a 400 page rather than an empty list.
"""

from __future__ import annotations

from obelisk.concepts.errors import ObeliskError, ParseError
from obelisk.concepts.ids import ExecutionId


class BadCursor(ObeliskError):
    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"malformed cursor {text!r}: {reason}; expected <created_at microseconds>-<execution id>")
        self.text = text


_MAX_CURSOR_CHARS = 400
MAX_CURSOR_MICROS = 253_402_300_799_999_999
"""The last microsecond of the year 9999 (the end of protobuf's ``Timestamp`` range); later times are malformed
rather than an overflow of the database's 64-bit integers."""


def encode_cursor(created_at: int, execution_id: ExecutionId) -> str:
    return f"{created_at}-{execution_id}"


def decode_cursor(text: str) -> tuple[int, ExecutionId]:
    if len(text) > _MAX_CURSOR_CHARS:
        raise BadCursor(text[:40] + "…", "too long")
    micros, sep, raw_id = text.partition("-")
    if not sep or not micros.isascii() or not micros.isdigit():
        raise BadCursor(text, "it does not start with a number of microseconds")
    if len(micros) > len(str(MAX_CURSOR_MICROS)) or int(micros) > MAX_CURSOR_MICROS:
        raise BadCursor(text, f"the time is past {MAX_CURSOR_MICROS} microseconds (the year 9999)")
    try:
        execution_id = ExecutionId.parse(raw_id)
    except ParseError as e:
        raise BadCursor(text, str(e)) from None
    return int(micros), execution_id
