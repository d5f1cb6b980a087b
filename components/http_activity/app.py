"""Activity exporting `testing:http/http-get`: outgoing GET requests through wasi:http.

componentize-py's `poll_loop` drives the wasi:http futures with an asyncio loop backed by `wasi:io/poll`, so each
exported (synchronous) function runs one small coroutine to completion.
"""

import asyncio
import dataclasses
import re
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib import parse

import poll_loop
from componentize_py_types import Err
from poll_loop import PollLoop, Stream
from wit_world import exports
from wit_world.exports.http_get import Response, Stargazers
from wit_world.imports.types import Fields, Method_Get, OutgoingRequest, Scheme_Http, Scheme_Https

T = TypeVar("T")


def _describe(error: BaseException) -> str:
    """Turn a wasi:http `error-code` (raised as `Err(ErrorCode_...)`) into a readable sentence."""
    if isinstance(error, Err):
        value = error.value
        name = type(value).__name__.removeprefix("ErrorCode_")
        words = re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()
        payload = getattr(value, "value", None)
        if payload is None:
            return words
        if dataclasses.is_dataclass(payload):
            fields = dataclasses.asdict(payload)  # e.g. DnsErrorPayload(rcode=..., info_code=None)
            details = ", ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            return f"{words} ({details})" if details else words
        return f"{words}: {payload}"
    return f"{type(error).__name__}: {error}"


def _request(url: str) -> OutgoingRequest:
    parts = parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Err(f"unsupported URL {url!r}: the scheme must be http or https")
    if not parts.netloc:
        raise Err(f"unsupported URL {url!r}: no host")
    request = OutgoingRequest(Fields.from_list([]))
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    request.set_authority(parts.netloc)
    path = parts.path or "/"
    request.set_path_with_query(f"{path}?{parts.query}" if parts.query else path)
    return request


async def _fetch(url: str) -> tuple[int, bytes]:
    response = await poll_loop.send(_request(url))
    status = response.status()
    stream = Stream(response.consume())
    chunks: list[bytes] = []
    while True:
        chunk = await stream.next()
        if chunk is None:
            break
        chunks.append(chunk)
    return status, b"".join(chunks)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    loop = PollLoop()
    asyncio.set_event_loop(loop)
    return loop.run_until_complete(coroutine)


def _get(url: str) -> tuple[int, bytes]:
    try:
        return _run(_fetch(url))
    except Err as e:
        if isinstance(e.value, str):  # already a message of ours
            raise
        raise Err(f"GET {url} failed: {_describe(e)}") from None
    except Exception as e:
        raise Err(f"GET {url} failed: {_describe(e)}") from None


class HttpGet(exports.HttpGet):
    def get(self, url: str) -> str:
        _, body = _get(url)
        return body.decode("utf-8", errors="replace")

    def get_resp(self, url: str) -> Response:
        status, body = _get(url)
        return Response(body=body, status_code=status)

    def get_stargazers(self) -> Stargazers:
        return Stargazers(logins="logins", cursor="cursor")

    def get_successful(self, url: str) -> str:
        status, body = _get(url)
        if not 200 <= status < 300:
            raise Err(f"wrong status code: {status}")
        return body.decode("utf-8", errors="replace")
