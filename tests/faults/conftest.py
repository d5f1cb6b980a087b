"""The fault suite: tests that provoke a fault (concurrent guests, a second server, a full or read-only
database, a corrupted cache artifact, hostile ids and paths, slow clients, hung and runaway guests) and assert
that no work is lost, corrupted or done twice.

Each test is bounded in count and time. ``OBELISK_FAULT_SCALE`` (default 1) multiplies the load of the tests that
take one (more guests, more requests, longer runs) for a deeper run by hand; CI runs the default.
"""

from __future__ import annotations

import os

import pytest


def _scale() -> float:
    raw = os.environ.get("OBELISK_FAULT_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError:
        raise pytest.UsageError(f"OBELISK_FAULT_SCALE must be a number, got {raw!r}") from None
    if scale <= 0:
        raise pytest.UsageError(f"OBELISK_FAULT_SCALE must be positive, got {raw!r}")
    return scale


@pytest.fixture(scope="session")
def fault_scale() -> float:
    """How much load a fault test puts on: multiply counts by it (at least 1 of each)."""
    return _scale()


def scaled(count: int, scale: float) -> int:
    """``count`` times the fault scale, at least 1."""
    return max(1, round(count * scale))
