"""``ListLogs``: an execution's stored guest log lines as the original's ``ListLogsResponse.LogEntry``, filters and
the page token (the cursor of the last line looked at, in decimal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from obelisk.api import convert
from obelisk.api.errors import InvalidRequest
from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.concepts.guest_logs import LogKind, StoredLogLine

DEFAULT_LOGS_PAGE = 100
MAX_LOGS_PAGE = 1000

Entry = pb.ListLogsResponse.LogEntry


def level_of(kind: LogKind) -> pb.LogLevel | None:
    """The ``LogLevel`` of an ``obelisk:log`` line, ``None`` for a stream line."""
    match kind:
        case LogKind.TRACE:
            return pb.LOG_LEVEL_TRACE
        case LogKind.DEBUG:
            return pb.LOG_LEVEL_DEBUG
        case LogKind.INFO:
            return pb.LOG_LEVEL_INFO
        case LogKind.WARN:
            return pb.LOG_LEVEL_WARN
        case LogKind.ERROR:
            return pb.LOG_LEVEL_ERROR
        case LogKind.STDOUT | LogKind.STDERR:
            return None
        case _:
            assert_never(kind)


def stream_of(kind: LogKind) -> pb.LogStreamType | None:
    """The ``LogStreamType`` of a stream line, ``None`` for an ``obelisk:log`` line."""
    match kind:
        case LogKind.STDOUT:
            return pb.LOG_STREAM_TYPE_STDOUT
        case LogKind.STDERR:
            return pb.LOG_STREAM_TYPE_STDERR
        case LogKind.TRACE | LogKind.DEBUG | LogKind.INFO | LogKind.WARN | LogKind.ERROR:
            return None
        case _:
            assert_never(kind)


def kind_of(entry: Entry) -> LogKind:
    """The kind of a received entry (the client's side of ``entry``)."""
    which = entry.WhichOneof("entry")
    if which == "stream":
        return LogKind.STDERR if entry.stream.stream_type == pb.LOG_STREAM_TYPE_STDERR else LogKind.STDOUT
    for kind in LogKind:
        if level_of(kind) == entry.log.level:
            return kind
    return LogKind.INFO


def text_of(entry: Entry) -> str:
    if entry.WhichOneof("entry") == "stream":
        return entry.stream.payload.decode("utf-8", errors="replace")
    return entry.log.message


def entry(stored: StoredLogLine) -> Entry:
    line = stored.line
    message = Entry(created_at=convert.timestamp(line.created_at), execution_id=pb.ExecutionId(id=line.execution_id))
    if line.run_id:
        message.run_id.id = line.run_id
    level = level_of(line.kind)
    stream = stream_of(line.kind)
    if level is not None:
        message.log.level = level
        message.log.message = line.message
    elif stream is not None:
        message.stream.stream_type = stream
        message.stream.payload = line.message.encode("utf-8")
    return message


@dataclass(frozen=True, slots=True)
class LogFilter:
    kinds: frozenset[LogKind]

    @classmethod
    def of(cls, request: pb.ListLogsRequest) -> LogFilter:
        show_logs, show_streams = request.show_logs, request.show_streams
        if not show_logs and not show_streams:
            show_logs = show_streams = True
        levels = set(request.levels) - {pb.LOG_LEVEL_UNSPECIFIED}
        streams = set(request.stream_types) - {pb.LOG_STREAM_TYPE_UNSPECIFIED}
        kinds = set()
        for kind in LogKind:
            level, stream = level_of(kind), stream_of(kind)
            if level is not None and show_logs and (not levels or level in levels):
                kinds.add(kind)
            if stream is not None and show_streams and (not streams or stream in streams):
                kinds.add(kind)
        return cls(frozenset(kinds))

    def admits(self, stored: StoredLogLine) -> bool:
        return stored.line.kind in self.kinds


MAX_CURSOR = 2**63 - 1
"""The largest cursor a database can hold (a signed 64-bit integer in SQLite and PostgreSQL)."""


def cursor_of(token: str) -> int:
    """The cursor a ``page_token`` names; empty: before the first line."""
    if not token:
        return -1
    if not token.isascii() or not token.isdigit() or int(token) > MAX_CURSOR:
        raise InvalidRequest(f"page_token: expected a next_page_token (decimal digits), got {token!r}")
    return int(token)


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidRequest(f"page_size: expected 0 (the default, {DEFAULT_LOGS_PAGE}) or more, got {requested}")
    return min(requested or DEFAULT_LOGS_PAGE, MAX_LOGS_PAGE)
