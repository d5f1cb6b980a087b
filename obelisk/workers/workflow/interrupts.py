"""When a workflow run must stop where it is, and why: its lock's deadline (with the extensions a long run takes)
and the reasons it interrupts itself.

A run is interrupted from inside a host function: ``InterruptRun`` unwinds the guest, everything the run did is
already written, and the execution is run again (replayed) later. Why it stopped is an ``InterruptReason``: one
exception for every reason, so that a new one (an operator's cancel or pause) is one more member of the enum and
one more case where the worker turns a reason into an outcome, not another flag the run keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from obelisk.concepts.clock import Clock
from obelisk.workers.worker import AttemptDeadline

INTERRUPT_MARGIN_US = 20_000
"""A run that waits in place stops waiting this long before its lock expires, so it interrupts cleanly itself
instead of being timed out by the executor."""


class BlockingStrategy(StrEnum):
    AWAIT = "await"
    INTERRUPT = "interrupt"


class InterruptReason(StrEnum):
    """Why a run stopped in place (all of them: the execution is replayed once it is due again)."""

    AWAITS_BY_REPLAY = "awaits by replay"
    """The ``interrupt`` strategy: the run never waits in place; its response makes the execution due."""
    SLEEPS_PAST_LOCK = "sleeps past its lock"
    """A sleep that ends after the lock: waiting in place would be timed out."""
    LOCK_EXPIRING = "lock expiring"
    """The lock's deadline came while the run waited for a response (the timeout of a waiting run)."""
    CANCELLED = "cancelled"
    """An operator cancelled the execution (``Storage.cancel`` wrote its end): the run stops, writing nothing."""
    PAUSED = "paused"
    """An operator paused the execution: the run stops, writing nothing of its own progress, and gives its lock back
    (``Unlocked``, not a failure); the execution is replayed where it was once it is resumed."""


class InterruptRun(Exception):
    """Unwinds the guest: the run stops here and the execution is replayed once its awaited response arrives.

    Raised from a host function; everything the run did is already written (the blocking ``JoinNext`` included).
    """

    def __init__(self, reason: InterruptReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


class RunDeadline:
    """The run's lock deadline as the run sees it: what a ``JoinNext`` records, and the lock extensions a long
    serial run takes so that it keeps its instance instead of being replayed."""

    def __init__(
        self, deadline: AttemptDeadline, *, strategy: BlockingStrategy, lock_expiry_us: int, clock: Clock
    ) -> None:
        self.attempt = deadline
        """Shared with the executor watching the attempt: it reads the extended value."""
        self.strategy = strategy
        self._lock_expiry_us = lock_expiry_us
        self._clock = clock
        self._extension: int | None = None
        self.on_extend: Callable[[float], None] | None = None
        """Set by the worker: gives the guest's store the extended time too (its epoch deadline)."""

    @property
    def us(self) -> int:
        return self.attempt.us

    def now_us(self) -> int:
        return self._clock.now_us()

    def stop_if_cancelled(self) -> None:
        """Called at every host call and every wake-up of a wait in place: a cancelled or paused run unwinds there."""
        if self.attempt.cancelled:
            raise InterruptRun(InterruptReason.CANCELLED, "the execution was cancelled")
        if self.attempt.paused:
            raise InterruptRun(InterruptReason.PAUSED, "the execution was paused")

    def remaining_us(self) -> int:
        """How long the run may still wait in place (the margin left for interrupting itself cleanly)."""
        return self.us - INTERRUPT_MARGIN_US - self.now_us()

    def fits(self, needed_us: int) -> bool:
        """Whether ``needed_us`` from now ends before the run must interrupt itself."""
        return self.now_us() + needed_us <= self.us - INTERRUPT_MARGIN_US

    def run_expires_at(self, *, needed_us: int = 0) -> int:
        """Recorded in a new ``JoinNext``: until when this run may keep waiting in place for the response.

        A run that goes on past half its lock, or needs ``needed_us`` more than is left (an inline child),
        extends its lock first.
        """
        now = self.now_us()
        self._extend_if_needed(now, needed_us)
        if self.strategy is BlockingStrategy.INTERRUPT:
            return now
        return self.us

    def take_extension(self) -> int | None:
        """A lock extension decided but not yet written: the next write carries it (before any ``JoinNext``)."""
        extension, self._extension = self._extension, None
        return extension

    def _extend_if_needed(self, now: int, needed_us: int) -> None:
        lock_expiry = self._lock_expiry_us
        remaining = self.us - now - INTERRUPT_MARGIN_US
        if remaining >= max(lock_expiry // 2, needed_us):
            return
        new_deadline = now + max(lock_expiry, needed_us + 2 * INTERRUPT_MARGIN_US)
        self._extension = new_deadline
        self.attempt.extend(new_deadline)
        if self.on_extend is not None:
            self.on_extend((new_deadline - now) / 1_000_000)
