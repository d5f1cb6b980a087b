"""The spans of executions, their runs and their host calls, made with the OpenTelemetry SDK and exported over
OTLP/gRPC (docs/observability.md#traces).

Shape of a trace:

* an **execution span** per execution, from its creation to its finish, with the span id derived from the execution
  id (``obelisk.concepts.trace_context.execution_span_id``), under the caller's span (a ``traceparent`` given at
  submission) or, for a child, under its parent execution's span. It is made and exported in one go by the server
  whose commit finished the execution, from the ``Created`` event (its start and stored context) and the finish: so
  it survives the death of the server that created it, and any server may end it;
* a **run span** per attempt (an activity's) or run (a workflow's), under its execution's span;
* **host-call spans** under the run that made them: a child submitted or scheduled, a sleep (ending when the delay
  expires), an outbound HTTP request (method, host, status).

A run cut off by the death of its server is never ended, so it is not exported (spans are exported when they end);
the next run of the execution is, under the same execution span.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from obelisk.concepts.events import Created
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.results import ResultKind
from obelisk.concepts.trace_context import TraceContext, execution_span_id
from obelisk.tracing.level import SpanDetail
from obelisk.workers.outcome import FailedPermanently, FailedTemporarily, TimedOut, WorkerOutcome

if TYPE_CHECKING:
    from obelisk.storage.interface import LockedExecution, Storage
    from obelisk.storage.state_machine import ExecutionRow

log = logging.getLogger(__name__)
T = TypeVar("T")

INSTRUMENTATION_NAME = "obelisk"
RECENTLY_EXPORTED = 10_000
"""How many finished executions a process remembers having exported, against a second span for one of them."""
CLOSE_FLUSH_SECONDS = 3.0
"""How long a stopping server waits for the spans it still holds to be exported."""
_ERROR_OUTCOMES = (FailedTemporarily, TimedOut, FailedPermanently)

_chosen_ids: ContextVar[tuple[int, int] | None] = ContextVar("obelisk_chosen_span_ids", default=None)
"""``(trace id, span id)`` for the span being started: set around the start of an execution span only."""


class _DerivedIds(RandomIdGenerator):
    """Random ids, except for an execution span: its id derived from the execution id, and, at the root of a trace,
    the trace id stored with the execution (the SDK asks for a trace id only when there is no parent)."""

    def generate_span_id(self) -> int:
        chosen = _chosen_ids.get()
        return super().generate_span_id() if chosen is None else chosen[1]

    def generate_trace_id(self) -> int:
        chosen = _chosen_ids.get()
        return super().generate_trace_id() if chosen is None else chosen[0]


def _flags(context: TraceContext) -> TraceFlags:
    return TraceFlags(TraceFlags.SAMPLED if context.sampled else TraceFlags.DEFAULT)


def execution_span_context(execution_id: str, context: TraceContext) -> otel_context.Context:
    """An OpenTelemetry context whose current span is the execution's (exported or not yet: a remote reference)."""
    span = SpanContext(context.trace_id, execution_span_id(execution_id), is_remote=True, trace_flags=_flags(context))
    return trace.set_span_in_context(NonRecordingSpan(span))


def _caller_context(context: TraceContext) -> otel_context.Context:
    """The parent of an execution span: the caller's span, or nothing (the root of the trace)."""
    if context.parent_span_id is None:
        return otel_context.Context()
    span = SpanContext(context.trace_id, context.parent_span_id, is_remote=True, trace_flags=_flags(context))
    return trace.set_span_in_context(NonRecordingSpan(span))


class _StoppableExporter(SpanExporter):
    """The exporter, which ``stop`` makes give up at once: what is left at a server's stop gets a bounded flush,
    then a collector that cannot be reached must not hold the stop up with its retries."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner
        self._stopped = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stopped:
            return SpanExportResult.FAILURE
        return self._inner.export(spans)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._inner.shutdown()

    def shutdown(self) -> None:
        self.stop()


class RunSpan:
    """The span of one run; ``call`` makes it the current span of the thread that runs the guest, so that the host
    calls made there become its children."""

    def __init__(self, span: Span) -> None:
        self._span = span

    def call(self, fn: Callable[[], T]) -> T:
        token = otel_context.attach(trace.set_span_in_context(self._span))
        try:
            return fn()
        finally:
            otel_context.detach(token)

    def end(self, outcome: WorkerOutcome) -> None:
        span = self._span
        span.set_attribute("obelisk.outcome", type(outcome).__name__)
        if isinstance(outcome, _ERROR_OUTCOMES):
            span.set_status(Status(StatusCode.ERROR, type(outcome).__name__))
        span.end()


class HttpSpan:
    """An outbound HTTP request: started in the guest's thread, ended by the thread that performs it."""

    def __init__(self, span: Span) -> None:
        self._span = span

    def end(self, status: int | None, error: str | None) -> None:
        span = self._span
        if status is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_status(Status(StatusCode.ERROR))
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()


class Tracing:
    """The process's tracer provider and exporter, and the spans the engine makes."""

    def __init__(
        self,
        *,
        service_name: str,
        endpoint: str,
        detail: SpanDetail,
        instance_id: str,
        exporter: SpanExporter | None = None,
    ) -> None:
        # The executor id names the server (it survives restarts); the pid tells its processes apart.
        resource = Resource.create(
            {"service.name": service_name, "service.instance.id": instance_id, "process.pid": os.getpid()}
        )
        self._provider = TracerProvider(resource=resource, id_generator=_DerivedIds())
        if exporter is None:
            exporter = OTLPSpanExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"))
        self._exporter = _StoppableExporter(exporter)
        self._provider.add_span_processor(BatchSpanProcessor(self._exporter))
        self._tracer = self._provider.get_tracer(INSTRUMENTATION_NAME)
        self.detail = detail
        self.host_calls = detail is SpanDetail.HOST_CALLS
        self._storage: Storage | None = None
        self._emitting: set[asyncio.Task[None]] = set()
        self._exported_ids: dict[str, None] = {}
        """Executions whose span was exported lately, oldest first (an ordered set)."""

    # ------------------------------------------------------------------------------------------ trace context
    @staticmethod
    def context_for_submission(given: TraceContext | None) -> TraceContext:
        """What a new top-level execution stores: the caller's trace, or a new one."""
        return given if given is not None else TraceContext.new_root()

    # ------------------------------------------------------------------------------------------ runs
    def start_run(self, locked: LockedExecution, *, inline: bool = False) -> RunSpan | None:
        """The span of the run of ``locked`` that starts now; ``None`` if the execution has no (sampled) trace."""
        context = locked.created.trace
        if context is None or not context.sampled or self.detail is SpanDetail.NONE:
            return None
        attributes: dict[str, str | int | bool] = {
            "obelisk.execution_id": locked.execution_id,
            "obelisk.run_id": locked.run_id,
            "obelisk.ffqn": str(locked.ffqn),
            "obelisk.retries_used": locked.temporary_event_count,
        }
        if inline:
            attributes["obelisk.inline"] = True
        span = self._tracer.start_span(
            f"run {locked.ffqn}", context=execution_span_context(locked.execution_id, context), attributes=attributes
        )
        return RunSpan(span)

    # ------------------------------------------------------------------------------------------ host calls
    def _in_run(self) -> bool:
        return self.host_calls and trace.get_current_span().is_recording()

    def child_submitted(self, ffqn: Ffqn, child_id: str, *, scheduled_at_us: int | None = None) -> None:
        """A child execution (or, with ``scheduled_at_us``, a top-level one the workflow scheduled) was requested."""
        if not self._in_run():
            return
        verb = "submit" if scheduled_at_us is None else "schedule"
        attributes: dict[str, str | int] = {"obelisk.child_execution_id": child_id, "obelisk.ffqn": str(ffqn)}
        if scheduled_at_us is not None:
            attributes["obelisk.scheduled_at_us"] = scheduled_at_us
        self._tracer.start_span(f"{verb} {ffqn}", attributes=attributes).end()

    def sleep_requested(self, now_us: int, expires_at_us: int) -> None:
        """A durable sleep: its span lasts until the delay expires (it is made, and ended, when requested: the run
        may not live that long)."""
        if not self._in_run():
            return
        span = self._tracer.start_span(
            "sleep", start_time=now_us * 1_000, attributes={"obelisk.sleep_us": expires_at_us - now_us}
        )
        span.end(end_time=max(now_us, expires_at_us) * 1_000)

    def http_request(self, method: str, scheme: str, host: str, port: int | None) -> HttpSpan | None:
        if not self._in_run():
            return None
        attributes: dict[str, str | int] = {"http.request.method": method, "server.address": host, "url.scheme": scheme}
        if port is not None:
            attributes["server.port"] = port
        # Named by the method alone, as OpenTelemetry's HTTP conventions ask when there is no route template.
        return HttpSpan(self._tracer.start_span(method, kind=SpanKind.CLIENT, attributes=attributes))

    # ------------------------------------------------------------------------------------------ executions
    def watch(self, storage: Storage) -> None:
        """Export the span of every execution whose finish ``storage`` commits in this process."""
        self._storage = storage
        storage.on_finished = self._finished

    def _finished(self, rows: Sequence[ExecutionRow]) -> None:
        for row in rows:
            # A finished execution is listed again when a late response reaches it (a child of a cancelled parent
            # finishing): its span went out already.
            if row.execution_id in self._exported_ids:
                continue
            self._exported_ids[row.execution_id] = None
            if len(self._exported_ids) > RECENTLY_EXPORTED:
                del self._exported_ids[next(iter(self._exported_ids))]
            task = asyncio.get_running_loop().create_task(self._emit_execution(row), name="trace execution span")
            self._emitting.add(task)
            task.add_done_callback(self._emitting.discard)

    async def _emit_execution(self, row: ExecutionRow) -> None:
        storage = self._storage
        if storage is None or self.detail is SpanDetail.NONE:
            return
        try:
            first = (await storage.list_events(row.execution_id, 0, 1))[0]
        except Exception as error:  # the span is not worth more than a line: never an engine error
            log.info("%s: execution span not exported: %s", row.execution_id, error)
            return
        created = first.event
        if not isinstance(created, Created) or created.trace is None or not created.trace.sampled:
            return
        finished_at = row.finished_at or first.created_at
        self.export_execution(row.execution_id, created, first.created_at, finished_at, row.result_kind)

    def export_execution(
        self, execution_id: str, created: Created, created_at_us: int, finished_at_us: int, result_kind: str | None
    ) -> None:
        context = created.trace
        assert context is not None
        attributes: dict[str, str] = {
            "obelisk.execution_id": execution_id,
            "obelisk.ffqn": str(created.ffqn),
            "obelisk.component_id": created.component_id,
        }
        if result_kind is not None:
            attributes["obelisk.result_kind"] = result_kind
        token = _chosen_ids.set((context.trace_id, execution_span_id(execution_id)))
        try:
            span = self._tracer.start_span(
                str(created.ffqn),
                context=_caller_context(context),
                start_time=created_at_us * 1_000,
                attributes=attributes,
            )
        finally:
            _chosen_ids.reset(token)
        if result_kind != ResultKind.OK.value:
            span.set_status(Status(StatusCode.ERROR, result_kind))
        span.end(end_time=max(created_at_us, finished_at_us) * 1_000)

    # ------------------------------------------------------------------------------------------ lifecycle
    async def close(self) -> None:
        """Export the execution spans still being made and everything buffered, then stop the exporter (before the
        storage closes: the execution spans read it)."""
        if self._emitting:
            await asyncio.wait(list(self._emitting), timeout=5)
        if self._storage is not None:
            self._storage.on_finished = None
        # The SDK's flush does not bound an export that retries; the wait for it is bounded here, then the exporter
        # gives up (interrupting its retries) and the shutdown drops what is left.
        flush = asyncio.ensure_future(asyncio.to_thread(self._provider.force_flush))
        await asyncio.wait([flush], timeout=CLOSE_FLUSH_SECONDS)
        self._exporter.stop()
        await asyncio.to_thread(self._provider.shutdown)
        await flush
