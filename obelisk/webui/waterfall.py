"""The layout of an execution's waterfall: its runs, its delays and its children as bars on one time axis.

Pure geometry over ``Span`` values (what took time, from when to when, how it ended), so that placing, clamping
and aggregating are tested without a server or a browser; ``execution_view.waterfall_spans`` reads the spans out
of an execution's log and its children's summaries, and ``templates/_waterfall.html`` draws the result as SVG.

The picture must stay readable and cheap for a workflow with a thousand children: up to ``AGGREGATE_ABOVE``
children get a row each (a linked bar); above that, children that started and ended in the same time buckets
share a row whose bar says how many they are and how they ended, with buckets made coarser until at most
``MAX_GROUP_ROWS`` rows remain. Runs are sequential, so they share one row, as do delays; past
``AGGREGATE_ABOVE`` of either, those that start on the same few pixels are drawn as one bar.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import assert_never

from obelisk.concepts.events import BlockedByJoinSet, FinishedState, LockedState, PendingAt, PendingState
from obelisk.concepts.results import ResultKind
from obelisk.webui.formatting import duration_text, utc_text

WIDTH = 1080
"""The drawing's width in pixels: fixed, so that labels stay legible (a narrow screen scrolls it sideways)."""
LABEL_WIDTH = 280
CHART_LEFT = 292
CHART_RIGHT = WIDTH - 30
"""Room on the right for half of the last tick's label."""
AXIS_HEIGHT = 28
ROW_HEIGHT = 20
BAR_HEIGHT = 12
BOTTOM = 8
MIN_BAR_WIDTH = 2.0
"""A bar that lasted (next to) nothing still shows."""
LABEL_CHARS = 40
MAX_TICKS = 8

AGGREGATE_ABOVE = 200
"""Up to this many children (or runs), each gets a bar of its own."""
MAX_GROUP_ROWS = 100
"""Above ``AGGREGATE_ABOVE`` children, the most rows their groups may take."""
FIRST_BUCKETS = 256
"""The finest time buckets tried when grouping children (halved until the groups fit ``MAX_GROUP_ROWS``)."""
RUN_BUCKET_PX = 4
"""Above ``AGGREGATE_ABOVE`` runs, runs that start within this many pixels of each other share a bar."""


class Outcome(enum.Enum):
    """How a span ended, or that it has not. The value is the CSS hook (``wf-<value>``)."""

    OK = "ok"
    ERROR = "error"
    """Returned an error value (the function's own ``err``)."""
    FAILED = "failed"
    """Trapped, failed to run, or nondeterminism: the execution's failure, or one attempt's."""
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"
    """A run that gave its lock back (or lost it) and was run again later."""
    RUNNING = "running"
    WAITING = "waiting"
    """Blocked on a join set."""
    PENDING = "pending"
    """Not running yet: waiting for its time or an executor."""

    @property
    def finished(self) -> bool:
        return self not in (Outcome.RUNNING, Outcome.WAITING, Outcome.PENDING)


OUTCOME_WORDS: dict[Outcome, str] = {
    Outcome.OK: "ok",
    Outcome.ERROR: "error",
    Outcome.FAILED: "failed",
    Outcome.TIMEOUT: "timed out",
    Outcome.CANCELLED: "cancelled",
    Outcome.INTERRUPTED: "interrupted",
    Outcome.RUNNING: "running",
    Outcome.WAITING: "waiting",
    Outcome.PENDING: "pending",
}


def outcome_of_result(kind: ResultKind) -> Outcome:
    match kind:
        case ResultKind.OK:
            return Outcome.OK
        case ResultKind.FALLIBLE_ERROR:
            return Outcome.ERROR
        case ResultKind.EXECUTION_FAILURE | ResultKind.NONDETERMINISM_DETECTED:
            return Outcome.FAILED
        case ResultKind.TIMEOUT:
            return Outcome.TIMEOUT
        case ResultKind.CANCELLED:
            return Outcome.CANCELLED
        case _:
            assert_never(kind)


def outcome_of_state(state: PendingState) -> Outcome:
    match state:
        case FinishedState(result_kind=kind):
            return outcome_of_result(kind)
        case LockedState():
            return Outcome.RUNNING
        case BlockedByJoinSet():
            return Outcome.WAITING
        case PendingAt():
            return Outcome.PENDING
        case _:
            assert_never(state)


class SpanKind(enum.Enum):
    EXECUTION = "execution"
    RUN = "run"
    DELAY = "delay"
    CHILD = "child"


@dataclass(frozen=True, slots=True)
class Span:
    """Something that took time: the execution itself, one of its runs or delays (durable sleeps), or one of its
    children."""

    kind: SpanKind
    label: str
    """The row's label (children, the execution) or the run's name (``run 2``)."""
    function: str
    start: int
    end: int | None
    """``None``: not finished (drawn up to now)."""
    outcome: Outcome
    words: str
    """How it ended, as the page says it elsewhere (``ok: 55``, ``failed: trap``)."""
    ident: str = ""
    """The execution id (of the execution, of a child) or the run id."""
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Stripe:
    """Part of an aggregated bar's height: the share of its members that ended one way."""

    dy: float
    height: float
    outcome: Outcome
    count: int


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    outcome: Outcome
    title: str
    """The hover text (an SVG ``<title>``)."""
    href: str | None = None
    count: int = 1
    """More than one: an aggregate, drawn as ``stripes``."""
    stripes: tuple[Stripe, ...] = ()
    unfinished: bool = False

    @property
    def css(self) -> str:
        return f"wf-{self.outcome.value}" + (" wf-open" if self.unfinished else "")


@dataclass(frozen=True, slots=True)
class Row:
    kind: str
    """``execution``, ``runs``, ``delays``, ``child`` or ``group``: the CSS hook and what tests look for."""
    y: float
    label: str
    href: str | None
    bars: list[Bar]
    title: str = ""
    """The label's hover text (the full name when the label is clipped)."""


@dataclass(frozen=True, slots=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Waterfall:
    width: int
    height: int
    rows: list[Row]
    ticks: list[Tick]
    now_x: float | None
    """Where ``now`` is, while something is unfinished."""
    children: int
    aggregated: bool
    """Children were grouped (more than ``AGGREGATE_ABOVE``)."""
    chart_left: int = CHART_LEFT
    chart_right: int = CHART_RIGHT
    axis_y: int = AXIS_HEIGHT
    bar_height: int = BAR_HEIGHT
    row_height: int = ROW_HEIGHT
    label_width: int = LABEL_WIDTH

    @property
    def chart_bottom(self) -> float:
        return self.height - BOTTOM

    @property
    def legend(self) -> list[tuple[Outcome, str]]:
        """The outcomes drawn, in ``Outcome``'s order, with their words."""
        drawn = {s.outcome for row in self.rows for bar in row.bars for s in bar.stripes}
        drawn.update(bar.outcome for row in self.rows for bar in row.bars if bar.count == 1)
        return [(o, OUTCOME_WORDS[o]) for o in Outcome if o in drawn]


@dataclass(frozen=True, slots=True)
class Scale:
    """Time (µs) to x (px): ``origin`` is the execution's creation, the axis' zero."""

    start: int
    end: int
    origin: int

    def x(self, at: int) -> float:
        return CHART_LEFT + (at - self.start) * (CHART_RIGHT - CHART_LEFT) / (self.end - self.start)

    def bucket(self, at: int, buckets: int) -> int:
        return min(buckets - 1, (at - self.start) * buckets // (self.end - self.start))

    def since(self, at: int) -> str:
        offset = at - self.origin
        return "+0" if offset == 0 else ("+" if offset > 0 else "") + duration_text(offset)


def layout(
    execution: Span, runs: Sequence[Span], children: Sequence[Span], now: int, delays: Sequence[Span] = ()
) -> Waterfall:
    """Rows top-down: the execution, its runs (one row), its delays (one row), then its children (or their
    groups) by start time; ``children`` come in request order, which breaks ties."""
    spans = [execution, *runs, *delays, *children]
    unfinished = any(s.end is None for s in spans)
    start = min(s.start for s in spans)
    end = max(_end(s, now) for s in spans)
    scale = Scale(start, max(end, start + 1), execution.start)
    rows = [Row("execution", AXIS_HEIGHT, _clip(execution.label), execution.href, [_bar(execution, scale, now)])]
    for lane, noun in ((runs, "run"), (delays, "delay")):
        if lane:
            bars = (
                [_bar(r, scale, now) for r in lane] if len(lane) <= AGGREGATE_ABOVE else _lane_buckets(lane, scale, now)
            )
            label = f"{len(lane)} {noun}{'' if len(lane) == 1 else 's'}"
            rows.append(Row(f"{noun}s", AXIS_HEIGHT + len(rows) * ROW_HEIGHT, label, None, bars))
    ordered = sorted(children, key=lambda c: c.start)  # stable: children created together keep their order
    aggregated = len(ordered) > AGGREGATE_ABOVE
    groups = _groups(ordered, scale, now) if aggregated else [[c] for c in ordered]
    for group in groups:
        y = AXIS_HEIGHT + len(rows) * ROW_HEIGHT
        if len(group) == 1:
            (child,) = group
            rows.append(Row("child", y, _clip(child.label), child.href, [_bar(child, scale, now)], child.label))
        else:
            bar = _aggregate(group, scale, now, "children")
            rows.append(Row("group", y, _group_label(group), None, [bar], bar.title))
    height = AXIS_HEIGHT + len(rows) * ROW_HEIGHT + BOTTOM
    return Waterfall(
        width=WIDTH,
        height=height,
        rows=rows,
        ticks=_ticks(scale),
        now_x=scale.x(now) if unfinished and start <= now else None,
        children=len(children),
        aggregated=aggregated,
    )


def _end(span: Span, now: int) -> int:
    """Where the bar ends: never before it starts (two servers' clocks may disagree on a child's times)."""
    return max(span.start, now if span.end is None else span.end)


def _clip(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _bar(span: Span, scale: Scale, now: int) -> Bar:
    x0, x1 = scale.x(span.start), scale.x(_end(span, now))
    return Bar(
        x=round(x0, 2),
        width=round(max(MIN_BAR_WIDTH, x1 - x0), 2),
        outcome=span.outcome,
        title=_span_title(span, scale, now),
        href=span.href,
        unfinished=span.end is None,
    )


def _span_title(span: Span, scale: Scale, now: int) -> str:
    name = {SpanKind.RUN: f"{span.label} of {span.function}", SpanKind.DELAY: span.label}.get(span.kind, span.function)
    lines = (
        [name] + ([span.ident] if span.ident else []) + [f"started {utc_text(span.start)} ({scale.since(span.start)})"]
    )
    if span.end is None:
        lines.append(f"not finished: {duration_text(max(0, now - span.start))} so far")
    else:
        lines.append(f"ended {utc_text(span.end)} ({scale.since(span.end)})")
        if span.end >= span.start:
            lines.append(f"took {duration_text(span.end - span.start)}")
        else:
            lines.append(
                f"took 0: its end was recorded {duration_text(span.start - span.end)} before its start "
                "(the clocks of the servers involved disagree)"
            )
    lines.append(span.words)
    return "\n".join(lines)


def _groups(children: Sequence[Span], scale: Scale, now: int) -> list[list[Span]]:
    """Children keyed by the time buckets of their start and of their end, buckets halved until the keys fit."""
    buckets = FIRST_BUCKETS
    while True:
        keyed: dict[tuple[int, int], list[Span]] = {}
        for child in children:
            key = (scale.bucket(child.start, buckets), scale.bucket(_end(child, now), buckets))
            keyed.setdefault(key, []).append(child)
        if len(keyed) <= MAX_GROUP_ROWS or buckets == 1:
            return [keyed[k] for k in sorted(keyed)]
        buckets //= 2


def _lane_buckets(spans: Sequence[Span], scale: Scale, now: int) -> list[Bar]:
    """Spans (runs, delays) in order, a new bar whenever one starts more than ``RUN_BUCKET_PX`` right of the
    current bar's first start."""
    noun = f"{spans[0].kind.value}s"
    bars: list[Bar] = []
    current: list[Span] = []
    for span in spans:
        if current and scale.x(span.start) - scale.x(current[0].start) > RUN_BUCKET_PX:
            bars.append(_bar(current[0], scale, now) if len(current) == 1 else _aggregate(current, scale, now, noun))
            current = []
        current.append(span)
    if current:
        bars.append(_bar(current[0], scale, now) if len(current) == 1 else _aggregate(current, scale, now, noun))
    return bars


def _aggregate(members: Sequence[Span], scale: Scale, now: int, noun: str) -> Bar:
    """One bar from the earliest start to the latest end, striped by how many ended which way."""
    first = min(m.start for m in members)
    last = max(_end(m, now) for m in members)
    x0, x1 = scale.x(first), scale.x(last)
    mix = _mix(m.outcome for m in members)
    stripes: list[Stripe] = []
    dy = 0.0
    for outcome, count in mix:
        height = BAR_HEIGHT * count / len(members)
        stripes.append(Stripe(round(dy, 2), round(height, 2), outcome, count))
        dy += height
    dominant = max(mix, key=lambda pair: pair[1])[0]
    functions = sorted({m.function for m in members})
    durations = [_end(m, now) - m.start for m in members]
    ends = [_end(m, now) for m in members]
    lines = [
        f"{len(members)} {noun} of " + (functions[0] if len(functions) == 1 else f"{len(functions)} functions"),
        f"started {scale.since(first)} to {scale.since(max(m.start for m in members))}",
        f"ended {scale.since(min(ends))} to {scale.since(last)}"
        + (" (some not finished)" if any(m.end is None for m in members) else ""),
        f"took {duration_text(min(durations))} to {duration_text(max(durations))}",
        ", ".join(f"{count} {OUTCOME_WORDS[outcome]}" for outcome, count in mix),
    ]
    return Bar(
        x=round(x0, 2),
        width=round(max(MIN_BAR_WIDTH, x1 - x0), 2),
        outcome=dominant,
        title="\n".join(lines),
        count=len(members),
        stripes=tuple(stripes),
        unfinished=any(m.end is None for m in members),
    )


def _mix(outcomes: Iterable[Outcome]) -> list[tuple[Outcome, int]]:
    """How many of each outcome, in ``Outcome``'s order (so stripes stack the same way in every bar)."""
    counts: dict[Outcome, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return [(o, counts[o]) for o in Outcome if o in counts]


def _group_label(group: Sequence[Span]) -> str:
    functions = {c.function for c in group}
    if len(functions) > 1:
        return f"{len(group)} children"
    return _clip(f"{len(group)} children: {next(iter(functions)).rsplit('/', 1)[-1]}")


_STEPS_US = [
    *(m * 10**e for e in range(0, 7) for m in (1, 2, 5)),
    *(s * 1_000_000 for s in (10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)),
]


def _ticks(scale: Scale) -> list[Tick]:
    """Round offsets from the execution's creation (``+0``, ``+500 ms``, ``+1.00 s``…), at most ``MAX_TICKS``."""
    span = scale.end - scale.start
    step = next((s for s in _STEPS_US if span / s <= MAX_TICKS), None)
    if step is None:
        days = 86_400_000_000
        step = days * -(-span // (days * MAX_TICKS))
    first = -((scale.origin - scale.start) // step) * step  # the first multiple of step at or after start
    ticks = []
    offset = first
    while scale.origin + offset <= scale.end:
        ticks.append(Tick(round(scale.x(scale.origin + offset), 2), scale.since(scale.origin + offset)))
        offset += step
    return ticks
