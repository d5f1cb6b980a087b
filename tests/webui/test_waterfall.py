"""The waterfall's layout (pure: no server, no browser) and the SVG partial rendered from it."""

from __future__ import annotations

import re
import time

import jinja2
import pytest

from obelisk.concepts.events import (
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
    JoinSetResponseEvent,
    Locked,
    LockedState,
    TemporarilyTimedOut,
    Unlocked,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import Cancelled, FallibleError, ResultKind, ReturnValue
from obelisk.storage.interface import ExecutionLog, ExecutionSummary
from obelisk.webui.execution_view import waterfall_spans
from obelisk.webui.formatting import duration_text, rfc3339, utc_text
from obelisk.webui.waterfall import (
    AGGREGATE_ABOVE,
    CHART_LEFT,
    CHART_RIGHT,
    MAX_GROUP_ROWS,
    MIN_BAR_WIDTH,
    Outcome,
    Span,
    SpanKind,
    Waterfall,
    layout,
)

T0 = 1_700_000_000_000_000
MS = 1_000
SEC = 1_000_000
WORKFLOW = "testing:fibo-workflow/workflow.fiboa"
ACTIVITY = "testing:fibo/fibo.fibo"


def _execution(end: int | None = T0 + 10 * SEC, outcome: Outcome = Outcome.OK) -> Span:
    return Span(SpanKind.EXECUTION, "workflow.fiboa", WORKFLOW, T0, end, outcome, "ok: 55", "E_X")


def _run(n: int, start: int, end: int | None, outcome: Outcome = Outcome.OK) -> Span:
    return Span(SpanKind.RUN, f"run {n}", WORKFLOW, start, end, outcome, "ok", f"Run_{n}")


def _child(i: int, start: int, end: int | None, outcome: Outcome = Outcome.OK) -> Span:
    return Span(SpanKind.CHILD, f".{i} fibo.fibo", ACTIVITY, start, end, outcome, "ok: 1", f"E_X.{i}", f"/e/E_X.{i}")


def _x(at: int, start: int = T0, end: int = T0 + 10 * SEC) -> float:
    return CHART_LEFT + (at - start) * (CHART_RIGHT - CHART_LEFT) / (end - start)


def test_each_child_gets_a_linked_bar_in_start_order_under_the_execution_and_its_runs() -> None:
    children = [_child(1, T0 + 4 * SEC, T0 + 6 * SEC, Outcome.ERROR), _child(0, T0 + 1 * SEC, T0 + 9 * SEC)]
    runs = [_run(1, T0, T0 + 2 * SEC, Outcome.INTERRUPTED), _run(2, T0 + 9 * SEC, T0 + 10 * SEC)]
    wf = layout(_execution(), runs, children, now=T0 + 60 * SEC)
    assert [r.kind for r in wf.rows] == ["execution", "runs", "child", "child"]
    assert [r.label for r in wf.rows] == ["workflow.fiboa", "2 runs", ".0 fibo.fibo", ".1 fibo.fibo"]
    assert [r.href for r in wf.rows[2:]] == ["/e/E_X.0", "/e/E_X.1"]
    (whole,) = wf.rows[0].bars
    assert (whole.x, whole.x + whole.width) == (CHART_LEFT, CHART_RIGHT)
    assert [(b.x, b.outcome) for b in wf.rows[1].bars] == [
        (CHART_LEFT, Outcome.INTERRUPTED),
        (pytest.approx(_x(T0 + 9 * SEC)), Outcome.OK),
    ]
    (first,) = wf.rows[2].bars
    assert first.x == pytest.approx(_x(T0 + SEC)) and first.width == pytest.approx(_x(T0 + 9 * SEC) - _x(T0 + SEC))
    assert first.href == "/e/E_X.0" and first.css == "wf-ok"
    assert wf.rows[3].bars[0].css == "wf-error"
    assert [r.y for r in wf.rows] == sorted(r.y for r in wf.rows) and len({r.y for r in wf.rows}) == 4
    assert wf.now_x is None and not wf.aggregated and wf.children == 2
    assert [(o, w) for o, w in wf.legend] == [
        (Outcome.OK, "ok"),
        (Outcome.ERROR, "error"),
        (Outcome.INTERRUPTED, "interrupted"),
    ]
    assert wf.rows[2].bars[0].title.splitlines() == [
        ACTIVITY,
        "E_X.0",
        f"started {utc_text(T0 + SEC)} (+1.00 s)",
        f"ended {utc_text(T0 + 9 * SEC)} (+9.00 s)",
        "took 8.00 s",
        "ok: 1",
    ]


def test_ticks_are_round_offsets_from_the_creation() -> None:
    wf = layout(_execution(end=T0 + SEC), [], [], now=T0 + SEC)
    assert [t.label for t in wf.ticks] == ["+0", "+200 ms", "+400 ms", "+600 ms", "+800 ms", "+1.00 s"]
    assert wf.ticks[0].x == CHART_LEFT and wf.ticks[-1].x == CHART_RIGHT


def test_a_zero_duration_bar_still_shows() -> None:
    wf = layout(_execution(), [], [_child(0, T0 + 5 * SEC, T0 + 5 * SEC)], now=T0 + 10 * SEC)
    (bar,) = wf.rows[-1].bars
    assert bar.width == MIN_BAR_WIDTH and bar.x == pytest.approx(_x(T0 + 5 * SEC))
    assert "took 0 µs" in bar.title


def test_unfinished_bars_run_up_to_now_and_now_is_marked() -> None:
    now = T0 + 20 * SEC
    execution = _execution(end=None, outcome=Outcome.WAITING)
    wf = layout(execution, [_run(1, T0, None, Outcome.RUNNING)], [_child(0, T0 + 10 * SEC, None, Outcome.PENDING)], now)
    ends = [bar.x + bar.width for row in wf.rows for bar in row.bars]
    assert ends == [pytest.approx(CHART_RIGHT)] * 3
    assert wf.now_x == pytest.approx(CHART_RIGHT)
    assert all("wf-open" in bar.css for row in wf.rows for bar in row.bars)
    assert "not finished: 10.00 s so far" in wf.rows[-1].bars[0].title
    assert wf.rows[-1].bars[0].css == "wf-pending wf-open"


def test_clock_skew_widens_the_axis_and_never_draws_a_negative_bar() -> None:
    """A child on a server whose clock is behind: created before its parent, and one that ended before it began."""
    early = _child(0, T0 - 2 * SEC, T0 + SEC)
    backwards = _child(1, T0 + 5 * SEC, T0 + 4 * SEC)
    wf = layout(_execution(end=T0 + 8 * SEC), [], [early, backwards], now=T0 + 8 * SEC)
    start, end = T0 - 2 * SEC, T0 + 8 * SEC
    first, second = (row.bars[0] for row in wf.rows[1:])
    assert first.x == CHART_LEFT
    assert wf.rows[0].bars[0].x == pytest.approx(_x(T0, start, end))
    assert second.width == MIN_BAR_WIDTH and second.x == pytest.approx(_x(T0 + 5 * SEC, start, end))
    assert "took 0: its end was recorded 1.00 s before its start" in second.title
    assert "(+4.00 s)" in second.title
    labels = [t.label for t in wf.ticks]
    assert labels[0] == "-2.00 s" and "+0" in labels
    assert all(CHART_LEFT <= t.x <= CHART_RIGHT for t in wf.ticks)


def test_up_to_the_threshold_every_child_has_a_row_above_it_they_are_grouped() -> None:
    def fan_out(count: int) -> Waterfall:
        children = [_child(i, T0 + i * MS, T0 + i * MS + (i % 7) * SEC, _mix(i)) for i in range(count)]
        return layout(_execution(end=T0 + 20 * SEC), [], children, now=T0 + 20 * SEC)

    exact = fan_out(AGGREGATE_ABOVE)
    assert not exact.aggregated and [r.kind for r in exact.rows].count("child") == AGGREGATE_ABOVE

    wf = fan_out(1000)
    assert wf.aggregated and wf.children == 1000
    groups = [r for r in wf.rows if r.kind == "group"]
    singles = [r for r in wf.rows if r.kind == "child"]
    assert groups and len(wf.rows) <= 1 + MAX_GROUP_ROWS
    assert sum(r.bars[0].count for r in groups) + len(singles) == 1000
    for row in groups:
        (bar,) = row.bars
        assert bar.href is None and bar.count > 1
        assert sum(s.count for s in bar.stripes) == bar.count
        assert sum(s.height for s in bar.stripes) == pytest.approx(12, abs=0.05)
        assert bar.title.startswith(f"{bar.count} children of {ACTIVITY}\n")
        assert row.label == f"{bar.count} children: fibo.fibo"
    # The groups of one start bucket are split by how long their children took (1 to 6 s here, so several).
    mixed = max(groups, key=lambda r: len(r.bars[0].stripes)).bars[0]
    assert {s.outcome for s in mixed.stripes} <= {Outcome.OK, Outcome.ERROR, Outcome.FAILED}
    assert re.search(r"\n\d+ ok(, \d+ error)?(, \d+ failed)?$", mixed.title), mixed.title


def _mix(i: int) -> Outcome:
    return (Outcome.OK, Outcome.OK, Outcome.ERROR, Outcome.FAILED)[i % 4]


def test_many_runs_share_bars_by_pixel() -> None:
    runs = [_run(i + 1, T0 + i * 10 * MS, T0 + i * 10 * MS + 5 * MS, Outcome.INTERRUPTED) for i in range(1000)]
    wf = layout(_execution(), runs, [], now=T0 + 10 * SEC)
    bars = wf.rows[1].bars
    assert len(bars) <= (CHART_RIGHT - CHART_LEFT) // 4 + 1
    assert sum(b.count for b in bars) == 1000
    assert all(b.title.startswith(f"{b.count} runs of {WORKFLOW}") for b in bars if b.count > 1)


# ---------------------------------------------------------------------------------------------- spans of a log


def test_spans_of_a_workflow_log_with_an_interrupted_run_two_children_and_two_delays() -> None:
    parent = ExecutionId.generate(T0 // MS)
    js = JoinSetId.generate()
    kids = [parent.child(0), parent.child(1)]
    slept, sleeping = DelayId.generate(), DelayId.generate()
    run1, run2 = RunId.generate(), RunId.generate()
    executor = ExecutorId.generate()
    ffqn = Ffqn.parse(WORKFLOW)
    events: list[Event] = [
        Created(ffqn, [10, 2], T0, "workflow:fibo:0123456789abcdef", 0, 1),
        Locked("workflow:fibo:0123456789abcdef", executor, run1, T0 + 10 * SEC),
        JoinSetCreated(js),
        *(JoinSetRequest(js, ChildExecutionRequest(k)) for k in kids),
        JoinSetRequest(js, DelayRequest(slept, T0 + 4 * SEC)),
        JoinSetRequest(js, DelayRequest(sleeping, T0 + 60 * SEC)),
        JoinNext(js, T0 + 10 * SEC),
        Unlocked(T0 + 2 * SEC, "interrupted while waiting"),
        Locked("workflow:fibo:0123456789abcdef", executor, run2, T0 + 10 * SEC),
        TemporarilyTimedOut(T0 + 5 * SEC),
    ]
    log = ExecutionLog(
        parent,
        [ExecutionEvent(v, T0 + v * SEC, e) for v, e in enumerate(events)],
        [
            JoinSetResponseEvent(
                0, T0 + 3 * SEC, js, ChildExecutionFinished(kids[0], FallibleError(ReturnValue("no")))
            ),
            JoinSetResponseEvent(1, T0 + 7 * SEC, js, DelayFinished(slept)),
        ],
        LockedState(executor, run2, T0 + 10 * SEC),
    )
    summaries = [
        ExecutionSummary(
            kids[0],
            Ffqn.parse(ACTIVITY),
            FinishedState(T0 + 3 * SEC, ResultKind.FALLIBLE_ERROR),
            T0 + 3 * SEC,
            T0 + 3 * SEC,
            "c",
        ),
        ExecutionSummary(
            kids[1], Ffqn.parse(ACTIVITY), LockedState(executor, RunId.generate(), T0), T0 + 3 * SEC, T0 + 3 * SEC, "c"
        ),
    ]
    # Summaries come in no particular order; children created together keep the order they were requested in.
    spans = waterfall_spans(log, summaries[::-1], lambda e: f"/execution/{e}")
    execution, runs, children, delays = spans.execution, spans.runs, spans.children, spans.delays
    assert (execution.start, execution.end, execution.outcome, execution.ident) == (T0, None, Outcome.RUNNING, parent)
    assert [(r.start, r.end, r.outcome, r.ident) for r in runs] == [
        (T0 + SEC, T0 + 8 * SEC, Outcome.INTERRUPTED, run1),
        (T0 + 9 * SEC, T0 + 10 * SEC, Outcome.TIMEOUT, run2),
    ]
    assert [(d.start, d.end, d.outcome, d.ident, d.words) for d in delays] == [
        (T0 + 5 * SEC, T0 + 7 * SEC, Outcome.OK, slept, "expired"),
        (T0 + 6 * SEC, None, Outcome.WAITING, sleeping, "pending"),
    ]
    assert [(c.label, c.outcome, c.end, c.href, c.words) for c in children] == [
        (".0 fibo.fibo", Outcome.ERROR, T0 + 3 * SEC, f"/execution/{kids[0]}", 'error: "no"'),
        (".1 fibo.fibo", Outcome.RUNNING, None, f"/execution/{kids[1]}", "running"),
    ]
    wf = layout(execution, runs, children, T0 + 11 * SEC, delays)
    assert [(r.kind, r.label) for r in wf.rows] == [
        ("execution", "workflow.fiboa"),
        ("runs", "2 runs"),
        ("delays", "2 delays"),
        ("child", ".0 fibo.fibo"),
        ("child", ".1 fibo.fibo"),
    ]
    assert wf.rows[2].bars[1].title.splitlines()[:2] == [f"delay until {utc_text(T0 + 60 * SEC)}", sleeping]
    assert wf.now_x == pytest.approx(CHART_RIGHT)


# ---------------------------------------------------------------------------------------------- the SVG


def _render(wf: Waterfall) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("obelisk.webui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(duration_text=duration_text, rfc3339=rfc3339, utc_text=utc_text)
    return env.get_template("_waterfall.html").render(waterfall=wf)


def test_the_partial_draws_what_the_layout_says_with_classes_and_titles_only() -> None:
    children = [_child(0, T0 + SEC, T0 + 2 * SEC), _child(1, T0 + 2 * SEC, None, Outcome.RUNNING)]
    html = _render(
        layout(
            _execution(end=None, outcome=Outcome.WAITING), [_run(1, T0, None, Outcome.RUNNING)], children, T0 + 3 * SEC
        )
    )
    assert html.count('<g class="wf-row wf-row-child">') == 2
    assert html.count('<a href="/e/E_X.0">') == 2  # the label and the bar
    assert 'class="wf-bar wf-running wf-open"' in html
    assert '<line class="wf-now"' in html
    assert " style=" not in html and "<script" not in html
    assert "<title>fibo.fibo" not in html and f"<title>{ACTIVITY}\nE_X.1\n" in html


def test_rendering_1000_children_is_fast() -> None:
    """Layout and SVG of a thousand children (grouped) and of the threshold's 200 (a row each), best of 3."""
    timings = {}
    for count in (AGGREGATE_ABOVE, 1000):
        children = [_child(i, T0 + i * MS, T0 + i * MS + (i % 13) * SEC, _mix(i)) for i in range(count)]
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            html = _render(layout(_execution(end=T0 + 20 * SEC), [_run(1, T0, T0 + 20 * SEC)], children, T0 + 20 * SEC))
            best = min(best, time.perf_counter() - started)
        timings[count] = best
        assert ("wf-agg" in html) == (count > AGGREGATE_ABOVE)
    print(
        "\nwaterfall layout + SVG, best of 3: "
        + ", ".join(f"{n} children {s * 1000:.1f} ms" for n, s in timings.items())
    )
    assert max(timings.values()) < 0.1, timings


def test_a_delay_left_pending_by_a_cancelled_execution_ends_with_it() -> None:
    parent = ExecutionId.generate(T0 // MS)
    js, delay = JoinSetId.generate(), DelayId.generate()
    executor, run = ExecutorId.generate(), RunId.generate()
    events: list[Event] = [
        Created(Ffqn.parse(WORKFLOW), [10, 2], T0, "workflow:fibo:0123456789abcdef", 0, 1),
        Locked("workflow:fibo:0123456789abcdef", executor, run, T0 + 10 * SEC),
        JoinSetCreated(js),
        JoinSetRequest(js, DelayRequest(delay, T0 + 3600 * SEC)),
        JoinNext(js, T0 + 10 * SEC),
        Finished(Cancelled("cancelled by an operator")),
    ]
    log = ExecutionLog(
        parent,
        [ExecutionEvent(v, T0 + v * SEC, e) for v, e in enumerate(events)],
        [],
        FinishedState(T0 + 5 * SEC, ResultKind.CANCELLED),
    )
    spans = waterfall_spans(log, [], lambda e: f"/execution/{e}")
    assert (spans.execution.end, spans.execution.outcome) == (T0 + 5 * SEC, Outcome.CANCELLED)
    assert [(r.end, r.outcome) for r in spans.runs] == [(T0 + 5 * SEC, Outcome.CANCELLED)]
    (dropped,) = spans.delays
    assert (dropped.start, dropped.end, dropped.outcome) == (T0 + 3 * SEC, T0 + 5 * SEC, Outcome.CANCELLED)
    wf = layout(spans.execution, spans.runs, spans.children, T0 + 3600 * SEC, spans.delays)
    assert wf.now_x is None and wf.ticks[-1].label == "+5.00 s"  # the axis ends with the execution, not now
