"""The server's log: ``[log.stdout]`` and ``[log.file]`` of ``obelisk.toml`` as handlers of Python's logging.

Each sink has its own level filter (``obelisk.config.log_levels``), style and ``target`` switch; the loggers' own
levels are set to the lowest threshold any sink has for them, so a record nobody wants is never made.

* The console sink (``[log.stdout]``) writes to standard error, as Python programs log: standard output carries
  the server's own lines (``Server is ready, ...``), which scripts and supervisors read.
* The file sink (``[log.file]``) writes ``<directory>/<prefix>`` and, with a rotation, renames it at each UTC
  minute, hour or day boundary to ``<prefix>.<period>`` with the original's period formats (``2025-01-20``,
  ``2025-01-20-13``, ``2025-01-20-13-05``); a file left by an earlier run is renamed for the period it was last
  written in. No rotated file is ever deleted or overwritten.

Styles: ``plain_compact`` is local time to the millisecond, level and message (the console's default);
``plain`` is UTC time to the microsecond (RFC 3339), level and message (the file's default); both put the logger
name before the message with ``target = true``. ``json`` is one object per line: ``time`` (as ``plain``),
``level``, ``logger``, ``message``, ``execution_id`` and ``component_id`` when the record has them, and
``exception`` with the traceback when there is one.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from logging.handlers import TimedRotatingFileHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obelisk.concepts.errors import ObeliskError
from obelisk.config.log_levels import OFF, TRACE, LevelFilter, parse_level_filter

if TYPE_CHECKING:
    from obelisk.config.models import FileLogConfig, LogConfig, LogRotation, LogStyle

RECORD_FIELDS = ("execution_id", "component_id")
"""Attributes some records carry (``extra=``), written as fields of a JSON line."""

ROTATIONS: dict[str, tuple[int, str]] = {
    "minutely": (60, "%Y-%m-%d-%H-%M"),
    "hourly": (3600, "%Y-%m-%d-%H"),
    "daily": (86400, "%Y-%m-%d"),
}
"""Period in seconds and the name of a rotated file's period (UTC), per ``rotation``."""


class LogSinkError(ObeliskError):
    """A configured log sink cannot be opened (the log file or its directory)."""


def install_log_sinks(config: LogConfig) -> list[logging.Handler]:
    """Replace the root logger's handlers with the sinks ``config`` enables; returns them.

    With no sink enabled nothing is logged at all (not even Python's last-resort warnings on stderr).
    """
    logging.addLevelName(TRACE, "TRACE")
    sinks: list[tuple[logging.Handler, LevelFilter]] = []
    if config.stdout.enabled:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(make_formatter(config.stdout.style, target=config.stdout.target))
        sinks.append((console, parse_level_filter(config.stdout.level)))
    if config.file is not None and config.file.enabled:
        sinks.append((open_log_file(config.file), parse_level_filter(config.file.level)))

    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    if not sinks:
        root.addHandler(logging.NullHandler())
        root.setLevel(OFF)
        return []
    for handler, levels in sinks:
        handler.addFilter(ThresholdFilter(levels))
        root.addHandler(handler)
    filters = [levels for _, levels in sinks]
    root.setLevel(min(levels.default for levels in filters))
    for name in {name for levels in filters for name, _ in levels.targets}:
        logging.getLogger(name).setLevel(min(levels.threshold(name) for levels in filters))
    return [handler for handler, _ in sinks]


class ThresholdFilter(logging.Filter):
    """Lets a record through when its level reaches its logger's threshold in one sink's level filter."""

    def __init__(self, levels: LevelFilter) -> None:
        super().__init__()
        self.levels = levels
        self._thresholds: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        threshold = self._thresholds.get(record.name)
        if threshold is None:
            threshold = self._thresholds[record.name] = self.levels.threshold(record.name)
        return record.levelno >= threshold


# ---------------------------------------------------------------------------------------------- styles


def make_formatter(style: LogStyle, *, target: bool) -> logging.Formatter:
    name = "%(name)s: " if target else ""
    if style == "json":
        return JsonFormatter()
    if style == "plain":
        return UtcFormatter(f"%(asctime)s %(levelname)5s {name}%(message)s")
    return logging.Formatter(f"%(asctime)s %(levelname)-5s {name}%(message)s")


def utc_timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return utc_timestamp(record.created)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in RECORD_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------- the file


def open_log_file(config: FileLogConfig) -> logging.Handler:
    """The file handler of ``[log.file]``, its directory created; ``LogSinkError`` naming the path if it fails."""
    path = config.directory / config.prefix
    try:
        config.directory.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = (
            logging.FileHandler(path, encoding="utf-8")
            if config.rotation == "never"
            else ClockRotatingFileHandler(path, config.rotation)
        )
    except OSError as err:
        raise LogSinkError(f"log.file: cannot open the log file {path}: {err.strerror or err}") from err
    handler.setFormatter(make_formatter(config.style, target=config.target))
    return handler


class ClockRotatingFileHandler(TimedRotatingFileHandler):
    """Rotates on UTC minute, hour or day boundaries (the standard handler counts its interval from the start)."""

    def __init__(self, path: Path, rotation: LogRotation) -> None:
        seconds, period_format = ROTATIONS[rotation]
        super().__init__(path, when="S", interval=seconds, utc=True, encoding="utf-8")
        self.suffix = period_format

    def computeRollover(self, currentTime: int) -> int:
        """The first boundary after ``currentTime``, so that a rotated file holds exactly one period."""
        return (int(currentTime) // self.interval + 1) * self.interval

    def rotation_filename(self, default_name: str) -> str:
        """The period's name; never one that exists (the handler would delete it), e.g. after the clock went back."""
        name, copy = default_name, 0
        while os.path.exists(name):
            copy += 1
            name = f"{default_name}.{copy}"
        return name
