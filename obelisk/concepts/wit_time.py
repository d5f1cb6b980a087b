"""The JSON of ``obelisk:types/time`` values (docs/compatibility.md#values) as the engine's own types.

``duration`` is ``{"milliseconds": n}`` / ``{"seconds": n}`` / ``{"minutes": n}`` / ``{"hours": n}`` /
``{"days": n}``; ``schedule-at`` is ``"now"``, ``{"at": {"seconds": s, "nanoseconds": ns}}`` or ``{"in": duration}``.
Values arriving here were type-checked against the WIT types already, so only their meaning is decoded.
"""

from __future__ import annotations

from typing import Any

from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.events import ScheduleAt, ScheduleAtTime, ScheduleIn, ScheduleNow

_MICROS_PER_UNIT = {
    "milliseconds": 1_000,
    "seconds": 1_000_000,
    "minutes": 60_000_000,
    "hours": 3_600_000_000,
    "days": 86_400_000_000,
}


MAX_TIME_US = 2**62
"""The longest duration and the latest time (microseconds since the Unix epoch) accepted, about 146,000 years:
the WIT types allow far more (``u64`` days), but every time is stored as a signed 64-bit count of microseconds,
and a duration added to the current time must stay within it."""


class TimeValueError(ObeliskError):
    pass


def duration_us_from_json(value: Any) -> int:
    if isinstance(value, dict) and len(value) == 1:
        ((unit, amount),) = value.items()
        factor = _MICROS_PER_UNIT.get(unit)
        if factor is not None and isinstance(amount, int) and amount >= 0:
            return _within_range(amount * factor, f"duration {value!r}")
    raise TimeValueError(f"invalid duration {value!r}: expected one of {sorted(_MICROS_PER_UNIT)} with a count")


def datetime_us_from_json(value: Any) -> int:
    if isinstance(value, dict) and set(value) == {"seconds", "nanoseconds"}:
        return _within_range(
            int(value["seconds"]) * 1_000_000 + int(value["nanoseconds"]) // 1_000, f"datetime {value!r}"
        )
    raise TimeValueError(f"invalid datetime {value!r}: expected {{seconds, nanoseconds}}")


def _within_range(micros: int, what: str) -> int:
    if micros > MAX_TIME_US:
        raise TimeValueError(
            f"invalid {what}: beyond what this host can hold (at most {MAX_TIME_US} microseconds, about 146,000 years)"
        )
    return micros


def schedule_at_from_json(value: Any) -> ScheduleAt:
    if value == "now":
        return ScheduleNow()
    if isinstance(value, dict) and len(value) == 1:
        if "at" in value:
            return ScheduleAtTime(datetime_us_from_json(value["at"]))
        if "in" in value:
            return ScheduleIn(duration_us_from_json(value["in"]))
    raise TimeValueError(f'invalid schedule-at {value!r}: expected "now", {{"at": datetime}} or {{"in": duration}}')
