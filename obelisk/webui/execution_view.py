"""An execution's log turned into what its page shows: a timeline in words, join sets, attempts, children.

Pure functions of an ``ExecutionLog`` (and, for the tree, of logs already fetched), so that the wording of every
event kind is tested without a server. HTML is built only through ``markupsafe``: every value from the log
(params, reasons, ids) is escaped, only our own tags are not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import assert_never

from markupsafe import Markup

from obelisk.concepts.events import (
    BlockedByJoinSet,
    ChildExecutionFinished,
    ChildExecutionRequest,
    Created,
    DelayFinished,
    DelayRequest,
    Event,
    ExecutionEvent,
    Finished,
    FinishedState,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    JoinSetRequestBody,
    JoinSetResponseEvent,
    Locked,
    LockedState,
    PendingAt,
    PendingState,
    Schedule,
    ScheduleAt,
    ScheduleAtTime,
    ScheduleIn,
    ScheduleNow,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
)
from obelisk.concepts.ids import DelayId, ExecutionId, JoinSetId
from obelisk.concepts.results import FinishedResult
from obelisk.storage.interface import ExecutionLog, ExecutionSummary
from obelisk.webui.formatting import (
    Badge,
    badge,
    duration_text,
    params_text,
    rfc3339,
    short_result,
    utc_text,
)
from obelisk.webui.waterfall import Outcome, Span, SpanKind, outcome_of_result, outcome_of_state

ExecutionUrl = Callable[[str], str]


def time_tag(micros: int) -> Markup:
    return Markup('<time datetime="{}">{}</time>').format(rfc3339(micros), utc_text(micros))


def _link(url: str, text: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(url, text)


def _code(text: str) -> Markup:
    return Markup("<code>{}</code>").format(text)


@dataclass(frozen=True, slots=True)
class TimelineRow:
    version: str
    """The event's version, or ``r<n>`` for a join-set response (which has no version of its own)."""
    at: int
    since_created: int
    kind: str
    """Short name shown as the row's label, also its CSS hook."""
    css: str
    text: Markup


@dataclass(frozen=True, slots=True)
class RequestView:
    label: Markup
    response: Markup | None
    pending_delay: DelayId | None = None
    """A delay without a response yet: the page offers to cancel it while the execution is unfinished."""


@dataclass(frozen=True, slots=True)
class JoinSetView:
    join_set_id: JoinSetId
    created_at: int
    requests: list[RequestView]
    awaited: int
    """How many ``JoinNext`` the workflow issued on it."""
    closing: bool


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    started_at: int
    ended_at: int | None
    outcome: str
    css: str
    run_id: str
    ended_as: Outcome


@dataclass(slots=True)
class ChildNode:
    execution_id: ExecutionId
    ffqn: str
    badge: Badge
    result: str | None
    children: list[ChildNode] = field(default_factory=list)


def child_ids(log: ExecutionLog) -> list[ExecutionId]:
    """Children in request order (direct calls are children in one-off join sets, so they are here too)."""
    return [
        e.event.request.child_execution_id
        for e in log.events
        if isinstance(e.event, JoinSetRequest) and isinstance(e.event.request, ChildExecutionRequest)
    ]


def scheduled_ids(log: ExecutionLog) -> list[ExecutionId]:
    return [e.event.execution_id for e in log.events if isinstance(e.event, Schedule)]


def child_node(log: ExecutionLog, now_us: int) -> ChildNode:
    last = log.events[-1].event
    return ChildNode(
        execution_id=log.execution_id,
        ffqn=str(log.created.ffqn),
        badge=badge(log.pending_state, now_us),
        result=short_result(last.result) if isinstance(last, Finished) else None,
    )


# ---------------------------------------------------------------------------------------------- timeline


def timeline(log: ExecutionLog, url_of: ExecutionUrl) -> list[TimelineRow]:
    """Every event in version order; each ``JoinNext`` row says which response it was answered with."""
    start = log.events[0].created_at
    answers = _answers(log)
    rows = []
    for event in log.events:
        kind, css, text = _describe(event, url_of)
        answer = answers.get(event.version)
        if answer is not None:
            text = text + Markup(" → ") + _response_text(answer, url_of, start)
        rows.append(TimelineRow(str(event.version), event.created_at, event.created_at - start, kind, css, text))
    return rows


def _answers(log: ExecutionLog) -> dict[int, JoinSetResponseEvent]:
    """The n-th ``JoinNext`` of a join set consumes the n-th response of that join set, in arrival order."""
    by_join_set: dict[JoinSetId, list[JoinSetResponseEvent]] = {}
    for response in log.responses:
        by_join_set.setdefault(response.join_set_id, []).append(response)
    consumed: dict[JoinSetId, int] = {}
    answers: dict[int, JoinSetResponseEvent] = {}
    for event in log.events:
        if isinstance(event.event, JoinNext):
            join_set_id = event.event.join_set_id
            index = consumed.get(join_set_id, 0)
            consumed[join_set_id] = index + 1
            available = by_join_set.get(join_set_id, [])
            if index < len(available):
                answers[event.version] = available[index]
    return answers


def _response_text(response: JoinSetResponseEvent, url_of: ExecutionUrl, start: int, *, named: bool = True) -> Markup:
    """What a response says; ``named=False`` leaves out whose it is (shown next to its request already)."""
    after = duration_text(response.created_at - start)
    match response.response:
        case ChildExecutionFinished(child_id, result):
            if not named:
                return Markup("{} (at +{})").format(short_result(result), after)
            return Markup("child {} {} (at +{})").format(_link(url_of(child_id), child_id), short_result(result), after)
        case DelayFinished(delay_id, cancelled):
            ended = "cancelled" if cancelled else "expired"
            if not named:
                return Markup("{} (at +{})").format(ended, after)
            return Markup("delay {} {} (at +{})").format(_code(delay_id), ended, after)
        case _:
            assert_never(response.response)


def _describe(event: ExecutionEvent, url_of: ExecutionUrl) -> tuple[str, str, Markup]:
    e: Event = event.event
    match e:
        case Created():
            return "created", "created", _created_text(e, url_of)
        case Locked():
            return (
                "locked",
                "locked",
                Markup("run {} started by executor {} with {}; lock expires {}").format(
                    _code(e.run_id), _code(e.executor_id), _code(e.component_id), time_tag(e.lock_expires_at)
                ),
            )
        case Unlocked():
            return (
                "unlocked",
                "unlocked",
                Markup("lock given back: {}; runs again from {}").format(e.reason, time_tag(e.backoff_expires_at)),
            )
        case TemporarilyFailed():
            # The detail may be a guest's traceback and a wasm backtrace: kept in lines, below the reason.
            detail = Markup("") if not e.detail else Markup('<pre class="detail">{}</pre>').format(e.detail)
            return (
                "attempt failed",
                "failed",
                Markup("{}; retry at {}{}").format(e.reason, time_tag(e.backoff_expires_at), detail),
            )
        case TemporarilyTimedOut():
            return (
                "attempt timed out",
                "failed",
                Markup("the attempt ran past its lock; retry at {}").format(time_tag(e.backoff_expires_at)),
            )
        case Finished():
            return "finished", f"finished-{e.result.kind.value}", Markup("{}").format(_finished_words(e.result))
        case JoinSetCreated():
            return "join set", "history", Markup("opened join set {}").format(_code(e.join_set_id))
        case JoinSetRequest(join_set_id, request):
            return _describe_request(join_set_id, request, url_of)
        case JoinNext():
            what = "closing: awaiting what is left in" if e.closing else "awaiting the next response in"
            return "join next", "history", Markup("{} join set {}").format(what, _code(e.join_set_id))
        case Schedule(execution_id, schedule_at):
            return (
                "schedule",
                "history",
                Markup("scheduled {} to run {}").format(
                    _link(url_of(execution_id), execution_id), _schedule_words(schedule_at)
                ),
            )
        case _:
            assert_never(e)


def _describe_request(
    join_set_id: JoinSetId, request: JoinSetRequestBody, url_of: ExecutionUrl
) -> tuple[str, str, Markup]:
    match request:
        case ChildExecutionRequest(child_id):
            return (
                "child",
                "history",
                Markup("started child {} in join set {}").format(_link(url_of(child_id), child_id), _code(join_set_id)),
            )
        case DelayRequest(delay_id, expires_at):
            return (
                "delay",
                "history",
                Markup("requested delay {} until {} in join set {}").format(
                    _code(delay_id), time_tag(expires_at), _code(join_set_id)
                ),
            )
        case _:
            assert_never(request)


def _created_text(e: Created, url_of: ExecutionUrl) -> Markup:
    text = Markup("{}({}) for {}").format(_code(str(e.ffqn)), params_text(e.params), time_tag(e.scheduled_at))
    if e.parent is not None:
        text += Markup(", child of {} in join set {}").format(
            _link(url_of(e.parent.execution_id), e.parent.execution_id), _code(e.parent.join_set_id)
        )
    if e.scheduled_by is not None:
        text += Markup(", scheduled by {}").format(_link(url_of(e.scheduled_by), e.scheduled_by))
    if e.trace is not None:  # what to look the execution up by in a trace viewer (docs/observability.md#traces)
        text += Markup(", trace {}").format(_code(f"{e.trace.trace_id:032x}"))
    return text


def _schedule_words(schedule_at: ScheduleAt) -> Markup:
    match schedule_at:
        case ScheduleNow():
            return Markup("now")
        case ScheduleAtTime(at_us):
            return Markup("at {}").format(time_tag(at_us))
        case ScheduleIn(delay_us):
            return Markup("in {}").format(duration_text(delay_us))
        case _:
            assert_never(schedule_at)


def _finished_words(result: FinishedResult) -> str:
    return short_result(result)


# ---------------------------------------------------------------------------------------------- join sets


def join_sets(log: ExecutionLog, url_of: ExecutionUrl) -> list[JoinSetView]:
    start = log.events[0].created_at
    order: list[JoinSetId] = []
    created_at: dict[JoinSetId, int] = {}
    requests: dict[JoinSetId, list[JoinSetRequestBody]] = {}
    awaited: dict[JoinSetId, int] = {}
    closing: set[JoinSetId] = set()
    for event in log.events:
        e = event.event
        match e:
            case JoinSetCreated():
                order.append(e.join_set_id)
                created_at[e.join_set_id] = event.created_at
                requests.setdefault(e.join_set_id, [])
            case JoinSetRequest():
                requests.setdefault(e.join_set_id, []).append(e.request)
            case JoinNext():
                awaited[e.join_set_id] = awaited.get(e.join_set_id, 0) + 1
                if e.closing:
                    closing.add(e.join_set_id)
            case (
                Created()
                | Locked()
                | Unlocked()
                | TemporarilyFailed()
                | TemporarilyTimedOut()
                | Finished()
                | Schedule()
            ):
                pass
            case _:
                assert_never(e)
    child_responses: dict[ExecutionId, JoinSetResponseEvent] = {}
    delay_responses: dict[str, JoinSetResponseEvent] = {}
    for response in log.responses:
        match response.response:
            case ChildExecutionFinished(child_id):
                child_responses[child_id] = response
            case DelayFinished(delay_id):
                delay_responses[delay_id] = response
            case _:
                assert_never(response.response)
    views = []
    for join_set_id in order:
        rows = []
        for request in requests.get(join_set_id, []):
            match request:
                case ChildExecutionRequest(child_id):
                    label = Markup("child {}").format(_link(url_of(child_id), child_id))
                    answered = child_responses.get(child_id)
                case DelayRequest(delay_id, expires_at):
                    label = Markup("delay {} until {}").format(_code(delay_id), time_tag(expires_at))
                    answered = delay_responses.get(delay_id)
                case _:
                    assert_never(request)
            text = None if answered is None else _response_text(answered, url_of, start, named=False)
            pending = request.delay_id if isinstance(request, DelayRequest) and answered is None else None
            rows.append(RequestView(label, text, pending))
        views.append(
            JoinSetView(join_set_id, created_at[join_set_id], rows, awaited.get(join_set_id, 0), join_set_id in closing)
        )
    return views


# ---------------------------------------------------------------------------------------------- attempts


def attempts(log: ExecutionLog) -> list[Attempt]:
    """One row per run: when it started, how it ended. For activities this is the retry history."""
    found: list[Attempt] = []
    current: Locked | None = None
    started_at = 0
    for event in log.events:
        e = event.event
        if isinstance(e, Locked):
            if current is not None:  # a lock taken over without an ending event (cannot normally happen)
                found.append(
                    Attempt(
                        len(found) + 1,
                        started_at,
                        event.created_at,
                        "superseded",
                        "neutral",
                        current.run_id,
                        Outcome.INTERRUPTED,
                    )
                )
            current, started_at = e, event.created_at
            continue
        if current is None:
            continue
        outcome: tuple[str, str, Outcome] | None
        match e:
            case TemporarilyFailed():
                outcome = (f"failed: {e.reason}", "fail", Outcome.FAILED)
            case TemporarilyTimedOut():
                outcome = ("timed out", "fail", Outcome.TIMEOUT)
            case Unlocked():
                outcome = (f"unlocked: {e.reason}", "neutral", Outcome.INTERRUPTED)
            case Finished():
                ok = e.result.kind.value == "Ok"
                outcome = (short_result(e.result), "ok" if ok else "fail", outcome_of_result(e.result.kind))
            case Created() | JoinSetCreated() | JoinSetRequest() | JoinNext() | Schedule():
                outcome = None  # the run goes on
            case _:
                assert_never(e)
        if outcome is not None:
            words, css, ended_as = outcome
            found.append(Attempt(len(found) + 1, started_at, event.created_at, words, css, current.run_id, ended_as))
            current = None
    if current is not None:
        found.append(Attempt(len(found) + 1, started_at, None, "running", "running", current.run_id, Outcome.RUNNING))
    return found


# ---------------------------------------------------------------------------------------------- waterfall


@dataclass(frozen=True, slots=True)
class WaterfallSpans:
    execution: Span
    runs: list[Span]
    children: list[Span]
    delays: list[Span]


def waterfall_spans(log: ExecutionLog, children: list[ExecutionSummary], url_of: ExecutionUrl) -> WaterfallSpans:
    """The execution (creation to end), its runs (from ``attempts``), its delays (request to response) and its
    children (from their own summaries: their creation and end, as their state rows say) for ``waterfall.layout``."""
    ffqn = str(log.created.ffqn)
    state = log.pending_state
    last = log.events[-1].event
    execution = Span(
        SpanKind.EXECUTION,
        _short_function(ffqn),
        ffqn,
        log.events[0].created_at,
        state.finished_at if isinstance(state, FinishedState) else None,
        outcome_of_state(state),
        short_result(last.result) if isinstance(last, Finished) else _unfinished_words(state),
        log.execution_id,
    )
    runs = [
        Span(SpanKind.RUN, f"run {a.number}", ffqn, a.started_at, a.ended_at, a.ended_as, a.outcome, a.run_id)
        for a in attempts(log)
    ]
    results = {
        r.response.child_execution_id: r.response.result
        for r in log.responses
        if isinstance(r.response, ChildExecutionFinished)
    }
    delay_ends = {
        r.response.delay_id: (r.created_at, r.response.cancelled)
        for r in log.responses
        if isinstance(r.response, DelayFinished)
    }
    delays = []
    for event in log.events:
        e = event.event
        if isinstance(e, JoinSetRequest) and isinstance(e.request, DelayRequest):
            ended_at, cancelled = delay_ends.get(e.request.delay_id, (None, False))
            if ended_at is not None:
                outcome, words = (Outcome.CANCELLED, "cancelled") if cancelled else (Outcome.OK, "expired")
            elif execution.end is not None:  # the execution finished (cancelled) before the delay's time came
                ended_at, outcome, words = execution.end, Outcome.CANCELLED, "dropped: the execution finished"
            else:
                outcome, words = Outcome.WAITING, "pending"
            label = f"delay until {utc_text(e.request.expires_at)}"
            delays.append(
                Span(SpanKind.DELAY, label, ffqn, event.created_at, ended_at, outcome, words, e.request.delay_id)
            )
    order = {child_id: i for i, child_id in enumerate(child_ids(log))}
    spans = []
    for child in sorted(children, key=lambda c: order.get(c.execution_id, len(order))):
        child_state = child.pending_state
        result = results.get(child.execution_id)
        suffix = child.execution_id[len(log.execution_id) :]
        spans.append(
            Span(
                SpanKind.CHILD,
                f"{suffix} {_short_function(str(child.ffqn))}",
                str(child.ffqn),
                child.created_at,
                child_state.finished_at if isinstance(child_state, FinishedState) else None,
                outcome_of_state(child_state),
                short_result(result) if result is not None else _unfinished_words(child_state),
                child.execution_id,
                url_of(child.execution_id),
            )
        )
    return WaterfallSpans(execution, runs, spans, delays)


def _short_function(ffqn: str) -> str:
    """``testing:fibo/fibo.fibo`` → ``fibo.fibo``: the interface's own name and the function."""
    return ffqn.rsplit("/", 1)[-1]


def _unfinished_words(state: PendingState) -> str:
    match state:
        case FinishedState(result_kind=kind):
            return f"finished: {kind.value}"
        case LockedState():
            return "running"
        case BlockedByJoinSet(closing=closing):
            return "waiting for a response" + (" (closing)" if closing else "")
        case PendingAt(scheduled_at):
            return f"pending, due {utc_text(scheduled_at)}"
        case _:
            assert_never(state)
