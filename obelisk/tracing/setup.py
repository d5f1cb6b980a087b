"""Turning traces on and off with the server, from ``[otlp]``.

The OpenTelemetry SDK and its gRPC exporter are imported here only when ``enabled`` is true, so that a server
without traces, and every CLI command, does not pay for loading them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from obelisk import tracing
from obelisk.tracing.level import SpanDetail, span_detail

if TYPE_CHECKING:
    from obelisk.config.models import OtlpConfig
    from obelisk.storage.interface import Storage
    from obelisk.tracing.spans import Tracing

log = logging.getLogger(__name__)


def start_tracing(otlp: OtlpConfig | None, storage: Storage, instance_id: str) -> Tracing | None:
    """Install the process's tracing and watch ``storage`` for finished executions, when ``otlp`` enables it.
    ``instance_id`` names this process in the spans' resource (``service.instance.id``)."""
    if otlp is None or not otlp.enabled:
        return None
    detail = span_detail(otlp.level)
    if detail is SpanDetail.NONE:  # warned about at load (``obelisk.config.unsupported``)
        return None
    from obelisk.tracing.spans import Tracing  # noqa: PLC0415  (the SDK: loaded only when traces are on)

    traces = Tracing(
        service_name=otlp.service_name, endpoint=otlp.otlp_endpoint, detail=detail, instance_id=instance_id
    )
    traces.watch(storage)
    tracing.install(traces)
    log.info("exporting traces (%s) to %s as %s", detail.value, otlp.otlp_endpoint, otlp.service_name)
    return traces


async def stop_tracing(traces: Tracing | None) -> None:
    """Export what is left and uninstall; before the storage closes."""
    if traces is None:
        return
    if tracing.active() is traces:
        tracing.install(None)
    await traces.close()
