"""Reading a posted form: a body that is not one (a broken multipart boundary, bytes that are not the declared
charset, ...) is the client's mistake, answered 400 like any malformed request, never a 500 (aiohttp raises
``ValueError`` for those)."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from obelisk.webui.errors import UiError


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    try:
        return await request.post()
    except ValueError as error:  # UnicodeDecodeError too
        raise UiError(400, "Malformed form", f"The posted form could not be read: {error}.") from None
