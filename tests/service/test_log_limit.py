"""At most one line per kind of refusal per interval; the next line counts what was left out."""

from __future__ import annotations

import logging

import pytest

from obelisk.service.log_limit import LogLimit


def test_one_line_per_kind_and_interval_and_the_next_line_counts_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limit = LogLimit(logging.getLogger("test.log_limit"), interval_seconds=10.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, "test.log_limit")
    for _ in range(5_000):
        limit.log(logging.INFO, "Submit", "%s refused: %s", "Submit", "garbage")
    limit.log(logging.INFO, "GetStatus", "%s refused", "GetStatus")
    now[0] = 10.0
    limit.log(logging.INFO, "Submit", "%s refused: %s", "Submit", "garbage")
    limit.log(logging.INFO, "Submit", "%s refused: %s", "Submit", "garbage")
    now[0] = 25.0
    limit.log(logging.INFO, "Submit", "%s refused: %s", "Submit", "garbage")
    assert [r.getMessage() for r in caplog.records] == [
        "Submit refused: garbage",
        "GetStatus refused",
        "Submit refused: garbage (and 4999 more like it since the last such line)",
        "Submit refused: garbage (and 1 more like it since the last such line)",
    ]
