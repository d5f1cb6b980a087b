"""One executor per component: lock due executions, run them in threads, record the outcome.

The loop: take up to ``batch_size`` permits from ``max_inflight_instances``, lock that many due
executions, start a run for each, then sleep until storage signals new pending work (or ``tick_sleep`` passes as a
fallback). The executor, not the guest, owns the attempt deadline: a guest blocked where no deadline reaches it
does not return, so when the deadline (plus the worker's grace) passes the timeout is recorded here and the
thread is abandoned (docs/architecture.md#timeouts-of-blocked-guests); its late result is refused by the version
check. Abandoned threads are counted and bounded (``AbandonedThreads``): at the bound the executor takes no new
work until one comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from obelisk import tracing
from obelisk.concepts.clock import Clock
from obelisk.concepts.events import FinishedState
from obelisk.concepts.ids import ExecutorId
from obelisk.concepts.results import ResultKind
from obelisk.concepts.retry import RetryPolicy
from obelisk.executor.fault_backoff import FaultBackoff
from obelisk.executor.live_runs import LiveRuns
from obelisk.executor.threads import AbandonedThreads, ElasticThreadPool
from obelisk.storage.interface import (
    ExecutionStatus,
    LockedExecution,
    Storage,
    StorageError,
    StorageFault,
    WriteOp,
)
from obelisk.storage.notifications import wait_done
from obelisk.workers.outcome import (
    FailedTemporarily,
    Interrupted,
    Released,
    Succeeded,
    TimedOut,
    WorkerOutcome,
    outcome_version,
)
from obelisk.workers.outcome_events import RunContext, ops_for_outcome, ops_for_released_children
from obelisk.workers.worker import AttemptDeadline, Worker

if TYPE_CHECKING:
    from obelisk.metrics import Metrics
    from obelisk.tracing.spans import RunSpan

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    component_id: str
    batch_size: int
    lock_expiry_us: int
    tick_sleep_seconds: float
    max_inflight_instances: int
    max_abandoned_threads: int
    """At this many abandoned threads the component takes no new work until one comes back."""


class Executor:
    def __init__(
        self,
        *,
        storage: Storage,
        worker: Worker,
        config: ExecutorConfig,
        executor_id: ExecutorId,
        clock: Clock,
        live_runs: LiveRuns,
        abandoned: AbandonedThreads,
        metrics: Metrics | None = None,
    ) -> None:
        self._storage = storage
        self._metrics = metrics
        self._live_runs = live_runs
        self._worker = worker
        self._config = config
        self._executor_id = executor_id
        self._clock = clock
        self._permits = asyncio.Semaphore(config.max_inflight_instances)
        self._threads = ElasticThreadPool(config.component_id.split(":")[1])
        self._runs: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._abandoned = abandoned
        abandoned.add_component(config.component_id, config.max_abandoned_threads)

    @property
    def config(self) -> ExecutorConfig:
        return self._config

    @property
    def worker(self) -> Worker:
        return self._worker

    @property
    def abandoned_threads(self) -> int:
        """Threads of this component abandoned at a deadline whose guest has not returned yet."""
        return self._abandoned.count(self._config.component_id)

    @property
    def runs_in_flight(self) -> int:
        """Runs started and not recorded yet: each holds one permit of ``max_inflight_instances``."""
        return len(self._runs)

    @property
    def busy_threads(self) -> int:
        """Threads running an attempt now, abandoned ones included."""
        return self._threads.busy_count

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"executor {self._config.component_id}")

    async def stop(self) -> None:
        """Stop locking new work. Runs still in flight are left alone: the server releases their locks as it
        stops (or at its next start), so nothing is lost or recorded twice."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for run in list(self._runs):
            run.cancel()
        self._threads.close()

    async def _loop(self) -> None:
        backoff = FaultBackoff()
        what = f"executor {self._config.component_id}"
        while True:
            try:
                await self.tick()
                backoff.succeeded(what)
            except asyncio.CancelledError:
                raise
            except StorageFault as fault:
                await asyncio.sleep(backoff.failed(what, fault))
            except Exception:
                log.exception("%s: tick failed", what)
                await asyncio.sleep(self._config.tick_sleep_seconds)

    async def tick(self) -> int:
        """Lock and start one batch; when it was not full (nothing else was due), wait for new work. Returns the
        number started."""
        await self._abandoned.wait_until_accepting(self._config.component_id)
        acquired = await self._acquire_permits()
        locked: list[LockedExecution] = []
        try:
            now = self._clock.now_us()
            locked = await self._storage.lock_pending(
                ffqns=self._worker.ffqns,
                batch_size=acquired,
                now=now,
                executor_id=self._executor_id,
                component_id=self._config.component_id,
                lock_expires_at=now + self._config.lock_expiry_us,
            )
        finally:
            for _ in range(acquired - len(locked)):
                self._permits.release()
        for execution in locked:
            task = asyncio.create_task(self._run(execution), name=f"run {execution.execution_id}")
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)
        if len(locked) < acquired:
            # Fewer than asked for: nothing else was due. Wait rather than lock again at once (an empty lock is a
            # write transaction of its own); a commit that landed since the lock began still wakes the wait.
            await self._storage.wait_for_pending(self._worker.ffqns, self._config.tick_sleep_seconds)
        return len(locked)

    async def _acquire_permits(self) -> int:
        await self._permits.acquire()
        acquired = 1
        while acquired < self._config.batch_size and not self._permits.locked():
            await self._permits.acquire()
            acquired += 1
        return acquired

    async def _run(self, locked: LockedExecution) -> None:
        self._live_runs.add(locked.execution_id)
        tracer = tracing.active()
        span = None if tracer is None else tracer.start_run(locked)
        try:
            started = time.perf_counter()
            outcome = await self._attempt(locked, span)
            if self._metrics is not None:
                self._metrics.attempt_ended(self._config.component_id, outcome, time.perf_counter() - started)
            ctx = RunContext(
                execution_id=locked.execution_id,
                version=locked.version,
                parent=locked.parent,
                policy=RetryPolicy(locked.created.max_retries, locked.created.retry_exp_backoff_us),
                temporary_event_count=locked.temporary_event_count,
                retry_on_err=self._worker.retry_on_err,
                # A run that wrote events made progress: its own timeout is the first of a new series.
                timeouts_in_a_row=locked.timeouts_in_a_row if outcome_version(outcome) in (None, locked.version) else 0,
                max_timeouts_in_a_row=self._worker.max_timeouts_in_a_row,
            )
            now = self._clock.now_us()
            children = outcome.inline_children if isinstance(outcome, Released) else ()
            for child_id, _ in children:
                self._live_runs.add(child_id)
            try:
                if isinstance(outcome, Released):
                    for child_ops in ops_for_released_children(outcome, now):
                        await self._record(child_ops, f"{locked.execution_id}: release of an inline child")
                ops = ops_for_outcome(ctx, outcome, now)
                what = f"{locked.execution_id}: outcome {type(outcome).__name__}"
                carried = list(outcome.carried) if isinstance(outcome, Succeeded) else []
                if carried and not await self._record([*carried, *ops], what):
                    # The outcome was refused (a cancel came first): the inline child's result still counts.
                    await self._record(carried, f"{locked.execution_id}: its last inline child's result")
                elif ops and not carried:
                    await self._record(ops, what)
            finally:
                for child_id, _ in children:
                    self._live_runs.discard(child_id)
            if span is not None:
                span.end(outcome)
        finally:
            self._live_runs.discard(locked.execution_id)
            self._permits.release()

    async def _record(self, ops: list[WriteOp], what: str) -> bool:
        """Write ``ops``; through a storage fault, keep them and try again after a pause until the database takes
        them: a result must not be lost, nor a fault charged to the execution as a timeout. ``False``: refused."""
        backoff = FaultBackoff()
        while True:
            try:
                await self._storage.write(ops, self._clock.now_us())
                backoff.succeeded(what)
                return True
            except StorageFault as fault:
                await asyncio.sleep(backoff.failed(what, fault))
            except StorageError as error:
                # Someone else (the timers watcher, a restart) recorded this run's end first.
                log.info("%s: not recorded: %s", what, error)
                return False

    async def _attempt(self, locked: LockedExecution, span: RunSpan | None) -> WorkerOutcome:
        """Run the attempt in a thread and wait for its outcome, its deadline (plus grace), or its cancel.

        The execution's status is watched while the attempt runs: a cancel is a storage write like any other, and
        whichever server committed it, this one hears of it (its own commits; other servers' through the
        backend's notifications) and stops the attempt."""
        loop = asyncio.get_running_loop()
        deadline = AttemptDeadline(locked.lock_expires_at)
        if span is None:
            future = asyncio.wrap_future(self._threads.submit(lambda: self._worker.run(locked, deadline)), loop=loop)
        else:
            traced = span  # the run's host calls become its children
            future = asyncio.wrap_future(
                self._threads.submit(lambda: traced.call(lambda: self._worker.run(locked, deadline))), loop=loop
            )
        grace_us = int(self._worker.deadline_grace_seconds * 1_000_000)
        woken: asyncio.Future[None] = loop.create_future()
        """Done when the attempt returned or the execution was cancelled."""

        def wake(_: object = None) -> None:
            if not woken.done():
                woken.set_result(None)

        def on_status(status: ExecutionStatus) -> None:
            state = status.pending_state
            if isinstance(state, FinishedState) and state.result_kind is ResultKind.CANCELLED:
                deadline.cancelled = True
                wake()

        future.add_done_callback(wake)
        with self._storage.watch_status(locked.execution_id) as watch:
            watch.on_push = on_status
            while not future.done():
                if deadline.cancelled:
                    return await self._stop_cancelled(locked, future)
                now = self._clock.now_us()
                if deadline.us + grace_us <= now:  # not extended by the run meanwhile
                    return self._abandon(locked, future, "attempt passed its deadline; timing it out", TimedOut())
                await wait_done(woken, (deadline.us + grace_us - now) / 1_000_000)
        if deadline.cancelled:
            return await self._stop_cancelled(locked, future)
        try:
            return future.result()
        except Exception as error:
            log.exception("%s: worker crashed", locked.execution_id)
            return FailedTemporarily(f"worker error: {type(error).__name__}", str(error))

    async def _stop_cancelled(self, locked: LockedExecution, future: asyncio.Future[WorkerOutcome]) -> WorkerOutcome:
        """The execution was cancelled while its attempt ran: the cancel wrote its end, so nothing is recorded
        whatever the attempt comes to. A workflow run stops at its next host call (given the worker's grace to
        reach it); an activity's thread, or a workflow's that does not come back in time, is abandoned as at a
        deadline, and counts against the abandoned-threads bound until it returns."""
        if await wait_done(future, self._worker.cancel_grace_seconds):
            if not future.cancelled():
                future.exception()  # retrieved: whatever it was, the cancel decided the execution's end
            log.info("%s: cancelled; its attempt stopped", locked.execution_id)
            return Interrupted()
        return self._abandon(locked, future, "cancelled while its attempt ran; stopping it", Interrupted())

    def _abandon(
        self, locked: LockedExecution, future: asyncio.Future[WorkerOutcome], why: str, outcome: WorkerOutcome
    ) -> WorkerOutcome:
        log.warning("%s: %s and abandoning its thread", locked.execution_id, why)
        self._abandoned.abandoned(self._config.component_id)
        if self._metrics is not None:
            self._metrics.attempt_abandoned(self._config.component_id)
        future.add_done_callback(lambda _: self._abandoned_returned(locked))
        return outcome

    def _abandoned_returned(self, locked: LockedExecution) -> None:
        log.info("%s: abandoned attempt returned", locked.execution_id)
        self._abandoned.returned(self._config.component_id)
