"""The deadline and the stop signal of one webhook request, shared by its coroutine and its guest's thread.

The request's coroutine (on the server loop) stops a request when its deadline passes, when its client goes away
and when the server shuts down; the guest's thread notices at every point where it can wait: a direct call's wait
for its child, a ``wasi:io`` poll, a write of the response. Raising ``RequestStopped`` there unwinds the guest
like any host error, so its thread, its instance and its permit come back promptly. A guest that only computes
never waits; the epoch deadline of its store (set to the same deadline) stops that one.
"""

from __future__ import annotations

import concurrent.futures
import enum
import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from obelisk.concepts.errors import ObeliskError

T = TypeVar("T")


class StopReason(enum.Enum):
    DEADLINE = "request deadline exceeded"
    DISCONNECTED = "client disconnected"
    SHUTDOWN = "server shutting down"


class RequestStopped(ObeliskError):
    """Raised in the guest's thread where it waits: the request was stopped and the guest must unwind."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class RequestControl:
    """``deadline`` is a ``time.monotonic()`` value; ``stop`` may be called from any thread, the first reason wins."""

    def __init__(self, deadline: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline = deadline
        self._clock = clock
        self._lock = threading.Lock()
        self._reason: StopReason | None = None
        self._waiting: concurrent.futures.Future[object] | None = None
        self._on_stop: list[Callable[[StopReason], None]] = []

    @property
    def reason(self) -> StopReason | None:
        return self._reason

    def remaining(self) -> float:
        return max(0.0, self.deadline - self._clock())

    def on_stop(self, callback: Callable[[StopReason], None]) -> None:
        """``callback(reason)`` runs once, in the thread that stops the request (at once if already stopped)."""
        with self._lock:
            reason = self._reason
            if reason is None:
                self._on_stop.append(callback)
        if reason is not None:
            callback(reason)

    def stop(self, reason: StopReason) -> None:
        with self._lock:
            if self._reason is not None:
                return
            self._reason = reason
            waiting, self._waiting = self._waiting, None
            callbacks, self._on_stop = self._on_stop, []
        if waiting is not None:
            waiting.cancel()
        for callback in callbacks:
            callback(reason)

    def check(self) -> None:
        """Raises ``RequestStopped`` if the request was stopped or its deadline has passed."""
        if self._reason is None and self._clock() >= self.deadline:
            self.stop(StopReason.DEADLINE)
        reason = self._reason
        if reason is not None:
            raise RequestStopped(reason)

    def wait(self, future: concurrent.futures.Future[T]) -> T:
        """The future's result, unless the request is stopped first: then the future is cancelled (the work it
        stands for is left alone; only the wait ends) and ``RequestStopped`` is raised."""
        with self._lock:
            stopped = self._reason is not None
            if not stopped:
                self._waiting = future  # type: ignore[assignment]
        try:
            if stopped:
                future.cancel()
                self.check()
            try:
                return future.result(timeout=None if math.isinf(self.deadline) else self.remaining())
            except concurrent.futures.TimeoutError:
                self.stop(StopReason.DEADLINE)
                future.cancel()
                raise RequestStopped(StopReason.DEADLINE) from None
            except concurrent.futures.CancelledError:
                self.check()
                raise  # cancelled by someone else (the loop closing): an error of the host
        finally:
            with self._lock:
                if self._waiting is future:
                    self._waiting = None
