"""The fault suite: tests that provoke a fault (concurrent guests, a second server, a full or read-only
database, a corrupted cache artifact, hostile ids and paths, a seeded fuzz of every gRPC method and web UI form
post, slow clients, hung and runaway guests) and assert
that no work is lost, corrupted or done twice.

Each test is bounded in count and time. ``OBELISK_FAULT_SCALE`` (default 1) multiplies the load of the tests that
take one (more guests, more requests, longer runs) for a deeper run by hand; CI runs the default.
``OBELISK_FAULT_TIMEOUT_SCALE`` (default 1) multiplies how long the tests wait for an outcome before they fail
(``scaled_timeout``), for a slow or heavily loaded machine. It leaves alone what the engine is configured with (lock
expiries, request deadlines) and the bounds a test asserts (a stopping server ends within so many seconds): those
are the behaviour under test.
"""

from __future__ import annotations

import math
import os
from typing import Any

import pytest

from obelisk.server import Server
from obelisk.storage.sqlite import SqliteStorage

SCALE_VARIABLE = "OBELISK_FAULT_SCALE"
TIMEOUT_SCALE_VARIABLE = "OBELISK_FAULT_TIMEOUT_SCALE"


def _positive_factor(variable: str) -> float:
    """The factor in the environment variable ``variable`` (1 when unset)."""
    raw = os.environ.get(variable, "1")
    try:
        factor = float(raw)
    except ValueError:
        raise pytest.UsageError(f"{variable} must be a number, got {raw!r}") from None
    if not (0 < factor < math.inf):
        raise pytest.UsageError(f"{variable} must be positive and finite, got {raw!r}")
    return factor


def pytest_configure(config: pytest.Config) -> None:
    """A malformed factor stops the run before the first test, with one line naming the variable."""
    _positive_factor(SCALE_VARIABLE)
    _positive_factor(TIMEOUT_SCALE_VARIABLE)


@pytest.fixture(scope="session")
def fault_scale() -> float:
    """How much load a fault test puts on: multiply counts by it (at least 1 of each)."""
    return _positive_factor(SCALE_VARIABLE)


def scaled(count: int, scale: float) -> int:
    """``count`` times the fault scale, at least 1."""
    return max(1, round(count * scale))


def scaled_timeout(seconds: float) -> float:
    """How long to wait for an outcome that normally comes within ``seconds``: times ``OBELISK_FAULT_TIMEOUT_SCALE``.

    Only for waits whose end is a failure of the test; a configured expiry or an asserted bound stays as it is."""
    return seconds * _positive_factor(TIMEOUT_SCALE_VARIABLE)


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
