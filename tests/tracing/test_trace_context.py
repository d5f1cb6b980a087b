"""The stored trace context: ``traceparent`` parsing, its JSON in the ``Created`` event, derived ids, and what
``[otlp] level`` selects."""

from __future__ import annotations

import pytest

from obelisk.concepts.errors import ParseError
from obelisk.concepts.events import Created, event_from_json, event_to_json
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.trace_context import (
    TraceContext,
    execution_span_id,
    incoming_traceparent,
    parse_traceparent,
)
from obelisk.tracing.level import SpanDetail, span_detail

TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN = 0x00F067AA0BA902B7


def _created(trace: TraceContext | None) -> Created:
    return Created(Ffqn.parse("a:b/c.d"), [1], 10, "activity_wasm:x:sha256:00", 0, 0, trace=trace)


def test_a_traceparent_is_read_and_written_back() -> None:
    text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    context = parse_traceparent(text)
    assert context == TraceContext(TRACE, SPAN, sampled=True)
    assert context.traceparent() == text
    assert parse_traceparent(text[:-2] + "00").sampled is False
    # a later version with more fields is read as 00, as the W3C spec asks
    assert parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more") == context


@pytest.mark.parametrize(
    "text",
    [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
    ],
)
def test_an_invalid_traceparent_is_refused_and_ignored_on_a_request(text: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_traceparent(text)
    assert "traceparent" in str(err.value)
    assert incoming_traceparent(text) is None
    assert incoming_traceparent(None) is None


def test_the_created_event_keeps_the_trace_and_omits_it_when_there_is_none() -> None:
    assert "trace" not in event_to_json(_created(None))
    for context in (TraceContext(TRACE, SPAN), TraceContext(TRACE, None), TraceContext(TRACE, SPAN, sampled=False)):
        created = _created(context)
        assert event_from_json(event_to_json(created)) == created


def test_a_child_continues_the_trace_under_its_parents_derived_span() -> None:
    parent = TraceContext(TRACE, SPAN)
    child = parent.child_of("E_01")
    assert child == TraceContext(TRACE, execution_span_id("E_01"))
    assert execution_span_id("E_01") == execution_span_id("E_01") != execution_span_id("E_01.o:1_2")
    root = TraceContext.new_root()
    assert root.parent_span_id is None and root.trace_id != 0 and root.traceparent() is None


@pytest.mark.parametrize(
    ("level", "detail"),
    [
        ("info,app=trace", SpanDetail.HOST_CALLS),
        ("debug", SpanDetail.HOST_CALLS),
        ("info", SpanDetail.RUNS),
        ("warn,app=info", SpanDetail.RUNS),
        ("info,app=warn", SpanDetail.NONE),
        ("off", SpanDetail.NONE),
        ("error,obelisk.storage=trace", SpanDetail.NONE),
    ],
)
def test_the_level_selects_spans_by_the_app_targets_level(level: str, detail: SpanDetail) -> None:
    assert span_detail(level) is detail
