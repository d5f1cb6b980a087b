"""What ``[otlp] level`` selects: which spans are exported.

The original filters its ``tracing`` spans with this string (``info,app=trace``). Here every span describes the
applications' executions, so all of them are of the ``app`` target and the level that filter gives ``app`` decides
(the default directive when there is no ``app=`` one; other targets' directives select nothing here):

* ``info`` or finer: a span per execution and per run (attempt);
* ``debug`` or finer: also a span per host call that matters (a child submitted, a sleep, an outbound HTTP request);
* ``warn``, ``error``, ``off``: no spans at all.

The default ``info,app=trace`` therefore exports everything.
"""

from __future__ import annotations

import enum
import logging

from obelisk.config.log_levels import GUEST_LOGGER, parse_level_filter


class SpanDetail(enum.Enum):
    NONE = "none"
    RUNS = "runs"
    """Executions and their runs."""
    HOST_CALLS = "host_calls"
    """Executions, runs and host calls."""


def span_detail(level: str) -> SpanDetail:
    """``ValueError`` (from the filter parser) for a string that is not a level filter."""
    threshold = parse_level_filter(level).threshold(GUEST_LOGGER)  # the ``app`` target's level
    if threshold <= logging.DEBUG:
        return SpanDetail.HOST_CALLS
    if threshold <= logging.INFO:
        return SpanDetail.RUNS
    return SpanDetail.NONE
