"""A small synchronous gRPC client of the API, for the CLI (and scripts).

It imports only grpc and the generated messages, never the engine, so ``obelisk client ...`` starts fast.
Every failure becomes an ``ApiError`` with a one-line message (connection refused, unknown function, ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import grpc

from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.api.tls import ClientTls, TlsFileError
from obelisk.concepts.errors import ObeliskError

STORAGE_FAULT_METADATA = "obelisk-storage-fault"
"""Trailing metadata on a refusal for a storage fault, set by the server: its error class (``StorageFull``...)."""

DEFAULT_API_URL = "http://127.0.0.1:5005"
UNARY_TIMEOUT_SECONDS = 60.0
EVENTS_PAGE = 500


class ApiError(ObeliskError):
    """A call failed: the server could not be reached or answered with an error status."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None, *, reached: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.reached = reached
        """False when the server was not reached: no connection, or no answer in time."""

    @property
    def retryable(self) -> bool:
        """The server could not take the request now (unreachable, its database full or unwritable)."""
        return not self.reached or self.code in _RETRYABLE


_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED)


class ClientInputError(ObeliskError):
    """A value given to the client is malformed (an ``--api-url``, a function name); nothing was sent."""


def channel_target(url: str) -> tuple[str, bool]:
    """``http://host:port`` -> (``host:port``, secure=False); ``https://`` is secure; a bare ``host:port`` too."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https", "grpc", "grpcs") or not parts.hostname:
        raise ClientInputError(f"--api-url {url!r}: expected a URL such as {DEFAULT_API_URL}")
    secure = parts.scheme in ("https", "grpcs")
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        raise ClientInputError(f"--api-url {url!r}: the port is not a number") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{port}", secure


def function_name(ffqn: str) -> pb.FunctionName:
    interface, dot, function = ffqn.rpartition(".")
    if not dot or not interface or not function:
        raise ClientInputError(f"{ffqn!r} is not a function name; expected namespace:package/interface.function")
    return pb.FunctionName(interface_name=interface, function_name=function)


def ffqn_of(name: pb.FunctionName) -> str:
    return f"{name.interface_name}.{name.function_name}"


class ApiClient:
    def __init__(self, url: str = DEFAULT_API_URL, tls: ClientTls | None = None) -> None:
        """TLS is used when ``url`` is ``https://`` (or ``grpcs://``), or when ``tls`` is given (then also for an
        ``http://`` URL or a bare ``host:port``); ``tls`` names the CA that signed the server's certificate (else the
        system's CAs are trusted) and, for mutual TLS, the client's certificate and key."""
        self.url = url
        target, secure = channel_target(url)
        self.secure = secure or tls is not None
        self._client_certificate = tls is not None and tls.cert_file is not None
        options = [("grpc.primary_user_agent", "obelisk-cli")]
        if self.secure:
            try:
                credentials = (tls or ClientTls()).channel_credentials()
            except TlsFileError as error:
                raise ClientInputError(str(error)) from None
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._executions = pb_grpc.ExecutionRepositoryStub(self._channel)
        self._functions = pb_grpc.FunctionRepositoryStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, error: grpc.RpcError) -> ApiError:
        code: grpc.StatusCode | None = error.code() if hasattr(error, "code") else None
        details = (error.details() if hasattr(error, "details") else None) or str(code)
        details = " ".join(str(details).split())
        if code is grpc.StatusCode.UNAVAILABLE and not _answered_by_server(error):
            hint = _tls_hint(details, secure=self.secure, client_certificate=self._client_certificate)
            return ApiError(f"cannot reach the server at {self.url}: {details}{hint}", code, reached=False)
        return ApiError(details, code)

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=UNARY_TIMEOUT_SECONDS, compression=grpc.Compression.Gzip)
        except grpc.RpcError as error:
            raise self._error(error) from None

    # ------------------------------------------------------------------------------------------ executions
    def generate_execution_id(self) -> str:
        response = self._call(self._executions.GenerateExecutionId, pb.GenerateExecutionIdRequest())
        return str(response.execution_id.id)

    def submit(self, execution_id: str, ffqn: str, params: list[Any]) -> str:
        request = pb.SubmitRequest(execution_id=pb.ExecutionId(id=execution_id), function_name=function_name(ffqn))
        request.params.type_url = f"urn:obelisk:json:params:{ffqn}"
        request.params.value = json.dumps(params).encode()
        response = self._call(self._executions.Submit, request)
        return str(response.execution_id.id)

    def cancel(self, execution_id: str) -> bool:
        """Whether the execution was cancelled now; ``False`` when it had finished already (nothing changed)."""
        request = pb.CancelExecutionRequest(execution_id=pb.ExecutionId(id=execution_id))
        response = self._call(self._executions.CancelExecution, request)
        return bool(response.outcome == pb.CancelExecutionResponse.CANCEL_EXECUTION_OUTCOME_CANCELLATION_REQUESTED)

    def cancel_delay(self, delay_id: str) -> bool:
        """Whether the delay was ended now; ``False`` when it was not pending (nothing changed)."""
        request = pb.CancelDelayRequest(delay_id=pb.DelayId(id=delay_id))
        response = self._call(self._executions.CancelDelay, request)
        return bool(response.outcome == pb.CancelDelayResponse.CANCEL_DELAY_OUTCOME_CANCELLED)

    def get_status(self, execution_id: str, *, follow: bool) -> Iterator[pb.GetStatusResponse]:
        request = pb.GetStatusRequest(
            execution_id=pb.ExecutionId(id=execution_id), follow=follow, send_finished_status=True
        )
        stream = self._executions.GetStatus(request, compression=grpc.Compression.Gzip)
        try:
            yield from stream
        except grpc.RpcError as error:
            raise self._error(error) from None
        finally:
            stream.cancel()

    def list_executions(self, request: pb.ListExecutionsRequest) -> list[pb.ExecutionSummary]:
        return list(self._call(self._executions.ListExecutions, request).executions)

    def list_events(self, execution_id: str) -> list[pb.ExecutionEvent]:
        events: list[pb.ExecutionEvent] = []
        while True:
            request = pb.ListExecutionEventsRequest(
                execution_id=pb.ExecutionId(id=execution_id), version_from=len(events), length=EVENTS_PAGE
            )
            page = list(self._call(self._executions.ListExecutionEvents, request).events)
            events += page
            if len(page) < EVENTS_PAGE:
                return events

    def list_logs(self, execution_id: str, page_token: str = "") -> pb.ListLogsResponse:
        """One page of the execution's guest log lines after ``page_token`` (its ``next_page_token`` pages on)."""
        request = pb.ListLogsRequest(execution_id=pb.ExecutionId(id=execution_id), page_token=page_token)
        response: pb.ListLogsResponse = self._call(self._executions.ListLogs, request)
        return response

    def list_responses(self, execution_id: str) -> list[pb.ResponseWithCursor]:
        responses: list[pb.ResponseWithCursor] = []
        while True:
            request = pb.ListResponsesRequest(
                execution_id=pb.ExecutionId(id=execution_id),
                cursor_from=responses[-1].cursor if responses else 0,
                length=EVENTS_PAGE,
            )
            page = list(self._call(self._executions.ListResponses, request).responses)
            responses += page
            if len(page) < EVENTS_PAGE:
                return responses

    # ------------------------------------------------------------------------------------------ components
    def list_components(self, *, extensions: bool) -> list[pb.Component]:
        request = pb.ListComponentsRequest(extensions=extensions)
        return list(self._call(self._functions.ListComponents, request).components)


def _tls_hint(details: str, *, secure: bool, client_certificate: bool) -> str:
    """What a failed connection most likely means for TLS, when the details tell (a refused connection does not)."""
    if "Connection refused" in details:
        return ""
    if not secure:
        return " (if the server uses TLS: --tls, with --ca FILE unless its CA is trusted)"
    if "WRONG_VERSION_NUMBER" in details:
        return " (the server does not speak TLS: drop --tls, --ca and https://)"
    if "CERTIFICATE_VERIFY_FAILED" in details:
        return " (the server's certificate is not signed by a CA this client trusts: --ca FILE)"
    if not client_certificate and "Socket closed" in details:
        return " (if the server requires a client certificate: --client-cert FILE --client-key FILE)"
    return ""


def _answered_by_server(error: grpc.RpcError) -> bool:
    """An ``UNAVAILABLE`` the server sent on purpose (its database cannot be written), not a failed connection."""
    metadata = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    return any(key == STORAGE_FAULT_METADATA for key, _ in metadata or ())
