"""Which gRPC status each engine error becomes, so a client sees a code it can act on and one clear message.

Only the message of an ``ObeliskError`` reaches the client (it names the function, parameter or id that is
wrong); anything else is logged here with its traceback and reported as ``INTERNAL`` without details. A fault of
the database (full: ``RESOURCE_EXHAUSTED``; read-only or locked: ``UNAVAILABLE``) is logged without a traceback,
at most one line per method and interval: the storage has logged the fault itself, and thousands of requests
meeting one full disk must not bury it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

import grpc

from obelisk.api.client import STORAGE_FAULT_METADATA
from obelisk.api.convert import TimestampOutOfRange
from obelisk.concepts.errors import ObeliskError, ParseError
from obelisk.concepts.json_values import ValueTypeError
from obelisk.registry import FunctionNotFound
from obelisk.service.components import ComponentNotFound
from obelisk.service.executions import SubmitConflict
from obelisk.service.json_input import JsonInputError
from obelisk.service.listing import InvalidFilter
from obelisk.service.log_limit import LogLimit
from obelisk.storage.interface import (
    AlreadyFinished,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    IllegalStateTransition,
    StorageFault,
    StorageFull,
    StorageUnavailable,
    VersionMismatch,
)

log = logging.getLogger(__name__)
_log_limit = LogLimit(log)

Request = TypeVar("Request")
Response = TypeVar("Response")


class InvalidRequest(ObeliskError):
    """A request misses a required field or carries a malformed one (which field is in the message)."""


_STATUS: list[tuple[type[ObeliskError], grpc.StatusCode]] = [
    (FunctionNotFound, grpc.StatusCode.NOT_FOUND),
    (ExecutionNotFound, grpc.StatusCode.NOT_FOUND),
    (ComponentNotFound, grpc.StatusCode.NOT_FOUND),
    (ValueTypeError, grpc.StatusCode.INVALID_ARGUMENT),
    (ParseError, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidFilter, grpc.StatusCode.INVALID_ARGUMENT),
    (JsonInputError, grpc.StatusCode.INVALID_ARGUMENT),
    (TimestampOutOfRange, grpc.StatusCode.INVALID_ARGUMENT),
    (StorageFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (StorageUnavailable, grpc.StatusCode.UNAVAILABLE),
    (SubmitConflict, grpc.StatusCode.ALREADY_EXISTS),
    (ExecutionAlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (AlreadyFinished, grpc.StatusCode.FAILED_PRECONDITION),
    (VersionMismatch, grpc.StatusCode.FAILED_PRECONDITION),
    (IllegalStateTransition, grpc.StatusCode.FAILED_PRECONDITION),
]


def status_of(error: ObeliskError) -> grpc.StatusCode:
    for error_type, code in _STATUS:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.INTERNAL


MAX_DETAILS_BYTES = 6000
"""Details travel in an HTTP/2 header that grpc clients drop past 8 KiB (together with the other headers), with
every byte of a non-ASCII character percent-encoded (three bytes each): a message quoting a huge value the client
sent is cut to fit, or the client would get a ``RESOURCE_EXHAUSTED`` about metadata instead of the refusal."""


def bounded_details(message: str) -> str:
    size = 0
    for index, char in enumerate(message):
        size += 1 if " " <= char <= "~" else 3 * len(char.encode("utf-8", "surrogatepass"))
        if size > MAX_DETAILS_BYTES:
            return f"{message[:index]}... ({len(message) - index} more characters cut)"
    return message


async def _abort(context: grpc.aio.ServicerContext, error: BaseException, method: str) -> NoReturn:
    if isinstance(error, ObeliskError):
        code = status_of(error)
        if code is grpc.StatusCode.INTERNAL:
            log.error("%s failed: %s", method, error, exc_info=error)
        elif isinstance(error, StorageFault):
            kind = f"{method} {type(error).__name__}"
            _log_limit.log(logging.WARNING, kind, "%s refused with %s: %s", method, code.name, error)
            # UNAVAILABLE also means "no connection" to clients; this marks the server's own answer.
            await context.abort(
                code, bounded_details(str(error)), trailing_metadata=((STORAGE_FAULT_METADATA, type(error).__name__),)
            )
        await context.abort(code, bounded_details(str(error)))
    log.error("%s failed with an unexpected error", method, exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}; see the server log")
    raise AssertionError("context.abort returned")


def unary(
    handler: Callable[[Any, Request, grpc.aio.ServicerContext], Awaitable[Response]],
) -> Callable[[Any, Request, grpc.aio.ServicerContext], Awaitable[Response]]:
    @wraps(handler)
    async def wrapper(self: Any, request: Request, context: grpc.aio.ServicerContext) -> Response:
        try:
            return await handler(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, error, handler.__name__)

    return wrapper


def streaming(
    handler: Callable[[Any, Request, grpc.aio.ServicerContext], AsyncIterator[Response]],
) -> Callable[[Any, Request, grpc.aio.ServicerContext], AsyncIterator[Response]]:
    @wraps(handler)
    async def wrapper(self: Any, request: Request, context: grpc.aio.ServicerContext) -> AsyncIterator[Response]:
        try:
            async for item in handler(self, request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as error:
            await _abort(context, error, handler.__name__)

    return wrapper
