"""At most one log line per kind of refused request per interval, so that a flood of them cannot fill the log.

A client sending 5,000 undecodable requests, or 1,000 submissions meeting a full disk, is one story for the
operator: the first line says what happened, the next (an interval later, if it goes on) how many more there were.
Used by the faces (gRPC API, web UI) for client errors and storage faults; bugs are still logged in full.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_INTERVAL_SECONDS = 10.0


@dataclass(slots=True)
class _Seen:
    logged_at: float
    left_out: int = 0


class LogLimit:
    def __init__(
        self,
        logger: logging.Logger,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval_seconds
        self._clock = clock
        self._seen: dict[str, _Seen] = {}
        """Keyed by kind (method and error class): a bounded set, as methods and error classes are."""

    def log(self, level: int, kind: str, message: str, *args: object) -> None:
        """Log ``message % args`` unless a line of this ``kind`` was logged less than an interval ago."""
        now = self._clock()
        seen = self._seen.get(kind)
        if seen is not None and now - seen.logged_at < self._interval:
            seen.left_out += 1
            return
        self._seen[kind] = _Seen(now)
        if seen is not None and seen.left_out:
            message += " (and %d more like it since the last such line)"
            args = (*args, seen.left_out)
        self._logger.log(level, message, *args)
