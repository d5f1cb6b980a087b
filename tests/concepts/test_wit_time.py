"""Decoding ``obelisk:types/time`` values: what the WIT types allow but the engine cannot hold is refused by name."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from obelisk.concepts.events import ScheduleAtTime, ScheduleIn, ScheduleNow
from obelisk.concepts.wit_time import (
    MAX_TIME_US,
    TimeValueError,
    datetime_us_from_json,
    duration_us_from_json,
    schedule_at_from_json,
)

U64_MAX = 2**64 - 1


def test_durations_and_datetimes_decode_to_microseconds() -> None:
    assert duration_us_from_json({"milliseconds": 1500}) == 1_500_000
    assert duration_us_from_json({"days": 2}) == 2 * 86_400_000_000
    assert datetime_us_from_json({"seconds": 3, "nanoseconds": 4_000}) == 3_000_004
    assert schedule_at_from_json("now") == ScheduleNow()
    assert schedule_at_from_json({"in": {"seconds": 1}}) == ScheduleIn(1_000_000)
    assert schedule_at_from_json({"at": {"seconds": 1, "nanoseconds": 0}}) == ScheduleAtTime(1_000_000)


def test_the_longest_duration_still_fits_after_now() -> None:
    longest_ms = MAX_TIME_US // 1_000
    assert duration_us_from_json({"milliseconds": longest_ms}) == longest_ms * 1_000
    with pytest.raises(TimeValueError):
        duration_us_from_json({"milliseconds": longest_ms + 1})
    far_future_now = 2**61  # about 73,000 years from 1970
    assert far_future_now + MAX_TIME_US < 2**63  # a signed 64-bit count of microseconds


@pytest.mark.parametrize(
    "decode",
    [
        lambda: duration_us_from_json({"days": U64_MAX}),
        lambda: duration_us_from_json({"milliseconds": U64_MAX}),
        lambda: datetime_us_from_json({"seconds": U64_MAX, "nanoseconds": 0}),
        lambda: schedule_at_from_json({"in": {"hours": U64_MAX}}),
    ],
)
def test_values_beyond_what_can_be_stored_are_refused_naming_them(decode: Callable[[], object]) -> None:
    with pytest.raises(TimeValueError, match=r"invalid (duration|datetime) \{.*18446744073709551615.*beyond what"):
        decode()
