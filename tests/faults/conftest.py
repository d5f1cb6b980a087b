"""The fault suite: tests that provoke a fault (concurrent guests, a second server, a full or read-only
database, a corrupted cache artifact, hostile ids and paths, a seeded fuzz of every gRPC method and web UI form
post, slow clients, hung and runaway guests) and assert
that no work is lost, corrupted or done twice.

Each test is bounded in count and time. ``OBELISK_FAULT_SCALE`` (default 1) multiplies the load of the tests that
take one (more guests, more requests, longer runs) for a deeper run by hand; CI runs the default.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from obelisk.server import Server
from obelisk.storage.sqlite import SqliteStorage


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


async def server_pragma(server: Server, statement: str) -> Any:
    """Run ``PRAGMA ...`` on the server's own database connection and return its first value (or None).

    Faults such as a full (``max_page_count``) or read-only (``query_only``) database are per-connection settings,
    so they are injected into the connection under test; there is no public way to, on purpose.
    """
    storage = server.storage
    assert isinstance(storage, SqliteStorage)
    async with storage._db.execute(statement) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]
