"""In-process wake-ups: executors waiting for pending work, workers and clients waiting for an execution to change.

Everything here runs on the storage's event loop. A waiter registers its future *before* the caller checks the
database, and the storage notifies only after a commit succeeded, so a change is never lost between a check and a
wait and never announced before it is visible.

Executors call ``lock_pending`` and then ``wait_for_pending`` with nothing in between that could see a new row, yet
a commit can land in that gap. Each FFQN therefore has a generation counter bumped by every notification; the
storage remembers the generation it saw when a ``lock_pending`` was queued, and a wait returns at once if the
generation moved since. A wake-up may be spurious (one extra empty ``lock_pending``), never lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound=str)


async def wait_done(future: asyncio.Future[Any], timeout: float) -> bool:
    """Wait until ``future`` is done or ``timeout`` seconds passed; whether it is done. Never cancels it.

    ``asyncio.wait`` and ``asyncio.wait_for`` would do, at the price of a task, a set and several callbacks per
    call; waiting is what every follower, executor and waiting run does after each step, so it is done here with
    one timer and one callback.
    """
    if future.done():
        return True
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = loop.call_later(timeout, wake)
    future.add_done_callback(wake)
    try:
        await waiter
    finally:
        timer.cancel()
        future.remove_done_callback(wake)
    return future.done()


class StatusWatch(Generic[T]):
    """Receives every committed change of one execution as it is announced, keeping only the latest status.

    A follower registers its watch *before* reading the status once; from then on each change arrives here with
    the execution's new status, so following costs no read per change (a read per change per follower was most of
    the database traffic of many short workflows followed at once).
    """

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self._latest: T | None = None
        self._changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed = False
        self.on_push: Callable[[T], None] | None = None
        """Called with each status as it arrives, for a watcher that reacts rather than waits (an executor
        stopping a cancelled attempt)."""

    def push(self, status: T) -> None:
        if self.on_push is not None:
            self.on_push(status)
        self._latest = status
        if not self._changed.done():
            self._changed.set_result(None)

    async def wait(self, timeout: float) -> bool:
        """Whether a change arrived (now or within ``timeout`` seconds)."""
        return await wait_done(self._changed, timeout)

    def take(self) -> T | None:
        """The latest status pushed since the last ``take`` (``None`` if none, or woken by ``close``), and forget
        it."""
        latest, self._latest = self._latest, None
        if self._changed.done() and not self._closed:
            self._changed = asyncio.get_running_loop().create_future()
        return latest

    def close(self) -> None:
        """The storage closes: every wait returns at once from now on (the waiter's next read then fails)."""
        self._closed = True
        if not self._changed.done():
            self._changed.set_result(None)


class Notifier:
    def __init__(self) -> None:
        self._pending_waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._watches: dict[str, set[StatusWatch[Any]]] = {}
        self._generations: dict[str, int] = {}
        self._timers: set[asyncio.TimerHandle] = set()

    # ------------------------------------------------------------------------------------------ pending work
    def generation(self, ffqn: str) -> int:
        return self._generations.get(ffqn, 0)

    def register_pending(self, ffqns: Iterable[str]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for ffqn in ffqns:
            self._pending_waiters.setdefault(ffqn, set()).add(future)
        return future

    def unregister_pending(self, ffqns: Iterable[str], future: asyncio.Future[None]) -> None:
        for ffqn in ffqns:
            waiters = self._pending_waiters.get(ffqn)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    del self._pending_waiters[ffqn]

    def notify_pending(self, ffqns: Iterable[str]) -> None:
        for ffqn in ffqns:
            self._generations[ffqn] = self._generations.get(ffqn, 0) + 1
            for future in self._pending_waiters.pop(ffqn, ()):
                if not future.done():
                    future.set_result(None)

    def waiting_ffqns(self) -> list[str]:
        """The FFQNs someone waits for now (a backend that may have missed notifications wakes them all)."""
        return list(self._pending_waiters)

    def notify_pending_at(self, ffqn: str, delay_seconds: float) -> None:
        """Wake executors of ``ffqn`` when a retry or a scheduled execution becomes due."""
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self._timers.discard(handle)
            self.notify_pending((ffqn,))

        handle = loop.call_later(max(delay_seconds, 0.0), fire)
        self._timers.add(handle)

    # ------------------------------------------------------------------------------------------ changes
    def watch(self, execution_id: str) -> StatusWatch[Any]:
        watch: StatusWatch[Any] = StatusWatch(execution_id)
        self._watches.setdefault(execution_id, set()).add(watch)
        return watch

    def watched_executions(self) -> list[str]:
        """The executions someone watches now."""
        return list(self._watches)

    def unwatch(self, watch: StatusWatch[Any]) -> None:
        watches = self._watches.get(watch.execution_id)
        if watches is not None:
            watches.discard(watch)
            if not watches:
                del self._watches[watch.execution_id]

    def notify_changed(self, changed: Mapping[K, R], status_of: Callable[[R], object]) -> None:
        """Push the new status of each changed execution (``status_of`` its entry in ``changed``, computed only
        for watched executions) to its watches."""
        if self._watches:
            for execution_id, entry in changed.items():
                watches = self._watches.get(execution_id)
                if watches:
                    status = status_of(entry)
                    for watch in watches:
                        watch.push(status)

    def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for waiters in self._pending_waiters.values():
            for future in waiters:
                if not future.done():
                    future.set_result(None)
        for watches in self._watches.values():
            for watch in watches:
                watch.close()
        self._pending_waiters.clear()
        self._watches.clear()
