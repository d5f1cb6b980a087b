"""What every SQL backend's ``Storage`` does the same way, above its connections.

Writes go through ``group_commit``, their bodies being ``write_flow``'s; reads are ``read_flow``'s; waiting for
pending work and for an execution's changes is answered by the in-process ``Notifier``, fed after every commit
(``_announce``). A backend subclasses ``SqlStorage`` with its connection handling: how a read reaches a connection
(``_read``), its ``group_commit.WriteConnection``, and closing its connections; and its SQL, behind the
``ReadStatements`` and ``WriteStatements`` its ``_read`` and write connection hand to the flows.
"""

from __future__ import annotations

import abc
import concurrent.futures
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeVar

from obelisk.concepts.clock import MICROS_PER_SECOND, Clock
from obelisk.concepts.events import ExecutionEvent, JoinSetResponseEvent, PendingState
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.guest_logs import LogLine, LogPage
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId
from obelisk.storage import log_flow, read_flow, row_codec, state_machine, write_flow
from obelisk.storage.group_commit import CommitObserver, GroupCommit, WriteConnection
from obelisk.storage.interface import (
    ExecutionLog,
    ExecutionQuery,
    ExecutionStatus,
    ExecutionSummary,
    ExpiredDelay,
    ExpiredLock,
    HeldLock,
    LockedExecution,
    Storage,
    StorageGauges,
    StorageStats,
    WriteOp,
)
from obelisk.storage.notifications import Notifier, StatusWatch, wait_done
from obelisk.storage.read_flow import ReadStatements
from obelisk.storage.state_machine import Effects
from obelisk.storage.write_flow import WriteStatements
from obelisk.storage.write_health import WriteHealth

T = TypeVar("T")

FINISHED_EVENTS_KEPT = 1024
"""The ends of executions this process's commits finished, kept for ``get_last_event`` (the newest ones)."""
TIMED_WAKE_HORIZON_US = 60 * MICROS_PER_SECOND
"""Retries due within this horizon get a timed executor wake-up; later ones are found by the executors' poll."""


class SqlStorage(Storage):
    def __init__(self, name: str, clock: Clock, connection: WriteConnection[WriteStatements]) -> None:
        """``name`` the database for messages (a path, a target without its password); ``connection`` writes."""
        self._name = name
        self._clock = clock
        self._notifier = Notifier()
        self._closed = False
        self._seen_generation: dict[str, int] = {}
        self._finished_events: dict[ExecutionId, tuple[int, int, str]] = {}
        """The newest ``Effects.finished_events``: a follower reads a just-finished execution's end from here."""
        self._commits: GroupCommit[WriteStatements] = GroupCommit(name, connection, self._announce)

    # ------------------------------------------------------------------------------------------ the backend's
    @abc.abstractmethod
    async def _read(self, fn: Callable[[ReadStatements], T], *, single_statement: bool = False) -> T:
        """Run ``fn`` with the backend's read statements on a connection, in one read transaction so that its
        several SELECTs see one snapshot; a ``single_statement`` read runs without one (one SELECT is its own
        consistent snapshot, and followers make several such reads per execution: two statements saved each).
        Raises ``StorageClosed`` once the storage is closed, and typed errors for the database's."""

    @abc.abstractmethod
    async def _logs_transaction(self, fn: Callable[[log_flow.Execute], T], *, write: bool) -> T:
        """Run ``fn`` in a transaction of its own (not the group commit's: guest log lines never share one with an
        execution's events), on a connection the backend picks. Raises ``StorageClosed`` once closed, and typed
        errors for the database's."""

    @abc.abstractmethod
    async def _close_connections(self) -> None:
        """After the queued writes finished and every waiter was woken."""

    # ------------------------------------------------------------------------------------------ state
    @property
    def stats(self) -> StorageStats:
        return self._commits.stats

    @property
    def write_health(self) -> WriteHealth:
        return self._commits.health

    @property
    def write_probe_seconds(self) -> float:
        """While writes fail, how often the probe checks whether they would work again."""
        return self._commits.probe_seconds

    @write_probe_seconds.setter
    def write_probe_seconds(self, seconds: float) -> None:
        self._commits.probe_seconds = seconds

    async def _probe_at_open(self) -> None:
        """Refuse a database that cannot be written at all (a read-only file or server) now, with one clear error;
        a full one opens, unwritable, so that its executions can still be read."""
        fault = await self._commits.probe_at_open()
        if fault is not None:
            await self.close()
            raise fault

    # ------------------------------------------------------------------------------------------ writes
    async def write(self, ops: Sequence[WriteOp], now: int) -> None:
        ops = list(ops)
        await self._commits.submit(lambda db, effects: write_flow.apply_ops(db, ops, now, effects), len(ops))

    def write_from_thread(self, ops: Sequence[WriteOp], now: int) -> concurrent.futures.Future[None]:
        ops = list(ops)
        return self._commits.submit_from_thread(
            lambda db, effects: write_flow.apply_ops(db, ops, now, effects), len(ops)
        )

    async def cancel(self, execution_id: ExecutionId, reason: str, now: int) -> list[ExecutionId]:
        def body(db: WriteStatements, effects: Effects) -> list[ExecutionId]:
            return write_flow.cancel_execution(db, execution_id, reason, now, effects)

        return await self._commits.submit(body, 1)

    async def cancel_delay(self, delay_id: DelayId, now: int) -> ExecutionId:
        def body(db: WriteStatements, effects: Effects) -> ExecutionId:
            return write_flow.cancel_delay(db, delay_id, now, effects)

        return await self._commits.submit(body, 1)

    async def lock_pending(
        self,
        *,
        ffqns: Sequence[Ffqn],
        batch_size: int,
        now: int,
        executor_id: ExecutorId,
        component_id: str,
        lock_expires_at: int,
    ) -> list[LockedExecution]:
        ffqns = list(ffqns)
        for ffqn in ffqns:
            key = str(ffqn)
            self._seen_generation[key] = self._notifier.generation(key)

        def body(db: WriteStatements, effects: Effects) -> list[LockedExecution]:
            return write_flow.lock_pending(
                db, ffqns, batch_size, now, executor_id, component_id, lock_expires_at, effects
            )

        locked = await self._commits.submit(body, 0)
        self._commits.stats.operations += len(locked)
        return locked

    def _announce(self, effects: Effects) -> None:
        """What a commit changed, to this process's waiters (only ever after the commit succeeded)."""
        self._announce_pending(effects.pending_now, effects.pending_later)
        if effects.finished_events:
            kept = self._finished_events
            kept.update(effects.finished_events)
            while len(kept) > FINISHED_EVENTS_KEPT:
                del kept[next(iter(kept))]
        self._notifier.notify_changed(effects.changed, state_machine.status)
        on_finished = self.on_finished
        if on_finished is not None:
            finished = [row for row in effects.changed.values() if row.state == state_machine.FINISHED]
            if finished:
                on_finished(finished)

    def _announce_pending(self, pending_now: Sequence[str] | set[str], pending_later: dict[str, int]) -> None:
        notifier = self._notifier
        if pending_now:
            notifier.notify_pending(pending_now)
        if pending_later:
            now = self._clock.now_us()
            for ffqn, at in pending_later.items():
                if at - now <= TIMED_WAKE_HORIZON_US:
                    notifier.notify_pending_at(ffqn, (at - now) / MICROS_PER_SECOND)

    # ------------------------------------------------------------------------------------------ reads
    async def get(self, execution_id: ExecutionId) -> ExecutionLog:
        return await self._read(lambda db: read_flow.get_log(db, execution_id))

    async def get_pending_state(self, execution_id: ExecutionId) -> PendingState:
        return await self._read(lambda db: read_flow.get_pending_state(db, execution_id), single_statement=True)

    async def get_status(self, execution_id: ExecutionId) -> ExecutionStatus:
        return await self._read(lambda db: read_flow.get_status(db, execution_id), single_statement=True)

    async def held_locks(self, executor_id: ExecutorId, now: int) -> list[HeldLock]:
        return await self._read(lambda db: read_flow.held_locks(db, executor_id, now))

    async def get_summary(self, execution_id: ExecutionId) -> ExecutionSummary:
        return await self._read(lambda db: read_flow.get_summary(db, execution_id), single_statement=True)

    async def list_children(self, parent_id: ExecutionId) -> list[ExecutionSummary]:
        return await self._read(lambda db: read_flow.list_children(db, parent_id), single_statement=True)

    async def get_last_event(self, execution_id: ExecutionId) -> ExecutionEvent:
        finished = self._finished_events.get(execution_id)
        if finished is not None:  # nothing is ever appended after Finished: this is and stays its last event
            return row_codec.execution_event(finished)
        return await self._read(lambda db: read_flow.get_last_event(db, execution_id), single_statement=True)

    async def get_expired_timers(self, now: int) -> list[ExpiredLock | ExpiredDelay]:
        return await self._read(lambda db: read_flow.get_expired_timers(db, now))

    async def list_executions(self, query: ExecutionQuery) -> list[ExecutionSummary]:
        return await self._read(lambda db: read_flow.list_executions(db, query), single_statement=True)

    async def list_events(self, execution_id: ExecutionId, version_from: int, length: int) -> list[ExecutionEvent]:
        # One SELECT (a second only when it found nothing, to tell an unknown execution from a range past its end;
        # executions are never deleted, so the two need no common snapshot).
        return await self._read(
            lambda db: read_flow.list_events(db, execution_id, version_from, length), single_statement=True
        )

    async def list_responses(
        self, execution_id: ExecutionId, cursor_from: int, length: int, including_cursor: bool
    ) -> list[JoinSetResponseEvent]:
        return await self._read(
            lambda db: read_flow.list_responses(db, execution_id, cursor_from, length, including_cursor)
        )

    # ------------------------------------------------------------------------------------------ guest logs
    async def append_logs(self, lines: Sequence[LogLine], dropped: Mapping[ExecutionId, int], keep: int) -> None:
        lines = list(lines)
        dropped = dict(dropped)
        await self._logs_transaction(lambda execute: log_flow.append_logs(execute, lines, dropped, keep), write=True)

    async def list_logs(self, execution_id: ExecutionId, after: int, length: int) -> LogPage:
        return await self._logs_transaction(
            lambda execute: log_flow.list_logs(execute, execution_id, after, length), write=False
        )

    # ------------------------------------------------------------------------------------------ metrics
    async def gauges(self, now: int) -> StorageGauges:
        return await self._read(lambda db: read_flow.gauges(db, now))

    def observe_commits(self, observer: CommitObserver | None) -> None:
        self._commits.observer = observer

    # ------------------------------------------------------------------------------------------ waiting
    async def wait_for_pending(self, ffqns: Sequence[Ffqn], timeout: float) -> None:
        keys = [str(ffqn) for ffqn in ffqns]
        notifier = self._notifier
        future = notifier.register_pending(keys)
        try:
            missed = any(notifier.generation(k) != self._seen_generation.get(k, 0) for k in keys)
            if not missed:
                await wait_done(future, timeout)
        finally:
            notifier.unregister_pending(keys, future)
            for key in keys:
                self._seen_generation[key] = notifier.generation(key)

    @contextlib.contextmanager
    def watch_status(self, execution_id: ExecutionId) -> Iterator[StatusWatch[ExecutionStatus]]:
        watch: StatusWatch[ExecutionStatus] = self._notifier.watch(execution_id)
        try:
            yield watch
        finally:
            self._notifier.unwatch(watch)

    async def wait_for_change(self, execution_id: ExecutionId, known_version: int, timeout: float) -> None:
        with self.watch_status(execution_id) as watch:  # opened before the read: no change is missed
            current = await self._read(lambda db: read_flow.change_count(db, execution_id), single_statement=True)
            if current == known_version:
                await watch.wait(timeout)

    # ------------------------------------------------------------------------------------------ lifecycle
    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._commits.close()
        self._notifier.close()
        await self._close_connections()
