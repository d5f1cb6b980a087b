"""The execution page's Pause and Resume buttons: POST forms confirmed before anything changes, as Cancel's
(``pages_cancel``: ``confirm()`` with JavaScript, a confirmation page without it; only a POST carrying
``confirmed=1`` acts). What cannot be paused or resumed now (finished, already paused, not paused) is refused with
a page saying nothing changed (409), as the CLI and gRPC refuse it.
"""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from obelisk.concepts.ids import ExecutionId
from obelisk.service.executions import PAUSED_THROUGH_UI
from obelisk.storage.interface import AlreadyFinished, AlreadyPaused, NotPaused
from obelisk.webui.context import UI, execution_url
from obelisk.webui.errors import Link, UiError
from obelisk.webui.forms import read_form
from obelisk.webui.pages_cancel import CONFIRM_FIELD


def pause_url(execution_id: str) -> str:
    return execution_url(execution_id) + "/pause"


def resume_url(execution_id: str) -> str:
    return execution_url(execution_id) + "/resume"


def _confirmation(request: web.Request, execution_id: ExecutionId, *, resume: bool) -> web.Response:
    if resume:
        question, button = f"Resume {execution_id}?", "Resume execution"
        effect = "It goes on where it was: due now if its time has come, or still waiting for what it waited for."
    else:
        question, button = f"Pause {execution_id}?", "Pause execution"
        effect = (
            "No new run or attempt starts until it is resumed: a running workflow stops at its next step, a running"
            " activity attempt may still finish, and a retry waits. It can be resumed or cancelled later."
        )
    values = {
        "execution_id": execution_id,
        "question": question,
        "effect": effect,
        "button": button,
        "action": request.path,
        "nav": "executions",
    }
    return aiohttp_jinja2.render_template("cancel.html", request, values)


def _refused(execution_id: ExecutionId, title: str, message: str) -> UiError:
    return UiError(409, title, message, (Link(execution_url(execution_id), "Back to the execution"),))


async def pause_post(request: web.Request) -> web.StreamResponse:
    context = request.app[UI]
    execution_id = ExecutionId.parse(request.match_info["execution_id"])
    form = await read_form(request)
    if form.get(CONFIRM_FIELD) != "1":
        await context.executions.pending_state(execution_id)  # an unknown id is a 404, not a question
        return _confirmation(request, execution_id, resume=False)
    try:
        await context.executions.pause(execution_id, PAUSED_THROUGH_UI)
    except (AlreadyFinished, AlreadyPaused) as error:
        raise _refused(execution_id, "Nothing to pause", f"{_sentence(error)}; nothing was changed.") from None
    raise web.HTTPSeeOther(execution_url(execution_id))


async def resume_post(request: web.Request) -> web.StreamResponse:
    context = request.app[UI]
    execution_id = ExecutionId.parse(request.match_info["execution_id"])
    form = await read_form(request)
    if form.get(CONFIRM_FIELD) != "1":
        await context.executions.pending_state(execution_id)
        return _confirmation(request, execution_id, resume=True)
    try:
        await context.executions.unpause(execution_id, PAUSED_THROUGH_UI)
    except NotPaused as error:
        raise _refused(execution_id, "Nothing to resume", f"{_sentence(error)}; nothing was changed.") from None
    raise web.HTTPSeeOther(execution_url(execution_id))


def _sentence(error: Exception) -> str:
    message = str(error)
    return message[:1].upper() + message[1:]
