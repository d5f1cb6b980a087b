"""Requests whose bytes are not their message are refused with ``INVALID_ARGUMENT`` and one log line.

grpcio decodes a request before any servicer code runs. When the generated deserializer raises, grpcio logs an
ERROR with a traceback and answers ``UNKNOWN``: a client sending garbage could fill the log (1.7 MB for 5,000
requests). ``guard`` wraps every method handler the server registers (ours and the standard health and reflection
services): its deserializer returns an ``Undecodable`` instead of raising, and its behaviour refuses that before the
servicer sees it, logging at most one line per method and interval. A streaming request is checked message by
message.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc

from obelisk.service.log_limit import LogLimit

log = logging.getLogger(__name__)
_log_limit = LogLimit(log)


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Stands in for a request message that did not decode; ``error`` says why."""

    error: str


def guard(handler: Any, method: str) -> Any:
    """``handler`` (a ``grpc.RpcMethodHandler``) with a tolerant deserializer and a behaviour that refuses what did
    not decode. ``method`` is the full method name, for the log line."""
    deserializer: Callable[[bytes], Any] | None = handler.request_deserializer
    if deserializer is None:  # raw bytes reach the behaviour: nothing to decode
        return handler
    replaced: dict[str, Any] = {"request_deserializer": _tolerant(deserializer)}
    if handler.unary_unary is not None:
        replaced["unary_unary"] = _unary_request(handler.unary_unary, method)
    elif handler.unary_stream is not None:
        replaced["unary_stream"] = _unary_request(handler.unary_stream, method)
    elif handler.stream_unary is not None:
        replaced["stream_unary"] = _stream_request(handler.stream_unary, method)
    elif handler.stream_stream is not None:
        replaced["stream_stream"] = _stream_request(handler.stream_stream, method)
    return handler._replace(**replaced)


def _tolerant(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as error:  # protobuf's DecodeError, or anything else a decoder may raise on garbage
            return Undecodable(str(error) or type(error).__name__)

    return deserialize


async def _refuse(context: grpc.aio.ServicerContext, request: Undecodable, method: str) -> NoReturn:
    _log_limit.log(logging.INFO, method, "%s refused: the request is not a valid message: %s", method, request.error)
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid message: {request.error}")
    raise AssertionError("context.abort returned")


def _unary_request(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    """grpcio tells an async-generator behaviour from a coroutine one (which writes with ``context.write``), so the
    wrapper is of the same kind as the behaviour it wraps."""
    if inspect.isasyncgenfunction(behaviour):

        async def generate(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if isinstance(request, Undecodable):
                await _refuse(context, request, method)
            async for response in behaviour(request, context):
                yield response

        return generate

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            await _refuse(context, request, method)
        return await behaviour(request, context)

    return call


def _stream_request(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    def checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async def each() -> AsyncIterator[Any]:
            async for request in requests:
                if isinstance(request, Undecodable):
                    await _refuse(context, request, method)
                yield request

        return each()

    if inspect.isasyncgenfunction(behaviour):

        async def generate(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for response in behaviour(checked(requests, context), context):
                yield response

        return generate

    async def call(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        return await behaviour(checked(requests, context), context)

    return call
