"""The server's sink for guest log lines: what guests log (``obelisk:log``) and print, stored per execution.

Guests run on threads of their own and must never wait for the database to log a line, and an execution's
writes must not carry its log lines (a guest that prints much would slow its workflow's progress). So each line is
handed to one sink per server: a bounded queue that threads append to without blocking (when it is full, the line
is dropped and counted for its execution), emptied by one task on the server loop that writes everything queued in
one ``Storage.append_logs`` transaction of its own. The storage keeps each execution's newest lines and counts the
rest as dropped (``KEEP_LINES_PER_EXECUTION``). Forwarding to the server's log is separate and unchanged.

Guests reach the sink through ``emit`` and ``StreamLines``, which look up the sink the server installed in this
process (``installed``): the workers that run guests need no new wiring, and with no server running (unit tests
of a worker) lines are simply not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter

from obelisk.concepts.clock import Clock
from obelisk.concepts.guest_logs import MAX_LINE_CHARS, LogKind, LogLine, bounded
from obelisk.concepts.ids import ExecutionId
from obelisk.storage.interface import Storage, StorageError

log = logging.getLogger(__name__)

KEEP_LINES_PER_EXECUTION = 1000
"""The newest lines kept per execution; older ones are deleted and counted as dropped."""
QUEUE_LIMIT = 10_000
"""Lines waiting to be written, over all executions; past it new lines are dropped (counted) rather than wait."""
BATCH_LIMIT = 2_000
"""Lines written in one transaction at most."""


class GuestLogSink:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        keep_per_execution: int = KEEP_LINES_PER_EXECUTION,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._keep = keep_per_execution
        self._queue_limit = queue_limit
        self._lock = threading.Lock()
        self._queued: list[LogLine] = []
        self._dropped: Counter[ExecutionId] = Counter()
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def emit(self, execution_id: ExecutionId, run_id: str, kind: LogKind, message: str) -> None:
        """Queue one line (from any thread); never blocks. A full queue drops the line and counts it."""
        line = LogLine(execution_id, run_id, self._clock.now_us(), kind, bounded(message))
        with self._lock:
            if len(self._queued) >= self._queue_limit:
                self._dropped[execution_id] += 1
                return
            first = not self._queued
            self._queued.append(line)
        if first:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
                self._loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        self._task = self._loop.create_task(self._run(), name="guest-log-sink")

    async def stop(self) -> None:
        """Write what is queued, then stop (before the storage closes)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        else:
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued now (tests, and the last write at ``stop``)."""
        while await self._write_some():
            pass

    async def _run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
        await self.flush()

    async def _write_some(self) -> bool:
        """Write one batch; whether anything was taken from the queue."""
        with self._lock:
            batch, self._queued = self._queued[:BATCH_LIMIT], self._queued[BATCH_LIMIT:]
            dropped, self._dropped = self._dropped, Counter()
        if not batch and not dropped:
            return False
        try:
            await self._storage.append_logs(batch, dropped, self._keep)
        except StorageError as error:
            # The lines are lost, but not silently: they are counted for the next write to record.
            log.warning("could not store %d guest log lines: %s", len(batch), error)
            with self._lock:
                self._dropped.update(dropped)
                self._dropped.update(line.execution_id for line in batch)
            return False
        return True


class _Installed:
    sink: GuestLogSink | None = None


def install(sink: GuestLogSink | None) -> None:
    """Make ``sink`` the one guests of this process write to (``None``: none)."""
    _Installed.sink = sink


def installed() -> GuestLogSink | None:
    return _Installed.sink


def emit(execution_id: ExecutionId | str, run_id: str, kind: LogKind, message: str) -> None:
    """Hand one line to the installed sink, if there is one."""
    sink = _Installed.sink
    if sink is not None:
        sink.emit(ExecutionId(execution_id), run_id, kind, message)


class StreamLines:
    """Receives a guest stream's bytes and emits each line (a partial one once it is ``MAX_LINE_CHARS`` long, or
    at ``flush``). Thread-safe: a guest's stream may be written from more than one thread."""

    def __init__(self, execution_id: ExecutionId | str, run_id: str, kind: LogKind) -> None:
        self._execution_id = execution_id
        self._run_id = run_id
        self._kind = kind
        self._pending = b""
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> None:
        with self._lock:
            *lines, self._pending = (self._pending + data).split(b"\n")
            if len(self._pending) > MAX_LINE_CHARS * 4:  # UTF-8: at most 4 bytes a character
                lines.append(self._pending)
                self._pending = b""
        for line in lines:
            self._emit(line)

    def flush(self) -> None:
        with self._lock:
            rest, self._pending = self._pending, b""
        if rest:
            self._emit(rest)

    def __del__(self) -> None:
        # Runs when wasmtime drops the store's WASI context: a last line without a newline is kept too.
        with contextlib.suppress(Exception):
            self.flush()

    def _emit(self, line: bytes) -> None:
        emit(self._execution_id, self._run_id, self._kind, line.decode("utf-8", errors="replace").rstrip("\r"))
