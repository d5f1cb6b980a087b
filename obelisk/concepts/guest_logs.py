"""What a guest logged (``obelisk:log``) and printed (stdout, stderr), as kept per execution.

A line belongs to an execution and to the run (workflow) or attempt (activity) that wrote it; a webhook request
has no run, and its lines carry an empty run id. Lines are bounded in length (``MAX_LINE_CHARS``) here, where they
are made, and in number per execution by the storage (``Storage.append_logs``): the oldest go first, counted.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from obelisk.concepts.ids import ExecutionId

MAX_LINE_CHARS = 4096
"""A longer message or output line is cut to this many characters, ending in ``CUT_MARK``."""
CUT_MARK = "…"


class LogKind(enum.StrEnum):
    """Where a line came from: one of the guest's two output streams, or a level of ``obelisk:log``."""

    STDOUT = "stdout"
    STDERR = "stderr"
    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"

    @property
    def is_stream(self) -> bool:
        return self in (LogKind.STDOUT, LogKind.STDERR)

    @classmethod
    def of_level(cls, level: int) -> LogKind:
        """The kind of an ``obelisk:log`` call made at a Python logging ``level`` (TRACE is 5)."""
        if level >= logging.ERROR:
            return cls.ERROR
        if level >= logging.WARNING:
            return cls.WARN
        if level >= logging.INFO:
            return cls.INFO
        if level >= logging.DEBUG:
            return cls.DEBUG
        return cls.TRACE


def bounded(text: str) -> str:
    """``text`` cut to ``MAX_LINE_CHARS``, the cut marked."""
    if len(text) <= MAX_LINE_CHARS:
        return text
    return text[: MAX_LINE_CHARS - len(CUT_MARK)] + CUT_MARK


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line as a guest wrote it, before it is stored."""

    execution_id: ExecutionId
    run_id: str
    created_at: int
    """UTC microseconds."""
    kind: LogKind
    message: str


@dataclass(frozen=True, slots=True)
class StoredLogLine:
    cursor: int
    """The line's place in its execution's log: later lines have greater cursors (not consecutive)."""
    line: LogLine


@dataclass(frozen=True, slots=True)
class LogPage:
    lines: list[StoredLogLine]
    dropped: int
    """How many lines of the execution are not kept: the oldest past the bound, and those the sink had to drop."""

    @property
    def last_cursor(self) -> int | None:
        return self.lines[-1].cursor if self.lines else None
