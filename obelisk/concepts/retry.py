"""The retry policy of the original (docs/compatibility.md#retry-policy): retry ``n`` (1-based) happens iff
``n <= max_retries``, after ``retry_exp_backoff * 2^(n-1)``."""

from __future__ import annotations

from dataclasses import dataclass

_MAX_SHIFT = 40
"""Caps the exponent so a workflow retried forever cannot overflow the backoff (2^40 x 1 ms is ~35 years)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int
    retry_exp_backoff_us: int

    def backoff_us(self, temporary_event_count: int) -> int | None:
        """The wait before the next attempt, or ``None`` when the retries are exhausted.

        ``temporary_event_count`` is the number of retries already consumed.
        """
        attempt = temporary_event_count + 1
        if attempt > self.max_retries:
            return None
        return self.retry_exp_backoff_us * (1 << min(attempt - 1, _MAX_SHIFT))
