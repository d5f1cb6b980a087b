"""The executions list (filters, cursor paging both ways) and one execution's page with its live stream."""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from obelisk.concepts.errors import ParseError
from obelisk.concepts.events import Finished, FinishedState, PausedState, PendingState
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.guest_logs import StoredLogLine
from obelisk.concepts.ids import ExecutionId
from obelisk.registry import FunctionNotFound
from obelisk.storage.interface import ExecutionLog, ExecutionNotFound, ExecutionQuery, ExecutionSummary, ListDirection
from obelisk.storage.state_machine import FINISHED
from obelisk.webui import execution_view as view
from obelisk.webui.context import UI, UiContext, component_url, execution_url, submit_url
from obelisk.webui.cursors import decode_cursor, encode_cursor
from obelisk.webui.errors import UiError
from obelisk.webui.formatting import (
    PAUSED_FILTER,
    STATE_FILTERS,
    Badge,
    badge,
    json_text,
    result_view,
    state_filter,
)
from obelisk.webui.pages_cancel import cancel_url
from obelisk.webui.pages_pause import pause_url, resume_url
from obelisk.webui.waterfall import Waterfall, layout

PAGE_LENGTH = 20
MAX_PAGE_LENGTH = 200
MAX_TREE_NODES = 200
MAX_LOG_LINES = 1000
"""Guest log lines shown on an execution's page (as many as a server keeps per execution by default)."""
LOGS_POLL_SECONDS = 1.0
"""While an execution runs, how often its live view looks for new log lines between status changes."""


# ---------------------------------------------------------------------------------------------- list


@dataclass(frozen=True, slots=True)
class ListRow:
    summary: ExecutionSummary
    badge: Badge
    finished_at: int | None
    duration: int
    """Finished: from creation to the end; otherwise: so far."""


def _filters(request: web.Request) -> tuple[Ffqn | None, str | None, int]:
    raw_ffqn = request.query.get("ffqn", "").strip()
    ffqn: Ffqn | None = None
    if raw_ffqn:
        try:
            ffqn = Ffqn.parse(raw_ffqn)
        except ParseError as e:
            raise UiError(400, "Malformed function filter", str(e)) from None
    raw_state = request.query.get("state", "").strip()
    state = state_filter(raw_state) if raw_state else None
    if raw_state and state is None:
        names = ", ".join(f"{key} ({word})" for key, word in STATE_FILTERS.items())
        raise UiError(400, "Unknown state filter", f"state must be one of {names}, not {raw_state!r}")
    raw_length = request.query.get("length", "").strip()
    length = PAGE_LENGTH
    if raw_length:
        if not (raw_length.isascii() and raw_length.isdigit()) or not 1 <= int(raw_length) <= MAX_PAGE_LENGTH:
            raise UiError(400, "Bad page length", f"length must be a number from 1 to {MAX_PAGE_LENGTH}")
        length = int(raw_length)
    return ffqn, state, length


def _state_query(state: str | None) -> dict[str, Any]:
    """The ``ExecutionQuery`` fields of a state filter: paused executions only under ``Paused``."""
    if state is None:
        return {}
    if state == PAUSED_FILTER:
        return {"paused": True}
    return {"state": state, "paused": None if state == FINISHED else False}


async def executions_page(request: web.Request) -> web.Response:
    context = request.app[UI]
    ffqn, state, length = _filters(request)
    older, newer = request.query.get("older"), request.query.get("newer")
    if older is not None and newer is not None:
        raise UiError(400, "Conflicting cursors", "Give either older= or newer=, not both.")
    cursor_text = newer if newer is not None else older
    cursor = decode_cursor(cursor_text) if cursor_text is not None else None
    direction = ListDirection.NEWER if newer is not None else ListDirection.OLDER
    page = await context.executions.list_executions(
        ExecutionQuery(ffqn=ffqn, cursor=cursor, direction=direction, length=length + 1, **_state_query(state))
    )
    more = len(page) > length
    if more:
        page = page[1:] if direction is ListDirection.NEWER else page[:-1]
    has_newer = more if direction is ListDirection.NEWER else cursor is not None
    has_older = more if direction is ListDirection.OLDER else cursor is not None
    base: dict[str, str] = {}
    if ffqn is not None:
        base["ffqn"] = str(ffqn)
    if state is not None:
        base["state"] = state
    if length != PAGE_LENGTH:
        base["length"] = str(length)

    def page_url(**extra: str) -> str:
        query = urlencode({**base, **extra})
        return "/execution/list" + ("?" + query if query else "")

    now = context.clock.now_us()
    rows = [_list_row(s, now) for s in page]
    newer_url = older_url = None
    if rows and has_newer:
        newer_url = page_url(newer=encode_cursor(rows[0].summary.created_at, rows[0].summary.execution_id))
    if rows and has_older:
        older_url = page_url(older=encode_cursor(rows[-1].summary.created_at, rows[-1].summary.execution_id))
    functions = sorted(
        {
            str(f.ffqn)
            for v in context.components.list_components()
            for f in v.exports
            if f.submittable and f.extension is None
        }
    )
    if ffqn is not None and str(ffqn) not in functions:
        functions.append(str(ffqn))
    values: dict[str, Any] = {
        "rows": rows,
        "ffqn": "" if ffqn is None else str(ffqn),
        "state": state or "",
        "states": STATE_FILTERS,
        "functions": functions,
        "filtered": bool(base.get("ffqn") or base.get("state")),
        "paged": cursor is not None,
        "newer_url": newer_url,
        "older_url": older_url,
        "first_url": page_url(),
        "nav": "executions",
    }
    return aiohttp_jinja2.render_template("executions.html", request, values)


def _list_row(summary: ExecutionSummary, now: int) -> ListRow:
    state = summary.pending_state
    finished_at = state.finished_at if isinstance(state, FinishedState) else None
    end = finished_at if finished_at is not None else now
    return ListRow(summary, badge(state, now), finished_at, max(0, end - summary.created_at))


# ---------------------------------------------------------------------------------------------- detail


def _execution_id(request: web.Request) -> ExecutionId:
    raw = request.match_info["execution_id"]
    try:
        return ExecutionId.parse(raw)
    except ParseError as error:
        raise UiError(
            400,
            "Malformed execution id",
            f"The address names {raw!r}, which is not an execution id ({error}): ids look like E_01J… "
            "(children: E_01J….1).",
        ) from None


@dataclass(frozen=True, slots=True)
class ParamView:
    name: str
    wit_type: str
    json: str


async def _child_tree(context: UiContext, log: ExecutionLog, now: int) -> tuple[list[view.ChildNode], bool]:
    """Children and their children, breadth first, at most ``MAX_TREE_NODES`` of them (then ``truncated``)."""
    roots: list[view.ChildNode] = []
    queue: deque[tuple[ExecutionId, list[view.ChildNode]]] = deque((c, roots) for c in view.child_ids(log))
    count = 0
    while queue:
        if count >= MAX_TREE_NODES:
            return roots, True
        child_id, siblings = queue.popleft()
        try:
            child_log = await context.executions.get(child_id)
        except ExecutionNotFound:
            continue  # requested in the same transaction as its creation, so only a foreign database lacks it
        node = view.child_node(child_log, now)
        siblings.append(node)
        count += 1
        queue.extend((grandchild, node.children) for grandchild in view.child_ids(child_log))
    return roots, False


def _duration(log: ExecutionLog, end: int) -> int:
    """From the scheduled time, or from the creation for one that ended before its time came (cancelled)."""
    start = log.created.scheduled_at
    return end - (start if start <= end else log.events[0].created_at)


@dataclass(frozen=True, slots=True)
class LogsView:
    lines: list[StoredLogLine]
    dropped: int
    more: bool
    """More lines are kept than the page shows."""

    @property
    def last_cursor(self) -> int | None:
        return self.lines[-1].cursor if self.lines else None


async def _logs(context: UiContext, execution_id: ExecutionId) -> LogsView:
    page = await context.executions.list_logs(execution_id, -1, MAX_LOG_LINES + 1)
    return LogsView(page.lines[:MAX_LOG_LINES], page.dropped, len(page.lines) > MAX_LOG_LINES)


async def _waterfall(context: UiContext, log: ExecutionLog, now: int) -> Waterfall:
    """The children's summaries in one read (none when the log requested no child), laid out with the runs."""
    children = await context.executions.children(log.execution_id) if view.child_ids(log) else []
    spans = view.waterfall_spans(log, children, execution_url)
    return layout(spans.execution, spans.runs, spans.children, now, spans.delays)


async def detail_values(context: UiContext, log: ExecutionLog) -> dict[str, Any]:
    now = context.clock.now_us()
    created = log.created
    metadata = context.components.function_metadata(created.ffqn)
    if metadata is not None and len(metadata.params) == len(created.params):
        params = [
            ParamView(p.name, p.type.to_wit(), json_text(v, pretty=True))
            for p, v in zip(metadata.params, created.params, strict=True)
        ]
    else:
        params = [ParamView(f"#{i}", "", json_text(v, pretty=True)) for i, v in enumerate(created.params)]
    last = log.events[-1].event
    result = result_view(last.result) if isinstance(last, Finished) else None
    state = log.pending_state
    finished_at = state.finished_at if isinstance(state, FinishedState) else None
    active = state.state if isinstance(state, PausedState) else state  # paused: the state it keeps meanwhile
    children, truncated = await _child_tree(context, log, now)
    try:
        submit = submit_url(str(context.components.submittable_function(created.ffqn).ffqn))
    except FunctionNotFound:
        submit = None
    component = context.components.function_metadata(created.ffqn) is not None
    parent = created.parent.execution_id if created.parent is not None else log.execution_id.parent_id
    return {
        "log": log,
        "created": created,
        "badge": badge(state, now),
        "state": state,
        "state_kind": type(state).__name__,
        "finished": isinstance(state, FinishedState),
        "finished_at": finished_at,
        "duration": _duration(log, finished_at if finished_at is not None else now),
        "params": params,
        "signature": None if metadata is None else metadata.to_wit_signature(),
        "result": result,
        "timeline": view.timeline(log, execution_url),
        "join_sets": view.join_sets(log, execution_url),
        "attempts": view.attempts(log),
        "children": children,
        "children_truncated": truncated,
        "scheduled": view.scheduled_ids(log),
        "parent": parent,
        "submit_url": submit,
        "cancel_url": cancel_url(log.execution_id),
        "pause_url": pause_url(log.execution_id),
        "resume_url": resume_url(log.execution_id),
        "paused": isinstance(state, PausedState),
        "active_state": active,
        "active_kind": type(active).__name__,
        "component_url": component_url(created.component_id) if component else None,
        "filter_url": "/execution/list?" + urlencode({"ffqn": str(created.ffqn)}),
        "time_tag": view.time_tag,
        "logs": await _logs(context, log.execution_id),
        "waterfall": await _waterfall(context, log, now),
    }


async def execution_page(request: web.Request) -> web.Response:
    context = request.app[UI]
    execution_id = _execution_id(request)
    log = await context.executions.get(execution_id)
    values = await detail_values(context, log)
    values["nav"] = "executions"
    shown = _Shown(state_tag(log.pending_state), values["logs"].last_cursor)
    values["stream_url"] = None if values["finished"] else execution_url(execution_id) + "/live?" + shown.query()
    return aiohttp_jinja2.render_template("execution.html", request, values)


def state_tag(state: PendingState) -> str:
    """A short, deterministic name of one pending state, so a page can tell its live stream which one it shows."""
    return f"{zlib.crc32(repr(state).encode()):08x}"


@dataclass(frozen=True, slots=True)
class _Shown:
    """What an execution page already shows: its live stream sends nothing until that changes. Re-sending it at
    once would re-render the page's largest part (a waterfall of up to a thousand children) right after load, and
    replace the elements a reader is looking at."""

    state: str | None
    log_cursor: int | None

    def query(self) -> str:
        pairs = {"state": self.state or ""}
        if self.log_cursor is not None:
            pairs["logs"] = str(self.log_cursor)
        return urlencode(pairs)

    @classmethod
    def from_query(cls, request: web.Request) -> _Shown:
        """Absent or malformed values only mean "nothing shown yet": the stream then sends the page at once."""
        cursor = request.query.get("logs", "")
        return cls(request.query.get("state") or None, int(cursor) if cursor.isascii() and cursor.isdigit() else None)


async def execution_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the live part of the page, re-rendered after every status change until finished."""
    context = request.app[UI]
    execution_id = _execution_id(request)
    await context.executions.pending_state(execution_id)  # a 404 page before the stream starts
    if len(context.streams) >= context.max_live_streams:
        # Each stream holds a connection, a task and a status watch for as long as the execution runs; the page
        # itself works without one (it just does not update by itself).
        raise UiError(
            503,
            "Too many live views",
            f"The server already keeps {context.max_live_streams} live views up to date (webui.max_live_streams). "
            "Reload the page to see the current state.",
        )
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    task = asyncio.current_task()
    assert task is not None
    context.streams.add(task)  # counted before the first await, so concurrent openers cannot pass the cap together
    try:
        await response.prepare(request)
        async for state, values in _live_updates(context, execution_id, _Shown.from_query(request)):
            html = aiohttp_jinja2.render_string("_live.html", request, values)
            await response.write(_sse("update", html))
            if isinstance(state, FinishedState):
                await response.write(_sse("done", ""))
                break
    except ConnectionResetError:
        return response  # the browser went away
    finally:
        context.streams.discard(task)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


async def _live_updates(
    context: UiContext, execution_id: ExecutionId, shown: _Shown
) -> AsyncIterator[tuple[PendingState, dict[str, Any]]]:
    """The page's values after every status change, and when new log lines came in between (looked for every
    ``LOGS_POLL_SECONDS``: a guest that prints changes no status). The first status is skipped when it is the one
    the page was rendered with."""
    statuses = aiter(context.executions.follow_status(execution_id))
    next_status: asyncio.Future[PendingState] = asyncio.ensure_future(anext(statuses))
    shown_cursor = shown.log_cursor
    shown_state = shown.state
    try:
        while True:
            done, _ = await asyncio.wait({next_status}, timeout=LOGS_POLL_SECONDS)
            if done:
                try:
                    state = next_status.result()
                except StopAsyncIteration:
                    return
                if not isinstance(state, FinishedState):
                    next_status = asyncio.ensure_future(anext(statuses))
                if shown_state is not None and state_tag(state) == shown_state:
                    shown_state = None
                    continue
                shown_state = None
            else:
                page = await context.executions.list_logs(execution_id, -1 if shown_cursor is None else shown_cursor, 1)
                if not page.lines:
                    continue
            log = await context.executions.get(execution_id)
            state = log.pending_state
            values = await detail_values(context, log)
            shown_cursor = values["logs"].last_cursor
            yield state, values
            if isinstance(state, FinishedState):
                return
    finally:
        next_status.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await next_status
        aclose = getattr(statuses, "aclose", None)
        if aclose is not None:
            await aclose()


def _sse(event: str, data: str) -> bytes:
    lines = data.splitlines() or [""]
    return (f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n").encode()
