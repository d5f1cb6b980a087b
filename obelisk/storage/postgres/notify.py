"""Notifications between servers that share one database: LISTEN/NOTIFY on one channel.

A commit's announcements (executions now pending, by FFQN; retries due soon; the new status of every execution it
changed) are sent with ``pg_notify`` inside the committing transaction, so PostgreSQL delivers them exactly when
the commit is visible, in commit order, and never for a rolled-back one. One commit's announcements are coalesced
into as few payloads as fit under PostgreSQL's 8000-byte limit. Each payload names the sending storage instance:
its own process already pushed the same changes directly (``notifications.Notifier``) and ignores the echo.

Each server listens on a connection of its own, on a thread that waits on the socket and a wake-up pipe (so that
closing is immediate) and hands each batch of notifications to the event loop. After the listening connection
was lost and came back, notifications may have been missed: the backend then wakes every waiter and re-reads the
status of every watched execution.
"""

from __future__ import annotations

import json
import logging
import os
import select
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg

from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.json_text import compact_json
from obelisk.storage.interface import ExecutionStatus, StorageError
from obelisk.storage.state_machine import Effects, ExecutionRow, pending_state_of

log = logging.getLogger(__name__)

CHANNEL = "obelisk"
MAX_PAYLOAD_BYTES = 7900
"""PostgreSQL refuses payloads of 8000 bytes or more; this leaves room for the envelope."""
RECONNECT_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)


# ---------------------------------------------------------------------------------------------- payloads
def _status_entry(row: ExecutionRow) -> list[Any]:
    return [
        row.execution_id,
        row.state,
        row.pending_expires_finished,
        row.join_set_id,
        row.join_set_closing,
        row.executor_id,
        row.run_id,
        row.result_kind,
        row.finished_at,
        row.next_version,
        row.response_count,
        int(row.paused),
        row.operator_versions,
    ]


def encode(source: str, effects: Effects) -> list[str]:
    """The payloads announcing ``effects`` (none if nothing changed)."""
    pending = sorted(effects.pending_now)
    later = dict(effects.pending_later)
    entries = [compact_json(_status_entry(row)) for row in effects.changed.values()]
    if not (pending or later or entries):
        return []
    head = {"s": source, "p": pending, "l": later}
    first = compact_json(head)
    payloads: list[str] = []
    chunk: list[str] = []
    size = len(first)
    for entry in entries:
        if chunk and size + len(entry) + 8 > MAX_PAYLOAD_BYTES:
            payloads.append(_with_changes(first if not payloads else _bare(source), chunk))
            chunk, size = [], len(_bare(source))
        chunk.append(entry)
        size += len(entry) + 1
    payloads.append(_with_changes(first if not payloads else _bare(source), chunk))
    return payloads


def _bare(source: str) -> str:
    return compact_json({"s": source, "p": [], "l": {}})


def _with_changes(head: str, entries: list[str]) -> str:
    return head[:-1] + ',"c":[' + ",".join(entries) + "]}"


@dataclass(slots=True)
class Announcement:
    """One received payload."""

    source: str
    pending_now: list[str]
    pending_later: dict[str, int]
    statuses: dict[ExecutionId, ExecutionStatus] = field(default_factory=dict)


def decode(payload: str) -> Announcement:
    data = json.loads(payload)
    statuses: dict[ExecutionId, ExecutionStatus] = {}
    for entry in data.get("c", ()):
        (eid, state, pef, js, closing, executor, run, kind, finished_at, next_version, responses, paused, seen) = entry
        pending = pending_state_of(state, pef, js, closing, executor, run, kind, finished_at, paused)
        statuses[ExecutionId(eid)] = ExecutionStatus(pending, next_version + responses, next_version, seen)
    return Announcement(data["s"], list(data.get("p", ())), dict(data.get("l", {})), statuses)


# ---------------------------------------------------------------------------------------------- listening
class Listener:
    """The thread that LISTENs on its own connection and hands notifications to the event loop.

    ``connect`` makes a new connection (raising a ``StorageError`` when it cannot); ``deliver`` receives each batch
    of payloads and ``reconnected`` is called after a lost connection came back; both are called on the thread
    and must hand over to the loop themselves (``call_soon_threadsafe``).
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        deliver: Callable[[list[str]], object],
        reconnected: Callable[[], object],
        name: str,
    ) -> None:
        self._connect = connect
        self._deliver = deliver
        self._reconnected = reconnected
        self._wake_read, self._wake_write = os.pipe()
        self._stopping = False
        self._conn: psycopg.Connection[Any] | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, conn: psycopg.Connection[Any]) -> None:
        """Start listening on ``conn`` (connected by the caller, so that a failure shows at open)."""
        conn.execute(f"LISTEN {CHANNEL}")
        self._conn = conn
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close its connection (blocks until both are done: call it off the loop)."""
        self._stopping = True
        os.write(self._wake_write, b"x")
        if self._thread.is_alive():
            self._thread.join()
        if self._conn is not None:
            self._conn.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _run(self) -> None:
        while not self._stopping:
            try:
                if self._listen():
                    return
            except (psycopg.Error, OSError) as exc:
                if self._stopping:
                    return
                log.warning("lost the notification connection (%s); reconnecting", str(exc).strip().splitlines()[0])
                if self._reconnect():
                    try:
                        self._reconnected()
                    except RuntimeError:  # the event loop is closed
                        return

    def _listen(self) -> bool:
        """Hand notifications over until stopped (``False``) or the loop is gone (``True``); raises when the
        connection is lost."""
        conn = self._conn
        assert conn is not None
        pgconn = conn.pgconn
        while not self._stopping:
            readable, _, _ = select.select([pgconn.socket, self._wake_read], [], [])
            if self._wake_read in readable:
                return False
            pgconn.consume_input()
            payloads = list(_drain(pgconn))
            if payloads:
                try:
                    self._deliver(payloads)
                except RuntimeError:  # the event loop is closed: the storage was never closed, nobody listens
                    return True
            if pgconn.status != psycopg.pq.ConnStatus.OK:
                raise psycopg.OperationalError("the connection is closed")
        return False

    def _reconnect(self) -> bool:
        """Connect and LISTEN again, with growing pauses; ``False`` if stopped meanwhile."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        attempt = 0
        while not self._stopping:
            try:
                conn = self._connect()
                conn.execute(f"LISTEN {CHANNEL}")
            except (StorageError, psycopg.Error) as exc:
                pause = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
                attempt += 1
                log.debug("notification connection: %s; next try in %.1f s", exc, pause)
                readable, _, _ = select.select([self._wake_read], [], [], pause)
                if readable:
                    return False
                continue
            self._conn = conn
            return True
        return False


def _drain(pgconn: Any) -> Iterator[str]:
    while (notify := pgconn.notifies()) is not None:
        yield notify.extra.decode("utf-8")
