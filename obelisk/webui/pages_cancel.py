"""The Cancel button of the execution page: a POST form, confirmed before anything changes.

With JavaScript the button asks ``confirm()`` and posts ``confirmed=1``; without it (or when the field is missing)
the POST answers with a confirmation page whose own form carries the field. Only a confirmed POST cancels, so a
stray or repeated request never cancels by surprise. A finished execution is refused with a page saying nothing
changed (409), as the CLI and gRPC refuse it.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from obelisk.concepts.ids import ExecutionId
from obelisk.storage.interface import AlreadyFinished
from obelisk.webui.context import UI, execution_url
from obelisk.webui.errors import Link, UiError

CONFIRM_FIELD = "confirmed"


def cancel_url(execution_id: str) -> str:
    return execution_url(execution_id) + "/cancel"


async def cancel_post(request: web.Request) -> web.StreamResponse:
    context = request.app[UI]
    execution_id = ExecutionId.parse(request.match_info["execution_id"])
    form = await request.post()
    if form.get(CONFIRM_FIELD) != "1":
        await context.executions.pending_state(execution_id)  # an unknown id is a 404, not a question
        values = {"execution_id": execution_id, "cancel_url": cancel_url(execution_id), "nav": "executions"}
        return aiohttp_jinja2.render_template("cancel.html", request, values)
    try:
        await context.executions.cancel(execution_id)
    except AlreadyFinished:
        raise UiError(
            409,
            "Already finished",
            f"Execution {execution_id} had already finished; nothing was changed.",
            (Link(execution_url(execution_id), "Back to the execution"),),
        ) from None
    raise web.HTTPSeeOther(execution_url(execution_id))
