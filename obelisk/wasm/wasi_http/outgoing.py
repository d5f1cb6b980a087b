"""Outgoing HTTP requests made by guests through the Python ``wasi:http/outgoing-handler``, under a policy.

wasmtime-py's built-in wasi:http cannot tell the host where a request goes, so a policy needs the request in
Python: the host reads the scheme, authority, method and path, refuses with ``HTTP-request-denied`` (and a log
line) when the policy does not allow them, refuses with ``internal-error`` once the attempt has started
``max_outbound_requests``, puts the secrets' values in place of their placeholders where the policy says
(``obelisk.wasm.wasi_http.secret_substitution``), and performs the request on a thread of its own
(``http.client``), resolving the guest's ``future-incoming-response`` when the whole response has arrived.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from obelisk import tracing
from obelisk.wasm.wasi_http.io import InputStream
from obelisk.wasm.wasi_http.objects import (
    ErrorCode,
    Fields,
    FutureIncomingResponse,
    IncomingBody,
    IncomingResponse,
    OutgoingRequest,
    RequestOptions,
)
from obelisk.wasm.wasi_http.policy import Allowed, RequestTarget
from obelisk.wasm.wasi_http.secret_substitution import substitute_body, substitute_headers, substitute_query
from obelisk.wasm.wasi_http.state import WasiHttpState

log = logging.getLogger(__name__)
if TYPE_CHECKING:
    from obelisk.tracing.spans import HttpSpan

DEFAULT_TIMEOUT_SECONDS = 30.0
_BODY_WAIT_SECONDS = 60.0


def split_authority(authority: str) -> tuple[str, int | None]:
    """``host[:port]`` (``[v6]:port`` too) into host and port; userinfo is dropped."""
    authority = authority.rpartition("@")[2]
    if authority.startswith("["):
        end = authority.find("]")
        host, rest = authority[1:end], authority[end + 1 :]
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    host, sep, port = authority.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return authority, None


def start_request(
    state: WasiHttpState, request: OutgoingRequest, options: RequestOptions | None
) -> FutureIncomingResponse | ErrorCode:
    """Check the request against the store's policy and request budget, then send it on a daemon thread. An
    immediate refusal or a malformed request is returned as the ``error-code``; transport failures arrive through
    the future."""
    policy = state.outbound
    if not request.authority:
        return ErrorCode("HTTP-request-URI-invalid")
    scheme = (request.scheme or "https").lower()
    if scheme not in ("http", "https"):
        return ErrorCode("HTTP-protocol-error")
    host, port = split_authority(request.authority)
    path_with_query = request.path_with_query or "/"
    target = RequestTarget(scheme, host, port, request.method.upper(), path_with_query.partition("?")[0])
    decision = policy.decide(target)
    if not isinstance(decision, Allowed):
        log.warning(
            "%s %s: outgoing HTTP request %s denied by %s",
            policy.owner,
            policy.execution_id,
            target.line,
            decision.by,
            extra={"execution_id": policy.execution_id},
        )
        return ErrorCode("HTTP-request-denied")
    if policy.max_requests is not None and state.requests_started >= policy.max_requests:
        message = (
            f"outbound request limit reached: {policy.owner} may start {policy.max_requests} HTTP requests per "
            "attempt (max_outbound_requests)"
        )
        log.warning("%s %s: %s; refused %s", policy.owner, policy.execution_id, message, target.line)
        return ErrorCode("internal-error", message)
    state.requests_started += 1
    future = FutureIncomingResponse()
    tracer = tracing.active()
    span = None if tracer is None else tracer.http_request(request.method, scheme, host, port)
    thread = threading.Thread(
        target=_perform if span is None else _traced(span),
        args=(future, request, options, scheme, host, port, decision.substitutions),
        name=f"wasi-http-{host}",
        daemon=True,
    )
    thread.start()
    return future


def _traced(span: HttpSpan) -> Callable[..., None]:
    """``_perform``, then the request's span ended with the response's status or the error."""

    def perform(future: FutureIncomingResponse, *args: Any) -> None:
        try:
            _perform(future, *args)
        finally:
            response, error = future.response, future.error
            span.end(None if response is None else response.status, None if error is None else error.case)

    return perform


def _timeout(options: RequestOptions | None) -> float:
    if options is None:
        return DEFAULT_TIMEOUT_SECONDS
    values = [v for v in (options.connect_timeout_ns, options.first_byte_timeout_ns) if v is not None]
    return max(values) / 1e9 if values else DEFAULT_TIMEOUT_SECONDS


def _perform(
    future: FutureIncomingResponse,
    request: OutgoingRequest,
    options: RequestOptions | None,
    scheme: str,
    host: str,
    port: int | None,
    substitutions: Mapping[str, tuple[tuple[str, str], ...]],
) -> None:
    body = b""
    if request.body is not None:
        sink = request.body.sink
        if not sink.done.wait(_BODY_WAIT_SECONDS):
            future.resolve(error=ErrorCode("HTTP-request-body-size", None))
            return
        if sink.error is not None:
            future.resolve(error=ErrorCode("internal-error", sink.error))
            return
        body = sink.data()
    # The guest's request object is left as it is: the values exist only in what is sent.
    headers = substitute_headers(request.headers.entries, substitutions.get("headers", ()))
    path_with_query = substitute_query(request.path_with_query or "/", substitutions.get("params", ()))
    substituted = substitute_body(body, headers, substitutions.get("body", ()))
    if substituted != body:  # the guest's Content-Length counted the placeholders; the one sent below counts the values
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
        body = substituted
    timeout = _timeout(options)
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.putrequest(request.method, path_with_query, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body or request.method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        data = response.read()
        received = Fields([(name.lower(), value.encode("latin-1")) for name, value in response.getheaders()])
        received.immutable = True
        future.resolve(IncomingResponse(response.status, received, IncomingBody(InputStream(data))))
    except ConnectionRefusedError:
        future.resolve(error=ErrorCode("connection-refused"))
    except socket.gaierror as error:
        future.resolve(error=ErrorCode("DNS-error", (str(error), None)))
    except TimeoutError:
        future.resolve(error=ErrorCode("connection-timeout"))
    except ssl.SSLError as error:
        future.resolve(
            error=ErrorCode("TLS-protocol-error" if "CERTIFICATE" not in str(error) else "TLS-certificate-error")
        )
    except (OSError, http.client.HTTPException, ValueError) as error:
        # http.client quotes what it refuses (a header value with a newline, say): with secrets substituted into the
        # request, that text could hold one, so only the error's kind reaches the guest.
        detail = f"{type(error).__name__}: {error}" if not any(substitutions.values()) else type(error).__name__
        future.resolve(error=ErrorCode("internal-error", detail))
    finally:
        connection.close()
