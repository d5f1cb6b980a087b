"""The Python side of ``wasi:io``: pollables, input and output streams, stream errors.

Guests drive I/O by polling (componentize-py's ``poll_loop`` runs an asyncio loop on ``wasi:io/poll.poll``), so
every stream offers a pollable. Data arrives from other threads (the HTTP server's loop, an outgoing request's
thread); readiness is a ``threading.Event`` so a blocked guest thread wakes as soon as data or the end arrives.

Every wait takes the store's ``deadline`` (a ``time.monotonic()`` value, or ``None``): an epoch deadline cannot
interrupt a guest blocked in a host call, so a wait that reaches the deadline raises ``DeadlinePassed`` instead,
which unwinds the guest like any host exception. This is what lets an activity's attempt that sleeps for a day
end at its timeout and give its thread back.

A guest may also have to stop before its deadline (a webhook whose client went away, or whose server shuts down).
The owner of its thread then makes the waits ``interruptible``: every wait wakes at least every 50 ms to run the
owner's check, which raises to stop the guest the same way.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from obelisk.wasm.host_calls import GuestCallRefused

_POLL_SLICE_SECONDS = 0.001
_INTERRUPT_CHECK_SECONDS = 0.05


class _Interrupts(threading.local):
    check: Callable[[], None] | None = None


_interrupts = _Interrupts()


@contextlib.contextmanager
def interruptible(check: Callable[[], None]) -> Iterator[None]:
    """While active, blocking waits on this thread call ``check`` at least every 50 ms; what it raises ends the
    wait and unwinds the guest through the host function that waited."""
    previous, _interrupts.check = _interrupts.check, check
    try:
        yield
    finally:
        _interrupts.check = previous


def _interrupt_point(timeout: float | None) -> float | None:
    """Runs this thread's interrupt check, if any, and shortens ``timeout`` so that it runs again soon."""
    check = _interrupts.check
    if check is None:
        return timeout
    check()
    return _INTERRUPT_CHECK_SECONDS if timeout is None else min(timeout, _INTERRUPT_CHECK_SECONDS)


class Pollable:
    """Something a guest can wait for. Subclasses answer ``ready`` and can block until it is."""

    def ready(self) -> bool:
        raise NotImplementedError

    def deadline(self) -> float | None:
        """A monotonic time at which this becomes ready by itself (timers), else ``None``."""
        return None

    def event(self) -> threading.Event | None:
        """An event set when this becomes ready (data arrived), else ``None``."""
        return None

    def block(self, deadline: float | None = None) -> None:
        poll_many([self], deadline)


class ReadyPollable(Pollable):
    def ready(self) -> bool:
        return True


class EventPollable(Pollable):
    def __init__(self, event: threading.Event) -> None:
        self._event = event

    def ready(self) -> bool:
        return self._event.is_set()

    def event(self) -> threading.Event | None:
        return self._event


class TimerPollable(Pollable):
    def __init__(self, at_monotonic: float) -> None:
        self._at = at_monotonic

    def ready(self) -> bool:
        return time.monotonic() >= self._at

    def deadline(self) -> float | None:
        return self._at


def poll_many(pollables: Sequence[Pollable], deadline: float | None = None) -> list[int]:
    """Block until at least one is ready; the indexes of the ready ones (``wasi:io/poll.poll``).

    Raises ``DeadlinePassed`` when ``deadline`` comes first.
    """
    if not pollables:
        raise IoUsageError("wasi:io/poll.poll called with an empty list")
    while True:
        ready = [i for i, p in enumerate(pollables) if p.ready()]
        if ready:
            return ready
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            raise DeadlinePassed
        deadlines = [d for p in pollables if (d := p.deadline()) is not None]
        if deadline is not None:
            deadlines.append(deadline)
        timeout = _interrupt_point(max(0.0, min(deadlines) - now) if deadlines else None)
        events = [e for p in pollables if (e := p.event()) is not None]
        if len(events) == 1:
            events[0].wait(timeout)
        elif not events and timeout is not None:
            time.sleep(timeout)  # only timers: nothing but the time can make one ready
        else:
            time.sleep(_POLL_SLICE_SECONDS if timeout is None else min(timeout, _POLL_SLICE_SECONDS))


class DeadlinePassed(Exception):
    """The store's deadline passed while its guest waited in ``wasi:io``: the attempt has timed out."""

    def __init__(self) -> None:
        super().__init__("the deadline passed while the guest was waiting")


class IoUsageError(GuestCallRefused):
    """The guest used a wasi:io resource in a way the interface forbids; surfaces as a trap."""


class IoError:
    """``wasi:io/error.error``: the cause of a failed stream operation."""

    def __init__(self, message: str) -> None:
        self.message = message


class StreamClosed(Exception):
    """The stream has ended (``stream-error::closed``)."""


class StreamFailed(Exception):
    """The last operation failed (``stream-error::last-operation-failed``)."""

    def __init__(self, error: IoError) -> None:
        super().__init__(error.message)
        self.error = error


class InputStream:
    """Bytes fed by a producer thread (or given whole), read by the guest. ``feed``/``end`` are thread-safe."""

    def __init__(self, data: bytes | None = None, *, complete: bool = True) -> None:
        self._lock = threading.Lock()
        self._buffer = bytearray(data or b"")
        self._ended = complete
        self._error: IoError | None = None
        self._readable = threading.Event()
        if self._buffer or complete:
            self._readable.set()

    def feed(self, data: bytes) -> None:
        with self._lock:
            self._buffer += data
            self._readable.set()

    def end(self, error: str | None = None) -> None:
        with self._lock:
            self._ended = True
            if error is not None:
                self._error = IoError(error)
            self._readable.set()

    def read(self, length: int) -> bytes:
        """Up to ``length`` bytes available now (possibly none); raises at the end."""
        with self._lock:
            if self._buffer:
                chunk = bytes(self._buffer[:length])
                del self._buffer[:length]
                if not self._buffer and not self._ended:
                    self._readable.clear()
                return chunk
            if self._ended:
                if self._error is not None:
                    raise StreamFailed(self._error)
                raise StreamClosed
            return b""

    def blocking_read(self, length: int, deadline: float | None = None) -> bytes:
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._readable.wait(_interrupt_point(timeout)):
                if deadline is not None and time.monotonic() >= deadline:
                    raise DeadlinePassed
                continue
            chunk = self.read(length)
            if chunk or length == 0:
                return chunk

    def pollable(self) -> Pollable:
        return EventPollable(self._readable)


class OutputStream:
    """Bytes written by the guest, handed to ``sink`` at once (no buffering, so no flush is ever pending)."""

    CAPACITY = 1 << 20

    def __init__(self, sink: Callable[[bytes], None], *, limit: int | None = None) -> None:
        self._sink = sink
        self._closed = False
        self._limit = limit
        self._written = 0

    def close(self) -> None:
        self._closed = True

    def check_write(self) -> int:
        if self._closed:
            raise StreamClosed
        return self.CAPACITY

    def write(self, data: bytes) -> None:
        if self._closed:
            raise StreamClosed
        self._written += len(data)
        if self._limit is not None and self._written > self._limit:
            self._closed = True
            raise StreamFailed(IoError(f"body exceeds the limit of {self._limit} bytes"))
        if data:
            self._sink(bytes(data))

    def pollable(self) -> Pollable:
        return ReadyPollable()
