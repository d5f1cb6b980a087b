"""How times, durations, values and states read on a page.

Times are rendered in UTC on the server inside ``<time datetime=...>`` so that the page is right
without JavaScript; ``static/app.js`` switches them to the browser's zone when it runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import assert_never

from obelisk.concepts.clock import format_rfc3339, us_to_datetime
from obelisk.concepts.events import BlockedByJoinSet, FinishedState, LockedState, PausedState, PendingAt, PendingState
from obelisk.concepts.results import (
    Cancelled,
    ExecutionFailure,
    FallibleError,
    FinishedResult,
    NondeterminismDetected,
    Ok,
    ResultKind,
    Timeout,
)

_US_PER_MS = 1_000
_US_PER_S = 1_000_000


def utc_text(micros: int) -> str:
    """``2024-05-01 12:34:56.789 UTC``: milliseconds are enough for people; the RFC 3339 form keeps the rest."""
    moment = us_to_datetime(micros)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def rfc3339(micros: int) -> str:
    return format_rfc3339(micros)


def duration_text(micros: int) -> str:
    """A span in the largest unit that keeps it short: ``85 µs``, ``12.3 ms``, ``4.56 s``, ``3 min 2 s``."""
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    if micros < _US_PER_MS:
        return f"{sign}{micros} µs"
    if micros < 100 * _US_PER_MS:
        return f"{sign}{micros / _US_PER_MS:.1f} ms"
    if micros < _US_PER_S:
        return f"{sign}{micros // _US_PER_MS} ms"
    seconds = micros / _US_PER_S
    if seconds < 60:
        return f"{sign}{seconds:.2f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{sign}{whole // 60} min {whole % 60} s"
    if whole < 86_400:
        return f"{sign}{whole // 3600} h {whole % 3600 // 60} min"
    return f"{sign}{whole // 86_400} d {whole % 86_400 // 3600} h"


def json_text(value: object, *, pretty: bool = False) -> str:
    if pretty:
        return json.dumps(value, ensure_ascii=False, indent=2)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def params_text(params: list[object]) -> str:
    """``10, "x"``: the argument list as a call would read."""
    return ", ".join(json_text(p) for p in params)


@dataclass(frozen=True, slots=True)
class Badge:
    """A status as the UI shows it: ``css`` picks the colour, ``label`` is the word on it."""

    css: str
    label: str
    finished: bool = False


def _result_badge(kind: ResultKind) -> Badge:
    match kind:
        case ResultKind.OK:
            return Badge("ok", "finished", True)
        case ResultKind.FALLIBLE_ERROR:
            return Badge("err", "returned error", True)
        case ResultKind.EXECUTION_FAILURE:
            return Badge("fail", "failed", True)
        case ResultKind.TIMEOUT:
            return Badge("fail", "timed out", True)
        case ResultKind.NONDETERMINISM_DETECTED:
            return Badge("fail", "nondeterminism", True)
        case ResultKind.CANCELLED:
            return Badge("cancelled", "cancelled", True)
        case _:
            assert_never(kind)


def badge(state: PendingState, now_us: int) -> Badge:
    match state:
        case PendingAt(scheduled_at):
            return Badge("pending", "scheduled" if scheduled_at > now_us else "pending")
        case LockedState():
            return Badge("running", "running")
        case BlockedByJoinSet(closing=closing):
            return Badge("waiting", "closing" if closing else "waiting")
        case FinishedState(result_kind=kind):
            return _result_badge(kind)
        case PausedState():
            return Badge("paused", "paused")
        case _:
            assert_never(state)


PAUSED_FILTER = "Paused"
STATE_FILTERS: dict[str, str] = {
    "PendingAt": "pending",
    "Locked": "running",
    "BlockedByJoinSet": "waiting",
    "Finished": "finished",
    PAUSED_FILTER: "paused",
}
"""``ExecutionQuery.state`` values (and ``Paused``: ``ExecutionQuery.paused``) and the words the filter shows for
them. A paused execution is listed under paused only, whatever its state beside."""


def state_filter(text: str) -> str | None:
    """The ``STATE_FILTERS`` key ``text`` names, in any case, by key or by the word shown (``running`` is
    ``Locked``): a filter typed into the address bar need not know the storage's names. ``None``: no such filter."""
    wanted = text.casefold()
    for key, word in STATE_FILTERS.items():
        if wanted in (key.casefold(), word):
            return key
    return None


@dataclass(frozen=True, slots=True)
class ResultView:
    """A finished result split into what the page shows: a headline, a JSON value and a detail text."""

    kind: ResultKind
    headline: str
    value_json: str | None = None
    detail: str | None = None


def result_view(result: FinishedResult) -> ResultView:
    match result:
        case Ok(value):
            if value is None:
                return ResultView(result.kind, "returned (no value)")
            return ResultView(result.kind, "returned", json_text(value.json, pretty=True))
        case FallibleError(value):
            return ResultView(result.kind, "returned an error", json_text(value.json, pretty=True))
        case Timeout():
            return ResultView(result.kind, "timed out on every attempt")
        case NondeterminismDetected(reason):
            return ResultView(result.kind, "nondeterminism detected", detail=reason)
        case ExecutionFailure(reason, detail):
            return ResultView(result.kind, reason, detail=detail)
        case Cancelled(reason):
            return ResultView(result.kind, "cancelled", detail=reason)
        case _:
            assert_never(result)


def short_result(result: FinishedResult) -> str:
    """One line for timelines and trees: ``ok: 55``, ``error: {"err": "x"}``, ``failed: trap``."""
    match result:
        case Ok(value):
            return "ok" if value is None else f"ok: {_clip(json_text(value.json))}"
        case FallibleError(value):
            return f"error: {_clip(json_text(value.json))}"
        case Timeout():
            return "timed out"
        case NondeterminismDetected(reason):
            return f"nondeterminism: {_clip(reason)}"
        case ExecutionFailure(reason, _):
            return f"failed: {_clip(reason)}"
        case Cancelled(reason):
            return f"cancelled: {_clip(reason)}"
        case _:
            assert_never(result)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
