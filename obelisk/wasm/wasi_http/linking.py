"""Defines ``wasi:io``, ``wasi:http/types`` and ``wasi:http/outgoing-handler`` in Python on a component's Linker.

With wasmtime's built-in wasi:http the host can neither build an ``incoming-request`` (so it cannot call a
webhook) nor see where an outgoing request goes (so it cannot enforce an allowlist). Defining these interfaces in
Python, under the exact versioned names the guest imports, makes them win over the built-ins. Every other
imported interface whose functions mention one of these resources (stdout's ``output-stream``, the monotonic
clock's ``pollable``, sockets, filesystem, ...) must then be defined here too, or its resource types would not
match: that closure is found from the component's own import types. Functions of the closure that a sandboxed
guest has no business calling (sockets, files) trap with a message naming them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import wasmtime
from wasmtime import component as C

from obelisk.wasm.wasi_http.io import (
    EventPollable,
    InputStream,
    IoError,
    OutputStream,
    Pollable,
    ReadyPollable,
    StreamClosed,
    StreamFailed,
    TimerPollable,
    poll_many,
)
from obelisk.wasm.wasi_http.lowering import shaper
from obelisk.wasm.wasi_http.objects import (
    BodySink,
    ErrorCode,
    Fields,
    FutureIncomingResponse,
    HeaderError,
    IncomingBody,
    IncomingRequest,
    IncomingResponse,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    RequestOptions,
    ResponseOutparam,
)
from obelisk.wasm.wasi_http.state import WasiHttpError, WasiHttpState, state_of

IO_POLL = "wasi:io/poll"
IO_ERROR = "wasi:io/error"
IO_STREAMS = "wasi:io/streams"
HTTP_TYPES = "wasi:http/types"
HTTP_OUTGOING = "wasi:http/outgoing-handler"
ROOTS = (IO_POLL, IO_ERROR, IO_STREAMS, HTTP_TYPES)

_type_ids = itertools.count(0x0B_E1_15_00)
_type_ids_lock = threading.Lock()

Impl = Callable[..., Any]


def base_name(interface: str) -> str:
    """``wasi:io/poll@0.2.9`` -> ``wasi:io/poll``."""
    return interface.split("@", 1)[0]


class WasiNotProvided(WasiHttpError):
    """The guest called a WASI function this host does not offer to its kind of component."""


@dataclass
class PythonWasi:
    """The result of ``define_python_wasi``: which interfaces are Python's, and the type ids of its resources."""

    interfaces: list[str]
    type_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    """``(base interface name, resource name) -> host type id``."""
    implemented: int = 0
    stubs: int = 0

    def own(self, state: WasiHttpState, interface: str, resource: str, obj: object) -> C.ResourceHost:
        """A new owned handle to ``obj``, to pass into the guest (e.g. a webhook's ``incoming-request``)."""
        return C.ResourceHost.own(state.add(obj), self.type_ids[(interface, resource)])


def shadowed_interfaces(engine: wasmtime.Engine, component: C.Component, roots: tuple[str, ...] = ROOTS) -> list[str]:
    """The imported interfaces (exact names, import order) that must be defined in Python along with ``roots``."""
    return _shadowed(_import_items(engine, component), roots)


_ImportItems = dict[str, dict[str, Any]]
"""Per imported instance (exact name, import order): its items by name, as types (``FuncType``,
``ResourceType``, ...). Walking a componentize-py component's 25 WASI imports through wasmtime-py costs a few ms,
so it is done once per linker."""


def _import_items(engine: wasmtime.Engine, component: C.Component) -> _ImportItems:
    items: _ImportItems = {}
    for name, item in component.type.imports(engine).items():
        instance_type = _instance_type(item)
        if instance_type is not None:
            items[name] = {n: getattr(x, "ty", x) for n, x in instance_type.exports(engine).items()}
    return items


def _shadowed(imports: _ImportItems, roots: tuple[str, ...]) -> list[str]:
    seen: list[tuple[str, Any]] = []
    uses: dict[str, set[str]] = {}
    for name, items in imports.items():
        for export in items.values():
            if isinstance(export, C.ResourceType):
                origin = next((i for i, t in seen if t == export), None)
                if origin is None:
                    seen.append((name, export))
                else:
                    uses.setdefault(name, set()).add(origin)
    chosen = {name for name in imports if base_name(name) in roots}
    while True:
        more = {name for name, origins in uses.items() if origins & chosen} - chosen
        if not more:
            break
        chosen |= more
    return [name for name in imports if name in chosen]


def _resource_origins(imports: _ImportItems) -> list[tuple[str, Any]]:
    """Each resource type with ``interface#name`` of its first appearance: where it is defined (later names of the
    same type, such as ``headers`` for ``fields``, are aliases)."""
    seen: list[tuple[str, Any]] = []
    for name, items in imports.items():
        for item_name, export in items.items():
            if isinstance(export, C.ResourceType) and _origin(seen, export) is None:
                seen.append((f"{name}#{item_name}", export))
    return seen


def _origin(origins: list[tuple[str, Any]], resource: Any) -> str | None:
    return next((name for name, t in origins if t == resource), None)


def _instance_type(item: Any) -> Any:
    ty = getattr(item, "ty", item)
    return ty if isinstance(ty, C.ComponentInstanceType) else None


def define_python_wasi(
    linker: C.Linker, engine: wasmtime.Engine, component: C.Component, roots: tuple[str, ...] = ROOTS
) -> PythonWasi:
    """Define the Python WASI interfaces the component needs on ``linker`` (after ``add_wasip2``)."""
    imports = _import_items(engine, component)
    names = _shadowed(imports, roots)
    result = PythonWasi(interfaces=names)
    host = _Host(result)
    linker.allow_shadowing = True
    origins = _resource_origins(imports)
    with linker.root() as root:
        for name in names:
            base = base_name(name)
            exports = imports[name]
            with root.add_instance(name) as instance:
                for item_name, item in exports.items():
                    if isinstance(item, C.ResourceType) and _origin(origins, item) == f"{name}#{item_name}":
                        with _type_ids_lock:
                            type_id = next(_type_ids)
                        result.type_ids[(base, item_name)] = type_id
                        instance.add_resource(item_name, C.ResourceType.host(type_id), _drop)
                for item_name, item in exports.items():
                    if not isinstance(item, C.FuncType):
                        continue
                    impl = _IMPLS.get((base, item_name))
                    if impl is None:
                        result.stubs += 1
                        instance.add_func(item_name, _stub(name, item_name))
                    else:
                        result.implemented += 1
                        instance.add_func(item_name, _bind(host, impl, item))
    return result


def _bind(host: _Host, impl: Impl, func_type: Any) -> Callable[..., Any]:
    shape = shaper(func_type.result) if func_type.result is not None else None

    def call(context: Any, *args: Any) -> Any:
        value = impl(host, _Call(state_of(context), context), *args)
        return shape(value) if shape is not None else value

    call.__qualname__ = getattr(impl, "__name__", "wasi")
    return call


_INSTEAD = {
    "wasi:sockets": "activities and webhooks have no sockets; make HTTP requests with wasi:http/outgoing-handler",
    "wasi:filesystem": "activities and webhooks have no filesystem; pass data as parameters or env_vars",
}
"""What to use instead of a WASI package this host does not provide, by package."""


def _stub(interface: str, function: str) -> Callable[..., Any]:
    instead = _INSTEAD.get(interface.split("/", 1)[0])
    message = f"the component called {interface}#{function}, which this host does not provide"
    if instead is not None:
        message += f": {instead}"

    def stub(context: Any, *args: Any) -> Any:
        raise WasiNotProvided(message)

    stub.__qualname__ = f"stub {interface}#{function}"
    return stub


def _drop(context: Any, rep: int) -> None:
    obj = state_of(context).remove(rep)
    if isinstance(obj, OutgoingBody):
        obj.dropped()
    elif isinstance(obj, OutputStream):
        obj.close()
    elif isinstance(obj, ResponseOutparam) and not obj.used:
        obj.used = True
        obj.deliver("the guest dropped its response-outparam without setting a response")


class _Host:
    def __init__(self, wasi: PythonWasi) -> None:
        self.wasi = wasi


class _Call:
    """One host call: resolves handles to objects in the caller's store and makes new handles."""

    __slots__ = ("context", "state")

    def __init__(self, state: WasiHttpState, context: Any) -> None:
        self.state = state
        self.context = context

    def get(self, handle: Any) -> Any:
        return self.state.lookup(handle.to_host(self.context).rep)

    def take(self, handle: Any) -> Any:
        rep = handle.to_host(self.context).rep
        obj = self.state.lookup(rep)
        self.state.remove(rep)
        return obj


def _own(host: _Host, call: _Call, interface: str, resource: str, obj: object) -> C.ResourceHost:
    return host.wasi.own(call.state, interface, resource, obj)


OK = C.Variant("ok")
NONE = C.Variant("none")


def _ok(value: Any = None) -> C.Variant:
    return C.Variant("ok", value)


def _err(value: Any = None) -> C.Variant:
    return C.Variant("err", value)


def _some(value: Any) -> C.Variant:
    return C.Variant("some", value)


def _option(value: Any) -> C.Variant:
    return NONE if value is None else _some(value)


def error_code_value(code: ErrorCode) -> C.Variant:
    """The ``error-code`` variant value for wasmtime (payloads in the tagged form the shaper expects)."""
    if code.case == "internal-error":
        return C.Variant(code.case, _option(code.payload))
    if code.case == "DNS-error":
        rcode, info = code.payload if isinstance(code.payload, tuple) else (None, None)
        record: Any = C.Record()
        for wit_name, value in (("rcode", rcode), ("info-code", info)):
            setattr(record, wit_name, _option(value))  # wasmtime reads fields by their WIT names
        return C.Variant(code.case, record)
    if code.case == "HTTP-request-body-size":
        return C.Variant(code.case, _option(code.payload))
    return C.Variant(code.case)


# ---- wasi:io ------------------------------------------------------------------------------------------------------


def _stream_error(host: _Host, call: _Call, error: Exception) -> C.Variant:
    if isinstance(error, StreamFailed):
        return _err(C.Variant("last-operation-failed", _own(host, call, IO_ERROR, "error", error.error)))
    return _err(C.Variant("closed"))


def _stream_op(op: Callable[..., Any], *, waits: bool = False) -> Impl:
    """A stream method; one that ``waits`` is also given the store's deadline."""

    def impl(host: _Host, call: _Call, handle: Any, *args: Any) -> Any:
        try:
            if waits:
                return _ok(op(call.get(handle), *args, deadline=call.state.deadline))
            return _ok(op(call.get(handle), *args))
        except (StreamClosed, StreamFailed) as error:
            return _stream_error(host, call, error)

    impl.__name__ = getattr(op, "__name__", "stream-op")
    return impl


def _skip(stream: InputStream, length: int) -> int:
    return len(stream.read(length))


def _blocking_skip(stream: InputStream, length: int, *, deadline: float | None) -> int:
    return len(stream.blocking_read(length, deadline))


def _write(stream: OutputStream, data: bytes) -> None:
    stream.write(data)


def _flush(stream: OutputStream) -> None:
    stream.check_write()


def _write_zeroes(stream: OutputStream, length: int) -> None:
    stream.write(bytes(length))


def _splice(stream: OutputStream, source: InputStream, length: int) -> int:
    data = source.read(length)
    stream.write(data)
    return len(data)


def _blocking_splice(stream: OutputStream, source: InputStream, length: int, *, deadline: float | None) -> int:
    data = source.blocking_read(length, deadline)
    stream.write(data)
    return len(data)


def _subscribe_stream(host: _Host, call: _Call, handle: Any) -> Any:
    return _own(host, call, IO_POLL, "pollable", call.get(handle).pollable())


def _splice_impl(op: Callable[..., int], *, waits: bool = False) -> Impl:
    def impl(host: _Host, call: _Call, handle: Any, source: Any, length: int) -> Any:
        try:
            if waits:
                return _ok(op(call.get(handle), call.get(source), length, deadline=call.state.deadline))
            return _ok(op(call.get(handle), call.get(source), length))
        except (StreamClosed, StreamFailed) as error:
            return _stream_error(host, call, error)

    return impl


def _poll(host: _Host, call: _Call, handles: list[Any]) -> list[int]:
    pollables: list[Pollable] = [call.get(h) for h in handles]
    return poll_many(pollables, call.state.deadline)


def _block(host: _Host, call: _Call, handle: Any) -> None:
    pollable: Pollable = call.get(handle)
    pollable.block(call.state.deadline)


# ---- cli, clocks, filesystem ------------------------------------------------------------------------------------


def _output(which: str) -> Impl:
    def impl(host: _Host, call: _Call) -> Any:
        target = call.state.stdout if which == "stdout" else call.state.stderr
        return _own(host, call, IO_STREAMS, "output-stream", OutputStream(target or (lambda data: None)))

    return impl


def _stdin(host: _Host, call: _Call) -> Any:
    return _own(host, call, IO_STREAMS, "input-stream", InputStream(b""))


def _subscribe_instant(host: _Host, call: _Call, when_ns: int) -> Any:
    return _own(host, call, IO_POLL, "pollable", TimerPollable(when_ns / 1e9))


def _subscribe_duration(host: _Host, call: _Call, duration_ns: int) -> Any:
    return _own(host, call, IO_POLL, "pollable", TimerPollable(time.monotonic() + duration_ns / 1e9))


# ---- wasi:http/types --------------------------------------------------------------------------------------------

_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}


def method_value(method: str) -> C.Variant:
    upper = method.upper()
    return C.Variant(upper.lower()) if upper in _METHODS else C.Variant("other", method)


def method_text(value: Any) -> str:
    if isinstance(value, C.Variant):
        return str(value.payload) if value.tag == "other" else value.tag.upper()
    return str(value)


def _scheme_value(scheme: str | None) -> C.Variant:
    if scheme is None:
        return NONE
    lower = scheme.lower()
    return _some(
        C.Variant("HTTP") if lower == "http" else C.Variant("HTTPS") if lower == "https" else C.Variant("other", scheme)
    )


def _scheme_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, C.Variant):
        return str(value.payload) if value.tag == "other" else value.tag.lower()
    return str(value)


def _header_op(op: Callable[..., None]) -> Impl:
    def impl(host: _Host, call: _Call, handle: Any, *args: Any) -> Any:
        try:
            op(call.get(handle), *args)
        except HeaderError as error:
            return _err(C.Variant(error.case))
        return _ok()

    return impl


def _fields_new(host: _Host, call: _Call) -> Any:
    return _own(host, call, HTTP_TYPES, "fields", Fields())


def _fields_from_list(host: _Host, call: _Call, entries: list[tuple[str, bytes]]) -> Any:
    try:
        fields = Fields.checked([(name, bytes(value)) for name, value in entries])
    except HeaderError as error:
        return _err(C.Variant(error.case))
    return _ok(_own(host, call, HTTP_TYPES, "fields", fields))


def _fields_clone(host: _Host, call: _Call, handle: Any) -> Any:
    return _own(host, call, HTTP_TYPES, "fields", call.get(handle).copy())


def _headers_of(host: _Host, call: _Call, handle: Any) -> Any:
    return _own(host, call, HTTP_TYPES, "fields", call.get(handle).headers.copy(immutable=True))


def _consume_incoming(host: _Host, call: _Call, handle: Any) -> Any:
    message: IncomingRequest | IncomingResponse = call.get(handle)
    if message.body_taken:
        return _err()
    message.body_taken = True
    return _ok(_own(host, call, HTTP_TYPES, "incoming-body", message.body))


def _incoming_body_stream(host: _Host, call: _Call, handle: Any) -> Any:
    body: IncomingBody = call.get(handle)
    if body.stream_taken:
        return _err()
    body.stream_taken = True
    return _ok(_own(host, call, IO_STREAMS, "input-stream", body.stream))


def _incoming_body_finish(host: _Host, call: _Call, handle: Any) -> Any:
    call.take(handle)
    return _own(host, call, HTTP_TYPES, "future-trailers", ReadyPollable())


def _future_trailers_subscribe(host: _Host, call: _Call, handle: Any) -> Any:
    return _own(host, call, IO_POLL, "pollable", ReadyPollable())


def _future_trailers_get(host: _Host, call: _Call, handle: Any) -> Any:
    return _some(_ok(_ok(NONE)))


def _outgoing_response_new(host: _Host, call: _Call, headers: Any) -> Any:
    fields: Fields = call.take(headers)
    response = OutgoingResponse(fields.copy(), call.state.response_sink())
    return _own(host, call, HTTP_TYPES, "outgoing-response", response)


def _set_status(host: _Host, call: _Call, handle: Any, status: int) -> Any:
    if not 100 <= status <= 999:
        return _err()
    call.get(handle).status = status
    return _ok()


def _outgoing_response_body(host: _Host, call: _Call, handle: Any) -> Any:
    response: OutgoingResponse = call.get(handle)
    if response.body is not None:
        return _err()
    response.body = OutgoingBody(response.sink)
    return _ok(_own(host, call, HTTP_TYPES, "outgoing-body", response.body))


def _outgoing_body_write(host: _Host, call: _Call, handle: Any) -> Any:
    body: OutgoingBody = call.get(handle)
    if body.stream is not None:
        return _err()
    return _ok(_own(host, call, IO_STREAMS, "output-stream", body.write_stream()))


def _outgoing_body_finish(host: _Host, call: _Call, handle: Any, trailers: Any) -> Any:
    body: OutgoingBody = call.take(handle)
    if trailers is not None:
        call.take(trailers)
    body.finish()
    return _ok()


def _outparam_set(host: _Host, call: _Call, handle: Any, response: Any) -> None:
    outparam: ResponseOutparam = call.take(handle)
    if outparam.used:
        raise WasiHttpError("response-outparam.set called twice")
    outparam.used = True
    if isinstance(response, C.Variant):  # err(error-code)
        outparam.deliver(f"the guest answered with error-code {response.tag}")
        return
    outparam.deliver(call.take(response))


def _incoming_request_get(attribute: str) -> Impl:
    def impl(host: _Host, call: _Call, handle: Any) -> Any:
        request: IncomingRequest = call.get(handle)
        if attribute == "method":
            return method_value(request.method)
        if attribute == "scheme":
            return _scheme_value(request.scheme)
        return _option(getattr(request, attribute) or None)

    return impl


def _outgoing_request_new(host: _Host, call: _Call, headers: Any) -> Any:
    fields: Fields = call.take(headers)
    return _own(host, call, HTTP_TYPES, "outgoing-request", OutgoingRequest(fields.copy()))


def _outgoing_request_body(host: _Host, call: _Call, handle: Any) -> Any:
    request: OutgoingRequest = call.get(handle)
    if request.body_taken:
        return _err()
    request.body_taken = True
    request.body = OutgoingBody(BodySink())
    return _ok(_own(host, call, HTTP_TYPES, "outgoing-body", request.body))


def _outgoing_request_get(attribute: str) -> Impl:
    def impl(host: _Host, call: _Call, handle: Any) -> Any:
        request: OutgoingRequest = call.get(handle)
        if attribute == "method":
            return method_value(request.method)
        if attribute == "scheme":
            return _scheme_value(request.scheme)
        return _option(getattr(request, attribute))

    return impl


def _outgoing_request_set(attribute: str) -> Impl:
    def impl(host: _Host, call: _Call, handle: Any, value: Any) -> Any:
        request: OutgoingRequest = call.get(handle)
        if attribute == "method":
            request.method = method_text(value)
        elif attribute == "scheme":
            request.scheme = _scheme_text(value)
        else:
            setattr(request, attribute, value)
        return _ok()

    return impl


def _options_new(host: _Host, call: _Call) -> Any:
    return _own(host, call, HTTP_TYPES, "request-options", RequestOptions())


def _options_get(attribute: str) -> Impl:
    def impl(host: _Host, call: _Call, handle: Any) -> Any:
        return _option(getattr(call.get(handle), attribute))

    return impl


def _options_set(attribute: str) -> Impl:
    def impl(host: _Host, call: _Call, handle: Any, value: int | None) -> Any:
        setattr(call.get(handle), attribute, value)
        return _ok()

    return impl


def _incoming_response_status(host: _Host, call: _Call, handle: Any) -> int:
    return int(call.get(handle).status)


def _future_response_subscribe(host: _Host, call: _Call, handle: Any) -> Any:
    future: FutureIncomingResponse = call.get(handle)
    return _own(host, call, IO_POLL, "pollable", EventPollable(future.done))


def _future_response_get(host: _Host, call: _Call, handle: Any) -> Any:
    future: FutureIncomingResponse = call.get(handle)
    if not future.done.is_set():
        return NONE
    if future.consumed:
        return _some(_err())
    future.consumed = True
    if future.error is not None:
        return _some(_ok(_err(error_code_value(future.error))))
    assert future.response is not None
    return _some(_ok(_ok(_own(host, call, HTTP_TYPES, "incoming-response", future.response))))


def _outgoing_handle(host: _Host, call: _Call, request_handle: Any, options_handle: Any) -> Any:
    request: OutgoingRequest = call.take(request_handle)
    options: RequestOptions | None = call.take(options_handle) if options_handle is not None else None
    # Imported at the first request: http.client and ssl cost ~50 ms, which a server start should not pay for
    # activities that may never make one.
    from obelisk.wasm.wasi_http.outgoing import start_request  # noqa: PLC0415

    started = start_request(call.state, request, options)
    if isinstance(started, ErrorCode):
        return _err(error_code_value(started))
    return _ok(_own(host, call, HTTP_TYPES, "future-incoming-response", started))


def _no_error_code(host: _Host, call: _Call, handle: Any) -> Any:
    return NONE


def _debug_string(host: _Host, call: _Call, handle: Any) -> str:
    error: IoError = call.get(handle)
    return error.message


def _resource_method(fn: Callable[..., Any]) -> Impl:
    def impl(host: _Host, call: _Call, handle: Any, *args: Any) -> Any:
        return fn(call.get(handle), *args)

    return impl


_IMPLS: dict[tuple[str, str], Impl] = {
    (IO_ERROR, "[method]error.to-debug-string"): _debug_string,
    (IO_POLL, "[method]pollable.ready"): _resource_method(lambda p: p.ready()),
    (IO_POLL, "[method]pollable.block"): _block,
    (IO_POLL, "poll"): _poll,
    (IO_STREAMS, "[method]input-stream.read"): _stream_op(InputStream.read),
    (IO_STREAMS, "[method]input-stream.blocking-read"): _stream_op(InputStream.blocking_read, waits=True),
    (IO_STREAMS, "[method]input-stream.skip"): _stream_op(_skip),
    (IO_STREAMS, "[method]input-stream.blocking-skip"): _stream_op(_blocking_skip, waits=True),
    (IO_STREAMS, "[method]input-stream.subscribe"): _subscribe_stream,
    (IO_STREAMS, "[method]output-stream.check-write"): _stream_op(OutputStream.check_write),
    (IO_STREAMS, "[method]output-stream.write"): _stream_op(_write),
    (IO_STREAMS, "[method]output-stream.blocking-write-and-flush"): _stream_op(_write),
    (IO_STREAMS, "[method]output-stream.flush"): _stream_op(_flush),
    (IO_STREAMS, "[method]output-stream.blocking-flush"): _stream_op(_flush),
    (IO_STREAMS, "[method]output-stream.subscribe"): _subscribe_stream,
    (IO_STREAMS, "[method]output-stream.write-zeroes"): _stream_op(_write_zeroes),
    (IO_STREAMS, "[method]output-stream.blocking-write-zeroes-and-flush"): _stream_op(_write_zeroes),
    (IO_STREAMS, "[method]output-stream.splice"): _splice_impl(_splice),
    (IO_STREAMS, "[method]output-stream.blocking-splice"): _splice_impl(_blocking_splice, waits=True),
    ("wasi:cli/stdout", "get-stdout"): _output("stdout"),
    ("wasi:cli/stderr", "get-stderr"): _output("stderr"),
    ("wasi:cli/stdin", "get-stdin"): _stdin,
    ("wasi:clocks/monotonic-clock", "now"): lambda host, call: time.monotonic_ns(),
    ("wasi:clocks/monotonic-clock", "resolution"): lambda host, call: 1,
    ("wasi:clocks/monotonic-clock", "subscribe-instant"): _subscribe_instant,
    ("wasi:clocks/monotonic-clock", "subscribe-duration"): _subscribe_duration,
    ("wasi:filesystem/preopens", "get-directories"): lambda host, call: [],
    ("wasi:filesystem/types", "filesystem-error-code"): _no_error_code,
    (HTTP_TYPES, "http-error-code"): _no_error_code,
    (HTTP_TYPES, "[constructor]fields"): _fields_new,
    (HTTP_TYPES, "[static]fields.from-list"): _fields_from_list,
    (HTTP_TYPES, "[method]fields.get"): _resource_method(lambda f, name: f.get(name)),
    (HTTP_TYPES, "[method]fields.has"): _resource_method(lambda f, name: f.has(name)),
    (HTTP_TYPES, "[method]fields.set"): _header_op(Fields.set),
    (HTTP_TYPES, "[method]fields.delete"): _header_op(Fields.delete),
    (HTTP_TYPES, "[method]fields.append"): _header_op(Fields.append),
    (HTTP_TYPES, "[method]fields.entries"): _resource_method(lambda f: list(f.entries)),
    (HTTP_TYPES, "[method]fields.clone"): _fields_clone,
    (HTTP_TYPES, "[method]incoming-request.method"): _incoming_request_get("method"),
    (HTTP_TYPES, "[method]incoming-request.path-with-query"): _incoming_request_get("path_with_query"),
    (HTTP_TYPES, "[method]incoming-request.scheme"): _incoming_request_get("scheme"),
    (HTTP_TYPES, "[method]incoming-request.authority"): _incoming_request_get("authority"),
    (HTTP_TYPES, "[method]incoming-request.headers"): _headers_of,
    (HTTP_TYPES, "[method]incoming-request.consume"): _consume_incoming,
    (HTTP_TYPES, "[constructor]outgoing-request"): _outgoing_request_new,
    (HTTP_TYPES, "[method]outgoing-request.body"): _outgoing_request_body,
    (HTTP_TYPES, "[method]outgoing-request.method"): _outgoing_request_get("method"),
    (HTTP_TYPES, "[method]outgoing-request.set-method"): _outgoing_request_set("method"),
    (HTTP_TYPES, "[method]outgoing-request.path-with-query"): _outgoing_request_get("path_with_query"),
    (HTTP_TYPES, "[method]outgoing-request.set-path-with-query"): _outgoing_request_set("path_with_query"),
    (HTTP_TYPES, "[method]outgoing-request.scheme"): _outgoing_request_get("scheme"),
    (HTTP_TYPES, "[method]outgoing-request.set-scheme"): _outgoing_request_set("scheme"),
    (HTTP_TYPES, "[method]outgoing-request.authority"): _outgoing_request_get("authority"),
    (HTTP_TYPES, "[method]outgoing-request.set-authority"): _outgoing_request_set("authority"),
    (HTTP_TYPES, "[method]outgoing-request.headers"): _headers_of,
    (HTTP_TYPES, "[constructor]request-options"): _options_new,
    (HTTP_TYPES, "[method]request-options.connect-timeout"): _options_get("connect_timeout_ns"),
    (HTTP_TYPES, "[method]request-options.set-connect-timeout"): _options_set("connect_timeout_ns"),
    (HTTP_TYPES, "[method]request-options.first-byte-timeout"): _options_get("first_byte_timeout_ns"),
    (HTTP_TYPES, "[method]request-options.set-first-byte-timeout"): _options_set("first_byte_timeout_ns"),
    (HTTP_TYPES, "[method]request-options.between-bytes-timeout"): _options_get("between_bytes_timeout_ns"),
    (HTTP_TYPES, "[method]request-options.set-between-bytes-timeout"): _options_set("between_bytes_timeout_ns"),
    (HTTP_TYPES, "[static]response-outparam.set"): _outparam_set,
    (HTTP_TYPES, "[method]incoming-response.status"): _incoming_response_status,
    (HTTP_TYPES, "[method]incoming-response.headers"): _headers_of,
    (HTTP_TYPES, "[method]incoming-response.consume"): _consume_incoming,
    (HTTP_TYPES, "[method]incoming-body.stream"): _incoming_body_stream,
    (HTTP_TYPES, "[static]incoming-body.finish"): _incoming_body_finish,
    (HTTP_TYPES, "[method]future-trailers.subscribe"): _future_trailers_subscribe,
    (HTTP_TYPES, "[method]future-trailers.get"): _future_trailers_get,
    (HTTP_TYPES, "[constructor]outgoing-response"): _outgoing_response_new,
    (HTTP_TYPES, "[method]outgoing-response.status-code"): _resource_method(lambda r: r.status),
    (HTTP_TYPES, "[method]outgoing-response.set-status-code"): _set_status,
    (HTTP_TYPES, "[method]outgoing-response.headers"): _headers_of,
    (HTTP_TYPES, "[method]outgoing-response.body"): _outgoing_response_body,
    (HTTP_TYPES, "[method]outgoing-body.write"): _outgoing_body_write,
    (HTTP_TYPES, "[static]outgoing-body.finish"): _outgoing_body_finish,
    (HTTP_TYPES, "[method]future-incoming-response.subscribe"): _future_response_subscribe,
    (HTTP_TYPES, "[method]future-incoming-response.get"): _future_response_get,
    (HTTP_OUTGOING, "handle"): _outgoing_handle,
}
