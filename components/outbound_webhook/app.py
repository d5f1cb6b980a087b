"""A webhook making an outgoing request (`GET /fetch?url=URL`), for the outbound policy and secrets of webhooks."""

import asyncio
from urllib import parse

import poll_loop
from componentize_py_types import Err, Ok
from poll_loop import PollLoop, Stream
from wit_world import exports
from wit_world.imports import environment
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Get,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
    Scheme_Https,
)


async def _get(url: str, token: str) -> tuple[int, bytes]:
    parts = parse.urlsplit(url)
    request = OutgoingRequest(Fields.from_list([("authorization", f"Bearer {token}".encode())]))
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query(parts.path or "/")
    response = await poll_loop.send(request)
    stream = Stream(response.consume())
    chunks: list[bytes] = []
    while True:
        chunk = await stream.next()
        if chunk is None:
            break
        chunks.append(chunk)
    return response.status(), b"".join(chunks)


def _fetch(url: str, token: str) -> tuple[int, bytes]:
    loop = PollLoop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_get(url, token))
    except Err as e:
        return 502, type(e.value).__name__.removeprefix("ErrorCode_").encode()


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        query = parse.parse_qs(parse.urlsplit(request.path_with_query() or "").query)
        token = dict(environment.get_environment()).get("API_KEY", "")
        status, body = _fetch(query.get("url", [""])[0], token)
        response = OutgoingResponse(Fields.from_list([]))
        response.set_status_code(status)
        out = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with out.write() as stream:
            for start in range(0, len(body), 4096):
                stream.blocking_write_and_flush(body[start : start + 4096])
        OutgoingBody.finish(out, None)
