"""Runs one webhook request: a fresh Store and Instance, ``wasi:http/incoming-handler.handle``, the response.

Runs on a thread of the webhook's HTTP server. The request and the response cross into the guest through the
Python ``wasi:http`` layer (``obelisk.wasm.wasi_http``); the response head and body chunks are handed to a
``ResponseTarget`` as the guest produces them, so a streaming guest streams to its client. Imported functions
of other components are served as in the original: direct calls become child executions the thread waits
for, ``-schedule`` creates a top-level execution, ``-submit``/``-await-next`` are refused (they need a durable
caller, which a webhook is not). They are laid out in the Linker by ``obelisk.workers.host_imports``, as for
workflows; only what each does is a webhook's own.

Each request runs under a ``RequestControl``: its deadline is the epoch deadline of the store, and every wait of
the guest (for a child, in a ``wasi:io`` poll, writing the response) ends as soon as the request is stopped. A
stopped request finishes its execution record with the reason; the children it started keep running.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import wasmtime
from wasmtime.component import Component, Linker

from obelisk import guest_log_sink, tracing
from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.guest_logs import LogKind
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import ExecutionFailure, FinishedResult, Ok
from obelisk.concepts.trace_context import TRACEPARENT, TraceContext, incoming_traceparent
from obelisk.concepts.wit_time import schedule_at_from_json
from obelisk.concepts.wit_types import FunctionMetadata
from obelisk.guest_log_sink import StreamLines
from obelisk.registry import ImportKind, ResolvedImport
from obelisk.wasm.activity_wasi import LineForwarder, OutputForwarding
from obelisk.wasm.engine import WasmEngine
from obelisk.wasm.guest_failure import trap_failure
from obelisk.wasm.guest_output import GuestOutput, tee
from obelisk.wasm.host_calls import (
    GuestCallRefused,
    GuestError,
    GuestInstantiationError,
    GuestInterrupted,
    GuestTrap,
    call_guest,
    instantiate_guest,
    store_data,
)
from obelisk.wasm.introspect import ComponentInterfaces
from obelisk.wasm.wasi_http.io import InputStream, interruptible
from obelisk.wasm.wasi_http.linking import HTTP_TYPES, PythonWasi, define_python_wasi
from obelisk.wasm.wasi_http.objects import (
    BodySink,
    Fields,
    IncomingBody,
    IncomingRequest,
    OutgoingResponse,
    ResponseOutparam,
)
from obelisk.wasm.wasi_http.policy import OperatorPolicy, OutboundPolicy
from obelisk.wasm.wasi_http.state import WasiHttpState
from obelisk.webhooks.executions import WebhookExecutions, WebhookRecord
from obelisk.webhooks.request_control import RequestControl, RequestStopped, StopReason
from obelisk.workers.host_imports import (
    HostFunction,
    ImportHandlers,
    link_host_imports,
    params_from_wasm,
    result_to_wasm,
)
from obelisk.workers.workflow.child_results import direct_call_result

log = logging.getLogger(__name__)
guest_logger = logging.getLogger("obelisk.guest")

INCOMING_HANDLER = "wasi:http/incoming-handler"

T = TypeVar("T")


class WebhookError(ObeliskError):
    """The webhook component cannot serve requests (it does not export ``wasi:http/incoming-handler``)."""


class WebhookCallRefused(GuestCallRefused):
    """The guest called an imported function in a way a webhook may not (``-submit``, ``-await-next``)."""


class ResponseTarget(Protocol):
    """Receives the response as the guest produces it; every method is called from the webhook's thread."""

    def head(self, status: int, headers: list[tuple[str, bytes]]) -> None: ...

    def chunk(self, data: bytes) -> None: ...

    def end(self, error: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    method: str
    path_with_query: str
    authority: str
    headers: list[tuple[str, bytes]]
    body: bytes
    params: Mapping[str, str] = field(default_factory=dict)
    """Route parameters, passed to the guest as environment variables."""


def _request_trace(request: WebhookRequest) -> TraceContext | None:
    """The request's ``traceparent`` header; while traces are on, a new trace without one."""
    header = next((value for name, value in request.headers if name.lower() == TRACEPARENT), None)
    trace = incoming_traceparent(None if header is None else header.decode("latin-1"))
    tracer = tracing.active()
    return trace if tracer is None else tracer.context_for_submission(trace)


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    execution_id: ExecutionId
    error: str | None
    """Why the guest failed (trap, instantiation, refused call), or ``None``."""
    instantiation_failed: bool = False
    recorded: bool = False
    """Whether the request created an execution record (it called an imported function)."""
    stopped: StopReason | None = None
    """Why the request was stopped before its guest returned (deadline, disconnect, shutdown), if it was."""


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    component_id: str
    env: Mapping[str, str]
    forward_stdout: OutputForwarding = OutputForwarding.NONE
    forward_stderr: OutputForwarding = OutputForwarding.NONE
    request_timeout_seconds: float = 60.0
    memory_limit: int | None = None
    """``max_memory_size`` in bytes; ``None``: unlimited."""
    operator: OperatorPolicy | None = field(default=None, repr=False)
    """``[[outbound_http.allowed_host]]`` with its secrets, for the guest's outgoing requests; ``None``: allow all."""


class WebhookCalls:
    """The bridge from a webhook's thread to the server loop, where executions are created and awaited."""

    def __init__(self, executions: WebhookExecutions, loop: asyncio.AbstractEventLoop) -> None:
        self.executions = executions
        self.loop = loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs ``coroutine`` on the loop and waits for it, however long it takes (a write, not a wait)."""
        return self.submit(coroutine).result()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)


@dataclass
class _StoreData:
    wasi_http: WasiHttpState
    record: WebhookRecord
    calls: WebhookCalls | None
    component_id: str
    control: RequestControl
    output: GuestOutput
    """What the guest wrote to stdout and stderr while serving the request (``obelisk.wasm.guest_output``)."""


class _ResponseSink(BodySink):
    def __init__(self, target: ResponseTarget, control: RequestControl) -> None:
        super().__init__()
        self._target = target
        self._control = control

    def write(self, data: bytes) -> None:
        self._control.check()  # a guest streaming to a client that is gone, or past its deadline, stops here
        self._target.chunk(data)

    def finish(self) -> None:
        super().finish()
        self._target.end(None)

    def abort(self, reason: str) -> None:
        super().abort(reason)
        self._target.end(reason)


class WebhookWorker:
    def __init__(
        self,
        *,
        engine: WasmEngine,
        component: Component,
        interfaces: ComponentInterfaces,
        resolved_imports: Sequence[ResolvedImport],
        settings: WebhookSettings,
        calls: WebhookCalls | None,
    ) -> None:
        self._engine = engine
        self._component = component
        self._settings = settings
        self._calls = calls
        handler = next((i for i in interfaces.exported_interfaces if i.split("@")[0] == INCOMING_HANDLER), None)
        ifc_index = component.get_export_index(handler) if handler else None
        fn_index = component.get_export_index("handle", ifc_index) if ifc_index else None
        if fn_index is None:
            raise WebhookError(f"{settings.component_id} does not export {INCOMING_HANDLER}.handle")
        self._handle_index = fn_index
        self._linker = Linker(engine.engine)
        self._linker.add_wasip2()
        self._wasi: PythonWasi = define_python_wasi(self._linker, engine.engine, component)
        link_host_imports(
            self._linker, interfaces, resolved_imports, guest_log=_guest_log, import_handlers=_IMPORT_HANDLERS
        )

    @property
    def component_id(self) -> str:
        return self._settings.component_id

    @property
    def request_timeout_seconds(self) -> float:
        return self._settings.request_timeout_seconds

    def handle(
        self, request: WebhookRequest, target: ResponseTarget, control: RequestControl | None = None
    ) -> WebhookOutcome:
        """Serve one request; never raises for anything the guest does (the outcome says what went wrong).

        ``control`` carries the request's deadline (by default ``request_timeout_seconds`` from now) and its stop
        signal; a request stopped before it started does not instantiate the guest at all.
        """
        if control is None:
            control = RequestControl(time.monotonic() + self._settings.request_timeout_seconds)
        record = WebhookRecord(
            ExecutionId.generate(),
            self._settings.component_id,
            request.method,
            request.path_with_query,
            trace=_request_trace(request),
        )
        try:
            control.check()
        except RequestStopped as stopped:
            target.end(str(stopped))
            return WebhookOutcome(record.execution_id, str(stopped), stopped=stopped.reason)
        prefix = f"[{self._settings.component_id} {record.execution_id}"
        output = GuestOutput()
        operator = self._settings.operator
        outbound = OutboundPolicy(
            operator=operator,
            placeholders=operator.new_placeholders() if operator is not None else {},
            owner=self._settings.component_id,
            execution_id=str(record.execution_id),
        )
        state = WasiHttpState(
            outbound=outbound,
            stdout=tee(
                output.stdout,
                _forwarder(f"{prefix} stdout] ", self._settings.forward_stdout),
                StreamLines(record.execution_id, "", LogKind.STDOUT),
            ),
            stderr=tee(
                output.stderr,
                _forwarder(f"{prefix} stderr] ", self._settings.forward_stderr),
                StreamLines(record.execution_id, "", LogKind.STDERR),
            ),
            response_sink=lambda: _ResponseSink(target, control),
        )
        data = _StoreData(state, record, self._calls, self._settings.component_id, control, output)
        store = self._engine.new_store(
            deadline_seconds=control.remaining(), data=data, memory_limit=self._settings.memory_limit
        )
        with interruptible(control.check):
            return self._serve(request, target, control, store, data)

    def _serve(
        self,
        request: WebhookRequest,
        target: ResponseTarget,
        control: RequestControl,
        store: wasmtime.Store,
        data: _StoreData,
    ) -> WebhookOutcome:
        record, state = data.record, data.wasi_http
        wasi = wasmtime.WasiConfig()
        # A secret's name holds its placeholder; the config refuses env_vars of the same name.
        wasi.env = [*self._settings.env.items(), *request.params.items(), *state.outbound.placeholders.items()]
        wasi.argv = []
        store.set_wasi(wasi)
        error: str | None = None
        detail: str | None = None
        try:
            instance = instantiate_guest(self._linker, store, self._component, what=self._settings.component_id)
        except GuestInterrupted:
            control.stop(StopReason.DEADLINE)
            target.end(StopReason.DEADLINE.value)
            return WebhookOutcome(record.execution_id, StopReason.DEADLINE.value, stopped=StopReason.DEADLINE)
        except (GuestInstantiationError, GuestError) as failure:
            log.warning(
                "%s: %s %s: cannot instantiate: %s",
                record.execution_id,
                request.method,
                request.path_with_query,
                failure,
            )
            target.end(str(failure))
            return WebhookOutcome(record.execution_id, str(failure), instantiation_failed=True)
        func = instance.get_func(store, self._handle_index)
        incoming = IncomingRequest(
            method=request.method,
            path_with_query=request.path_with_query,
            scheme="http",
            authority=request.authority,
            headers=Fields(list(request.headers), immutable=True),
            body=IncomingBody(InputStream(request.body)),
        )

        def deliver(response: OutgoingResponse | str) -> None:
            if isinstance(response, str):
                target.end(response)
            else:
                target.head(response.status, list(response.headers.entries))

        request_handle = self._wasi.own(state, HTTP_TYPES, "incoming-request", incoming)
        outparam_handle = self._wasi.own(state, HTTP_TYPES, "response-outparam", ResponseOutparam(deliver))
        stopped: StopReason | None = None
        try:
            call_guest(func, store, request_handle, outparam_handle)
        except GuestInterrupted:  # the epoch deadline stopped a guest that was computing
            control.stop(StopReason.DEADLINE)
            stopped = StopReason.DEADLINE
        except RequestStopped as failure:  # a wait of the guest was cut short
            stopped = failure.reason
        except GuestTrap as trap:
            trapped = trap_failure(trap, data.output)
            error, detail = trapped.reason, trapped.detail
        except GuestError as failure:
            error, detail = failure.reason, failure.backtrace
        except ObeliskError as failure:  # a call refused (GuestCallRefused), a child that cannot be started
            error = str(failure)
        except Exception as failure:  # a bug of the host layer must not take the server down either
            log.exception("%s: host error while serving the request", record.execution_id)
            error = f"{type(failure).__name__}: {failure}"
        if stopped is not None:
            error = stopped.value
        if error is not None:
            log.info(
                "%s: %s %s: webhook failed: %s", record.execution_id, request.method, request.path_with_query, error
            )
        target.end(error)
        if record.created and self._calls is not None:
            result: FinishedResult = Ok(None) if error is None else ExecutionFailure(error, detail)
            try:
                self._calls.run(self._calls.executions.finish(record, result))
            except Exception:  # a storage fault, or the server's loop already gone: the request is over either way
                log.exception("%s: cannot finish the webhook's execution record", record.execution_id)
        return WebhookOutcome(record.execution_id, error, recorded=record.created, stopped=stopped)


def _forwarder(prefix: str, target: OutputForwarding) -> Callable[[bytes], None] | None:
    return None if target is OutputForwarding.NONE else LineForwarder(prefix, target)


# ---- imports ------------------------------------------------------------------------------------------------------


def _data(context: Any) -> _StoreData:
    data: _StoreData = store_data(context)
    return data


def _calls_of(data: _StoreData) -> WebhookCalls:
    if data.calls is None:
        raise WebhookCallRefused("this webhook runs without an execution service; it cannot call other components")
    return data.calls


def _starting(
    context: Any, metadata: FunctionMetadata, args: Sequence[Any]
) -> tuple[_StoreData, WebhookCalls, list[Any]]:
    """What a call that starts an execution needs; refused without an execution service, and once the request is
    stopped (a stopped request starts no more children)."""
    data = _data(context)
    params = params_from_wasm(metadata, args)
    calls = _calls_of(data)
    data.control.check()
    return data, calls, params


def _guest_log(context: Any, level: int, message: str) -> None:
    data = _data(context)
    guest_logger.log(level, "[%s %s] %s", data.component_id, data.record.execution_id, message)
    guest_log_sink.emit(data.record.execution_id, "", LogKind.of_level(level), message)


def _refused(resolved: ResolvedImport) -> HostFunction:
    def refused(context: Any, *args: Any) -> Any:
        raise WebhookCallRefused(
            f"{resolved.imported.ffqn}: a webhook cannot use -submit or -await-next (it has no durable join sets); "
            f"call {resolved.callee_ffqn} directly or use -schedule"
        )

    return refused


def _schedule(resolved: ResolvedImport) -> HostFunction:
    metadata = resolved.imported

    def schedule(context: Any, *args: Any) -> Any:
        data, calls, params = _starting(context, metadata, args)
        new_id = calls.run(
            calls.executions.schedule(data.record, resolved.callee, schedule_at_from_json(params[0]), params[1:])
        )
        return result_to_wasm(metadata, {"id": str(new_id)})

    return schedule


def _direct_call(resolved: ResolvedImport) -> HostFunction:
    metadata = resolved.imported

    def direct_call(context: Any, *args: Any) -> Any:
        data, calls, params = _starting(context, metadata, args)
        child_id = calls.run(calls.executions.start_call(data.record, resolved.callee, params))
        result = data.control.wait(calls.submit(calls.executions.result_of(child_id)))
        return result_to_wasm(metadata, direct_call_result(result))

    return direct_call


_IMPORT_HANDLERS: ImportHandlers = {
    ImportKind.DIRECT_CALL: _direct_call,
    ImportKind.SUBMIT: _refused,
    ImportKind.AWAIT_NEXT: _refused,
    ImportKind.SCHEDULE: _schedule,
}
