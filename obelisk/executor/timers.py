"""The timers watcher: expired delays become responses, expired locks become timeouts.

Locks are given a leeway so that an executor still watching its own run records the timeout itself (with the
run's context at hand); the watcher catches what nobody watches any more: runs of a crashed process, of another
server sharing the database, or of an executor that was stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from obelisk.concepts.clock import Clock
from obelisk.concepts.events import DelayFinished
from obelisk.concepts.retry import RetryPolicy
from obelisk.executor.fault_backoff import FaultBackoff
from obelisk.executor.live_runs import LiveRuns
from obelisk.storage.interface import DeliverResponse, ExpiredDelay, ExpiredLock, Storage, StorageError, StorageFault
from obelisk.workers.outcome_events import RunContext, ops_for_expired_lock

if TYPE_CHECKING:
    from obelisk.metrics import Metrics

log = logging.getLogger(__name__)

LOCK_LEEWAY_US = 100_000


class TimersWatcher:
    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        live_runs: LiveRuns,
        tick_seconds: float = 0.1,
        metrics: Metrics | None = None,
    ) -> None:
        self._storage = storage
        self._metrics = metrics
        self._clock = clock
        self._live_runs = live_runs
        self._tick_seconds = tick_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="timers watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        backoff = FaultBackoff()
        while True:
            pause = self._tick_seconds
            try:
                await self.tick()
                backoff.succeeded("timers watcher")
            except asyncio.CancelledError:
                raise
            except StorageFault as fault:
                pause = max(pause, backoff.failed("timers watcher", fault))
            except Exception:
                log.exception("timers watcher tick failed")
            await asyncio.sleep(pause)

    async def tick(self) -> int:
        """Handle everything due now; returns how many timers fired."""
        now = self._clock.now_us()
        fired = 0
        for timer in await self._storage.get_expired_timers(now):
            try:
                if isinstance(timer, ExpiredDelay):
                    await self._storage.write(
                        [DeliverResponse(timer.execution_id, timer.join_set_id, DelayFinished(timer.delay_id))], now
                    )
                    if self._metrics is not None:
                        self._metrics.delay_fired(now - timer.expires_at)
                elif timer.lock_expires_at + LOCK_LEEWAY_US <= now and timer.execution_id not in self._live_runs:
                    await self._expire_lock(timer, now)
                else:
                    continue  # not yet, or its executor records the run's end itself
                fired += 1
            except StorageFault:
                raise  # the whole tick pauses: the next timers would fail the same way
            except StorageError as error:
                log.debug("timer of %s already handled: %s", timer.execution_id, error)
        return fired

    async def _expire_lock(self, lock: ExpiredLock, now: int) -> None:
        ctx = RunContext(
            execution_id=lock.execution_id,
            version=lock.version,
            parent=lock.parent,
            policy=RetryPolicy(lock.max_retries, lock.retry_exp_backoff_us),
            temporary_event_count=lock.temporary_event_count,
            retry_on_err=False,
        )
        await self._storage.write(ops_for_expired_lock(ctx, now), now)
        if self._metrics is not None:
            self._metrics.lock_expired(str(lock.ffqn), now - lock.lock_expires_at - LOCK_LEEWAY_US)
        log.info("%s: lock of run %s expired", lock.execution_id, lock.run_id)
