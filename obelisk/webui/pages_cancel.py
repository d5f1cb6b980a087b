"""The execution page's buttons that cancel: the execution (Cancel) and a pending delay (End now). POST forms,
confirmed before anything changes.

With JavaScript a button asks ``confirm()`` and posts ``confirmed=1``; without it (or when the field is missing)
the POST answers with a confirmation page whose own form carries the field. Only a confirmed POST cancels, so a
stray or repeated request never cancels by surprise. What cannot be cancelled any more (a finished execution, a
delay no longer pending) is refused with a page saying nothing changed (409), as the CLI and gRPC refuse it.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from obelisk.concepts.errors import ParseError
from obelisk.concepts.ids import DelayId, ExecutionId
from obelisk.storage.interface import AlreadyFinished, DelayNotPending
from obelisk.webui.context import UI, execution_url
from obelisk.webui.errors import Link, UiError
from obelisk.webui.forms import read_form

CONFIRM_FIELD = "confirmed"


def cancel_url(execution_id: str) -> str:
    return execution_url(execution_id) + "/cancel"


def _confirmation(
    request: web.Request, execution_id: ExecutionId, question: str, effect: str, button: str
) -> web.Response:
    values = {
        "execution_id": execution_id,
        "question": question,
        "effect": effect,
        "button": button,
        "action": request.path,
        "nav": "executions",
    }
    return aiohttp_jinja2.render_template("cancel.html", request, values)


def _refused(execution_id: ExecutionId, message: str) -> UiError:
    return UiError(409, "Nothing to cancel", message, (Link(execution_url(execution_id), "Back to the execution"),))


async def cancel_post(request: web.Request) -> web.StreamResponse:
    context = request.app[UI]
    execution_id = ExecutionId.parse(request.match_info["execution_id"])
    form = await read_form(request)
    if form.get(CONFIRM_FIELD) != "1":
        await context.executions.pending_state(execution_id)  # an unknown id is a 404, not a question
        effect = (
            "It finishes as cancelled, a running attempt is stopped, and its unfinished children are cancelled too."
            " This cannot be undone."
        )
        return _confirmation(request, execution_id, f"Cancel {execution_id}?", effect, "Cancel execution")
    try:
        await context.executions.cancel(execution_id)
    except AlreadyFinished:
        raise _refused(execution_id, f"Execution {execution_id} had already finished; nothing was changed.") from None
    raise web.HTTPSeeOther(execution_url(execution_id))


async def cancel_delay_post(request: web.Request) -> web.StreamResponse:
    context = request.app[UI]
    execution_id = ExecutionId.parse(request.match_info["execution_id"])
    try:
        delay_id = DelayId.parse(request.match_info["delay_id"])
    except ParseError as error:
        raise ParseError(f"delay id: {error}") from None
    form = await read_form(request)
    if form.get(CONFIRM_FIELD) != "1":
        await context.executions.pending_state(execution_id)
        effect = "The sleeping workflow goes on now, as if the delay had expired."
        return _confirmation(request, execution_id, f"End delay {delay_id} now?", effect, "End the delay")
    try:
        await context.executions.cancel_delay(delay_id)
    except DelayNotPending as error:
        message = str(error)
        raise _refused(execution_id, f"{message[:1].upper()}{message[1:]}; nothing was changed.") from None
    raise web.HTTPSeeOther(execution_url(execution_id))
