"""A trivial webhook: echoes the method, the path with query, the environment, a request header and the body.

Used by the webhook tests (request/response plumbing, streaming, route parameters) and by the benchmark.
"""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import environment
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    Method_Other,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


def _method(request: IncomingRequest) -> str:
    method = request.method()
    if isinstance(method, Method_Other):
        return method.value
    return type(method).__name__.removeprefix("Method_").upper()


def _read_body(request: IncomingRequest) -> bytes:
    body = request.consume()
    chunks = []
    with body.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(65536))
            except Err as e:
                if isinstance(e.value, StreamError_Closed):
                    break
                raise
    IncomingBody.finish(body)
    return b"".join(chunks)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        method = _method(request)
        path = request.path_with_query() or ""
        headers = request.headers()
        greeting = b",".join(headers.get("x-greeting"))
        body = _read_body(request) if method in ("POST", "PUT") else b""
        env = ",".join(f"{k}={v}" for k, v in sorted(environment.get_environment()))
        status = 201 if method == "POST" else 200
        response = OutgoingResponse(Fields.from_list([("x-echo-method", method.encode())]))
        response.set_status_code(status)
        out = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with out.write() as stream:
            stream.blocking_write_and_flush(f"{method} {path}\nenv: {env}\ngreeting: ".encode() + greeting + b"\n")
            if body:
                stream.blocking_write_and_flush(b"body: " + body)
        OutgoingBody.finish(out, None)
