"""Group commit, and the write health it keeps: how every backend turns concurrent writes into few transactions.

A ``write`` queues its job; one flusher task takes everything queued while the previous transaction was in flight
and applies it in one transaction, all-or-nothing per job: one caller's ``VersionMismatch`` rolls back only its
own ops and fails only its own call while the others share one commit (one fsync on SQLite). The group runs in one
SAVEPOINT; only when a job fails does it run again with a SAVEPOINT per job. A write that
finds nothing in flight commits at once in its own coroutine. A job the database picked as the victim of a
conflict with another writer (a PostgreSQL deadlock: two servers locking rows in opposite orders) is rolled back to
its savepoint and run again in the next group. Announcements are made only after the commit succeeded.

A write that fails with a ``StorageFault`` marks the database unwritable (``WriteHealth``); a probe that writes
nothing then checks, at intervals and after any write that committed a change, whether writes would work again.

What is the backend's is its write connection (``WriteConnection``): running one group in one transaction on its
thread (with ``run_jobs``, which holds the savepoint SQL both backends share), probing, and typing its errors.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from obelisk.storage.held_writes import WriteHold
from obelisk.storage.interface import StorageClosed, StorageFault, StorageFull, StorageStats
from obelisk.storage.state_machine import Effects
from obelisk.storage.write_health import WriteHealth

S = TypeVar("S")
"""What a job writes through: the backend's statements on its write connection."""
T = TypeVar("T")

MAX_GROUP_SIZE = 512
"""Jobs per group commit: bounds the latency a large group adds to the callers queued behind it."""
MAX_JOB_ATTEMPTS = 5
"""Times a job chosen as a conflict victim (deadlock, serialization failure) is run before its caller gets the
fault."""
WRITE_PROBE_SECONDS = 2.0
"""While writes fail, how often the write probe checks whether they would work again (an idle server makes no
writes of its own to find out)."""
MIN_PROBE_GAP_SECONDS = 0.05
"""Probes woken by successful writes are at least this far apart."""


@dataclass(slots=True)
class Job(Generic[S]):
    body: Callable[[S, Effects], Any]
    future: asyncio.Future[Any] | concurrent.futures.Future[Any]
    """Set on the event loop: an asyncio future for a caller on the loop, a concurrent one for another thread's."""
    operations: int
    attempts: int = 0


@dataclass(slots=True)
class Outcome:
    ok: bool
    value: Any
    """The body's result, or the exception that rolled the job back."""


@dataclass(slots=True)
class GroupResult:
    outcomes: list[Outcome]
    """One per job, in order."""
    effects: Effects | None
    """What the jobs that succeeded changed, merged; ``None`` when none did and the transaction was rolled back."""
    wrote: bool
    """The commit changed a row: only such a commit shows that writes work (a no-op commit proves nothing)."""


def run_jobs(
    jobs: Sequence[Job[S]],
    statements: S,
    execute: Callable[[str], object],
    transaction_lost: Callable[[], bool],
    rolled_back: Callable[[], None],
    hold: WriteHold | None = None,
) -> tuple[list[Outcome], Effects | None]:
    """Run ``jobs`` in the transaction the caller has open, each all-or-nothing (``execute`` runs the savepoint
    statements); the outcomes and the merged effects of those that succeeded (``None``: none did, roll back).
    ``rolled_back`` is called whenever a job's writes are undone (the writer's known rows of the transaction are
    forgotten then).

    A single job needs no savepoint: the transaction is the job. Several share one savepoint while all succeed
    (nearly always); one failure rolls the group back to it and runs it again with a savepoint per job.

    An error after which the database ended the transaction by itself (``transaction_lost``: SQLite rolls back
    on ``SQLITE_FULL``, ``IOERR``, ``BUSY``; a PostgreSQL connection broke) is raised at once: the jobs before lost
    their writes too, and the ones after would run outside any transaction, each statement committed on its own.
    The caller then fails the whole group.
    """
    if len(jobs) == 1:
        effects = Effects()
        try:
            value = jobs[0].body(statements, effects)
        except Exception as exc:
            rolled_back()
            if transaction_lost():
                raise
            return [Outcome(False, exc)], None
        return [Outcome(True, value)], effects
    # Optimistically, the whole group in one savepoint: two statements per group instead of two per job, and the
    # statements' ``hold`` keeps the jobs' row writes to the end of the group (``held_writes``). A job that fails,
    # or a held write refused at the end, rolls the group back, and the group runs again with a savepoint per job
    # and nothing held (the rules are the same on the same rows, so the jobs before it succeed again and it fails
    # again, alone).
    execute("SAVEPOINT jobs")
    values: list[Any] = []
    merged = Effects()
    try:
        if hold is not None:
            hold.start()
        for job in jobs:
            effects = Effects()
            values.append(job.body(statements, effects))
            merged.merge(effects)
        if hold is not None:
            hold.write()
    except Exception:
        if hold is not None:
            hold.stop()
        rolled_back()
        if transaction_lost():
            raise
        execute("ROLLBACK TO SAVEPOINT jobs")
        execute("RELEASE SAVEPOINT jobs")
        return _run_jobs_apart(jobs, statements, execute, transaction_lost, rolled_back)
    finally:
        if hold is not None:
            hold.stop()
    # The savepoint stays open: the caller's COMMIT ends it with the transaction, which saves a statement per group
    # (a round trip on PostgreSQL). Each transaction runs one group, so savepoints never pile up.
    return [Outcome(True, value) for value in values], merged


def _run_jobs_apart(
    jobs: Sequence[Job[S]],
    statements: S,
    execute: Callable[[str], object],
    transaction_lost: Callable[[], bool],
    rolled_back: Callable[[], None],
) -> tuple[list[Outcome], Effects | None]:
    """``run_jobs`` with a savepoint per job: a job that fails rolls back its own writes only."""
    outcomes: list[Outcome] = []
    merged: Effects | None = None
    for job in jobs:
        effects = Effects()
        execute("SAVEPOINT job")
        try:
            value = job.body(statements, effects)
        except Exception as exc:
            rolled_back()
            if transaction_lost():
                raise
            execute("ROLLBACK TO SAVEPOINT job")
            execute("RELEASE SAVEPOINT job")
            outcomes.append(Outcome(False, exc))
        else:
            execute("RELEASE SAVEPOINT job")
            outcomes.append(Outcome(True, value))
            if merged is None:
                merged = Effects()
            merged.merge(effects)
    return outcomes, merged


CommitObserver = Callable[[Effects, float], None]
"""``(effects, seconds)``: a transaction committed these changes after ``seconds`` on the database thread (queueing for
it included)."""


class WriteConnection(Protocol[S]):
    """A backend's side of group commit: its one write connection and how it fails."""

    def run_group(self, jobs: list[Job[S]]) -> Awaitable[GroupResult]:
        """On the connection's thread: begin a transaction, ``run_jobs``, commit (or roll back if no job succeeded).
        Raises if the transaction as a whole failed (the connection lost, ``COMMIT`` refused, the disk full)."""

    def probe(self) -> Awaitable[BaseException | None]:
        """The fault a write would meet now, writing nothing; ``None`` when writes would work."""

    def write_error(self, exc: BaseException) -> BaseException:
        """The typed storage error for ``exc`` raised by a job or a group (other exceptions as they are)."""

    def is_conflict(self, exc: BaseException) -> bool:
        """``exc`` made the job the victim of a conflict with another writer: running it again may work, and it
        says nothing about whether the database can be written."""


class GroupCommit(Generic[S]):
    """The job queue, its flusher task, and the write probe of one storage."""

    def __init__(self, name: str, connection: WriteConnection[S], announce: Callable[[Effects], None]) -> None:
        """``name`` the database, for messages; ``announce`` is called with what each commit changed."""
        self._name = name
        self._connection = connection
        self._announce = announce
        self.stats = StorageStats(
            extra={"groups": 0, "rolled_back_jobs": 0, "retried_jobs": 0, "duplicate_responses": 0}
        )
        self.health = WriteHealth(f"database {name}")
        self._queue: list[Job[S]] = []
        self._queue_lock = threading.Lock()
        """Other threads queue jobs too (``submit_from_thread``): the queue, and ``_flushing`` where a thread's job
        depends on it being seen, change under this lock."""
        self._wakeup = asyncio.Event()
        self._closed = False
        self._flushing = False
        self._last_group_size = 0
        self._loop = asyncio.get_running_loop()
        self._flusher = self._loop.create_task(self._flush_forever(), name=f"storage flush {name}")
        self._prober: asyncio.Task[None] | None = None
        self._probe_wanted = asyncio.Event()
        self.probe_seconds = WRITE_PROBE_SECONDS
        self.observer: CommitObserver | None = None
        """Told what each commit changed and how long its transaction took (``obelisk.metrics``), or nobody."""

    async def submit(self, body: Callable[[S, Effects], T], operations: int) -> T:
        """Run ``body`` in a transaction (shared with other jobs) and return its result once committed; its
        exception if it failed (its own writes then rolled back), typed by the backend."""
        if self._closed:
            raise StorageClosed(self._name)
        future: asyncio.Future[T] = self._loop.create_future()
        job: Job[S] = Job(body, future, operations)
        with self._queue_lock:
            busy = self._flushing or bool(self._queue) or self._last_group_size > 1
            if busy:
                # Busy, or callers of a shared commit are about to come back: join the flusher's next group.
                self._queue.append(job)
            else:
                self._flushing = True
        if busy:
            self._wakeup.set()
        else:
            # Nothing in flight: commit this job alone, right here, saving the two loop hand-offs through the
            # flusher task (~50 us). Whatever is queued meanwhile forms the flusher's next group. If this caller is
            # cancelled while the transaction runs, its outcome (and its notifications) are lost to it, as with any
            # cancellation.
            try:
                await self._flush([job])
            finally:
                with self._queue_lock:
                    self._flushing = False
                    queued = bool(self._queue)
                if queued:
                    self._wakeup.set()
        return await future  # done, unless it was queued again as a conflict's victim

    def submit_from_thread(self, body: Callable[[S, Effects], T], operations: int) -> concurrent.futures.Future[T]:
        """``submit`` for a thread other than the loop's: the job joins the queue at once and the future is done
        when it committed (or failed). While a group is committing, the flusher takes the queue when it is done,
        so the job costs no hop through the event loop; only an idle flusher is woken (one hop)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._closed:
            future.set_exception(StorageClosed(self._name))
            return future
        with self._queue_lock:
            self._queue.append(Job(body, future, operations))
            idle = not self._flushing
        if idle:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        return future

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while True:
                with self._queue_lock:
                    if self._flushing or not self._queue:
                        break
                    self._flushing = True
                    jobs = self._queue[:MAX_GROUP_SIZE]
                    del self._queue[:MAX_GROUP_SIZE]
                try:
                    await self._flush(jobs)
                finally:
                    with self._queue_lock:
                        self._flushing = False

    async def _flush(self, jobs: list[Job[S]]) -> None:
        self._last_group_size = len(jobs)
        started = time.perf_counter()
        try:
            result = await self._connection.run_group(jobs)
        except Exception as exc:  # the whole transaction failed (connection lost, COMMIT refused, disk full, ...)
            failure = self.write_failed(exc)
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(failure)
            return
        except BaseException:  # cancelled: the outcome is unknown to us
            for job in jobs:
                job.future.cancel()
            raise
        stats = self.stats
        stats.extra["groups"] += 1
        if result.effects is not None:
            stats.commits += 1
        if result.wrote and not self.health.writable:
            # Not proof by itself: on a full database a change that fits in its pages commits while anything that
            # needs a new page fails. The probe decides, now rather than at its next interval.
            self._probe_wanted.set()
        retry: list[Job[S]] = []
        for job, outcome in zip(jobs, result.outcomes, strict=True):
            if outcome.ok:
                stats.operations += job.operations
                if not job.future.done():
                    job.future.set_result(outcome.value)
            elif (
                job.attempts + 1 < MAX_JOB_ATTEMPTS
                and not job.future.done()
                and self._connection.is_conflict(outcome.value)
            ):
                job.attempts += 1
                stats.extra["retried_jobs"] += 1
                retry.append(job)
            else:
                stats.extra["rolled_back_jobs"] += 1
                if not job.future.done():
                    job.future.set_exception(self.write_failed(outcome.value))
        if retry:
            with self._queue_lock:
                self._queue[:0] = retry
            self._wakeup.set()
        if result.effects is not None:
            stats.extra["duplicate_responses"] += result.effects.duplicate_responses
            self._announce(result.effects)
            if self.observer is not None:
                self.observer(result.effects, time.perf_counter() - started)

    def write_failed(self, exc: BaseException) -> BaseException:
        """The typed error for a failed write; a ``StorageFault`` (but a conflict's) also marks the database
        unwritable until the probe finds it writable again."""
        error = self._connection.write_error(exc)
        if isinstance(error, StorageFault) and not self._connection.is_conflict(exc):
            self.health.failed(error)
            if self._prober is None or self._prober.done():
                self._prober = self._loop.create_task(
                    self._probe_until_writable(), name=f"storage write probe {self._name}"
                )
        return error

    async def probe_at_open(self) -> BaseException | None:
        """The fault that refuses opening the database: one that cannot be written at all (read-only) is refused
        now, with one clear error, rather than by the first write; a full one opens, unwritable, so that its
        executions can still be read."""
        fault = await self._connection.probe()
        if isinstance(fault, StorageFull):
            self.write_failed(fault)
            return None
        return fault

    async def _probe_until_writable(self) -> None:
        """While writes fail, check every ``probe_seconds`` (and after any write that committed a change) whether a
        write would work, writing nothing; the state changes only here and on a failed write.

        An idle server makes no writes of its own, and its health would otherwise stay ``NOT_SERVING`` after the
        space is freed. One small rolled-back transaction per interval, only while the fault lasts.
        """
        while not self._closed and not self.health.writable:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._probe_wanted.wait(), self.probe_seconds)
            self._probe_wanted.clear()
            if self._closed or self.health.writable:
                return
            fault = await self._connection.probe()
            if fault is None:
                self.health.succeeded()
            elif isinstance(fault, StorageFault):
                self.health.failed(fault)
            await asyncio.sleep(MIN_PROBE_GAP_SECONDS)

    async def close(self) -> None:
        """Refuse new jobs, let the queued ones finish (their callers are awaiting them), stop the tasks."""
        if self._closed:
            return
        self._closed = True
        while (self._queue or self._flushing) and not self._flusher.done():
            self._wakeup.set()
            await asyncio.sleep(0.001)
        for task in (self._flusher, self._prober):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
