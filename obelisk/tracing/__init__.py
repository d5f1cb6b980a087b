"""OpenTelemetry traces of executions, exported over OTLP/gRPC when ``[otlp] enabled`` (docs/observability.md#traces).

The process has at most one ``Tracing`` (the server installs it at start and removes it at stop), found by the
places that make spans through ``active()``. With traces off that is ``None`` and those places do nothing else:
no span objects, no SQL, and the OpenTelemetry SDK is not even imported (it is imported by
``obelisk.tracing.spans`` only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from obelisk.tracing.spans import Tracing

_active: Tracing | None = None


def active() -> Tracing | None:
    """The process's tracing while traces are on, else ``None``."""
    return _active


def install(tracing: Tracing | None) -> None:
    """Make ``tracing`` the process's (``None``: traces off)."""
    global _active  # noqa: PLW0603  (one per process, as OpenTelemetry's own tracer provider)
    _active = tracing
