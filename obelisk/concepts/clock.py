"""Time as integer UTC microseconds, and an injectable clock.

Integers sort and compare cheaply in SQLite and never suffer from text-format drift; they are rendered as
RFC 3339 only at the edges.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

MICROS_PER_SECOND = 1_000_000
MICROS_PER_MILLI = 1_000


class Clock(Protocol):
    def now_us(self) -> int: ...


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1_000


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, now_us: int = 1_700_000_000 * MICROS_PER_SECOND) -> None:
        self._now_us = now_us

    def now_us(self) -> int:
        return self._now_us

    def advance(self, delta: timedelta) -> None:
        self._now_us += to_micros(delta)


def to_micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * MICROS_PER_SECOND + delta.microseconds


def us_to_datetime(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def datetime_to_us(value: datetime) -> int:
    if value.tzinfo is None:
        raise ValueError("naive datetime: a timezone is required")
    return to_micros(value - datetime(1970, 1, 1, tzinfo=UTC))


def format_rfc3339(micros: int) -> str:
    return us_to_datetime(micros).isoformat().replace("+00:00", "Z")
