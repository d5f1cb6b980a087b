"""Activity exporting `testing:outbound/outbound`: requests of any shape, its environment, unbounded allocation.

`send` echoes what the guest put into the request next to what the server answered, so a test can compare what
the guest holds (a secret's placeholder) with what the server received (the secret's value).
"""

import asyncio
import json
import re
from collections.abc import Coroutine
from typing import Any, TypeVar
from urllib import parse

import poll_loop
from componentize_py_types import Err
from poll_loop import PollLoop, Stream
from wit_world import exports
from wit_world.imports import environment
from wit_world.imports.types import (
    Fields,
    Method_Delete,
    Method_Get,
    Method_Other,
    Method_Post,
    Method_Put,
    OutgoingBody,
    OutgoingRequest,
    Scheme_Http,
    Scheme_Https,
)

T = TypeVar("T")
_METHODS = {"GET": Method_Get, "POST": Method_Post, "PUT": Method_Put, "DELETE": Method_Delete}


def _method(name: str) -> Any:
    known = _METHODS.get(name.upper())
    return known() if known is not None else Method_Other(name.upper())


async def _send(method: str, url: str, headers: list[tuple[str, str]], body: str) -> tuple[int, bytes]:
    parts = parse.urlsplit(url)
    request = OutgoingRequest(Fields.from_list([(name, value.encode()) for name, value in headers]))
    request.set_method(_method(method))
    request.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    request.set_authority(parts.netloc)
    path = parts.path or "/"
    request.set_path_with_query(f"{path}?{parts.query}" if parts.query else path)
    outgoing = request.body()
    data = body.encode()
    with outgoing.write() as stream:
        for start in range(0, len(data), 4096):  # blocking-write-and-flush takes at most 4096 bytes
            stream.blocking_write_and_flush(data[start : start + 4096])
    OutgoingBody.finish(outgoing, None)
    response = await poll_loop.send(request)
    stream = Stream(response.consume())
    chunks: list[bytes] = []
    while True:
        chunk = await stream.next()
        if chunk is None:
            break
        chunks.append(chunk)
    return response.status(), b"".join(chunks)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    loop = PollLoop()
    asyncio.set_event_loop(loop)
    return loop.run_until_complete(coroutine)


def _describe(error: Err) -> Err:
    """`Err(ErrorCode_HttpRequestDenied())` as `Err("HttpRequestDenied")`, with the payload if it has one."""
    value = error.value
    name = type(value).__name__.removeprefix("ErrorCode_")
    payload = getattr(value, "value", None)
    return Err(f"{name}: {payload}" if payload is not None else name)


_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(text: str, env: dict[str, str]) -> str:
    return _REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), text)


class Outbound(exports.Outbound):
    def send(self, method: str, url: str, headers: list[tuple[str, str]], body: str) -> str:
        env = dict(environment.get_environment())
        url = _expand(url, env)
        headers = [(name, _expand(value, env)) for name, value in headers]
        body = _expand(body, env)
        sent = {"method": method, "url": url, "headers": [list(h) for h in headers], "body": body}
        try:
            status, received = _run(_send(method, url, headers, body))
        except Err as e:
            raise _describe(e) from None
        return json.dumps({"sent": sent, "status": status, "body": received.decode("utf-8", errors="replace")})

    def get_repeatedly(self, times: int, url: str) -> int:
        for done in range(times):
            try:
                _run(_send("GET", url, [], ""))
            except Err as e:
                raise Err(f"request {done + 1}: {_describe(e).value}") from None
        return times

    def env_var(self, name: str) -> str | None:
        return dict(environment.get_environment()).get(name)

    def hog(self, chunk_mib: int) -> int:
        kept = []
        while True:
            kept.append(bytearray(chunk_mib * 1024 * 1024))
