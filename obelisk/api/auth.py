"""Authentication and roles on the gRPC API: one server interceptor and the table of what each method needs.

Every call but the health service's presents ``authorization: Bearer <token>`` metadata when tokens are configured
(``obelisk.api.tokens``). Without a valid token the call ends ``UNAUTHENTICATED``, a ``viewer`` calling a method
that changes something ends ``PERMISSION_DENIED``, each with a one-line reason, before the servicer runs. Health
stays open (load balancers and systemd probes have no token); reflection needs a token of any role, like reading.

``METHOD_ACCESS`` classifies every method of the proto's services; a test compares it with the service descriptors,
so a new RPC cannot ship unclassified. Should one reach the server anyway, it is treated as a change (operators only).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc

from obelisk.api.tokens import Access, Identity, Refusal, TokenVerifier, permission_refusal
from obelisk.service.log_limit import LogLimit

log = logging.getLogger(__name__)
_log_limit = LogLimit(log)

HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFLECTION_PREFIXES = ("/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.ServerReflection/")

METHOD_ACCESS: Mapping[str, Access] = {
    "/obelisk.ExecutionRepository/GenerateExecutionId": Access.READ,
    "/obelisk.ExecutionRepository/Submit": Access.WRITE,
    "/obelisk.ExecutionRepository/GetStatus": Access.READ,
    "/obelisk.ExecutionRepository/ListExecutions": Access.READ,
    "/obelisk.ExecutionRepository/ListExecutionEvents": Access.READ,
    "/obelisk.ExecutionRepository/ListResponses": Access.READ,
    "/obelisk.ExecutionRepository/ListLogs": Access.READ,
    "/obelisk.ExecutionRepository/CancelExecution": Access.WRITE,
    "/obelisk.ExecutionRepository/CancelDelay": Access.WRITE,
    "/obelisk.ExecutionRepository/PauseExecution": Access.WRITE,
    "/obelisk.ExecutionRepository/UnpauseExecution": Access.WRITE,
    "/obelisk.FunctionRepository/ListComponents": Access.READ,
    "/obelisk.FunctionRepository/GetWit": Access.READ,
}
"""What each method of ``proto/obelisk.proto`` needs (``tests/api/test_auth.py`` checks it against the proto)."""


def access_of(method: str) -> Access:
    """What the full method name ``/package.Service/Method`` needs; unknown methods need an operator."""
    if method.startswith(HEALTH_PREFIX):
        return Access.OPEN
    if method.startswith(REFLECTION_PREFIXES):
        return Access.READ
    return METHOD_ACCESS.get(method, Access.WRITE)


def _metadata_value(details: grpc.HandlerCallDetails, key: str) -> str | None:
    for name, value in details.invocation_metadata or ():
        if name == key:
            return value if isinstance(value, str) else None
    return None


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc has no type hints
    """Refuses a call before its servicer runs: unauthenticated, or a change asked for by a viewer."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]], details: grpc.HandlerCallDetails
    ) -> Any:
        method: str = details.method
        access = access_of(method)
        if access is Access.OPEN or not self._verifier.required:
            return await continuation(details)
        found = self._verifier.authenticate(_metadata_value(details, "authorization"))
        if isinstance(found, Refusal):
            return await _refusing(continuation, details, grpc.StatusCode.UNAUTHENTICATED, found.reason)
        if not found.role.may(access):
            reason = permission_refusal(found, method.rsplit("/", 1)[-1])
            return await _refusing(continuation, details, grpc.StatusCode.PERMISSION_DENIED, reason)
        _log_call(found, method)
        return await continuation(details)


def _log_call(identity: Identity, method: str) -> None:
    log.debug("%s called %s", identity.label, method)


async def _refusing(
    continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
    details: grpc.HandlerCallDetails,
    code: grpc.StatusCode,
    reason: str,
) -> Any:
    """The method's own handler (so its kind, unary or streaming, is kept) with a behaviour that only refuses."""
    method: str = details.method
    _log_limit.log(logging.WARNING, f"{method} {code.name}", "gRPC %s refused (%s): %s", method, code.name, reason)
    handler = await continuation(details)
    if handler is None:  # not a method of this server: grpc answers UNIMPLEMENTED, as it would with a token
        return None

    async def refuse(request: object, context: grpc.aio.ServicerContext) -> None:
        del request
        await context.abort(code, reason)

    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        if getattr(handler, kind) is not None:
            return handler._replace(**{kind: refuse})
    return None
