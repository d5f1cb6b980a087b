"""The trace an execution belongs to, stored in its ``Created`` event (docs/observability.md#traces).

An execution's span can outlive the process that created it: a server may die mid-workflow and another finish
it. So nothing about the span is kept in memory between its start and its end. What is stored is where the span
hangs in its trace (the trace id, the caller's span if there was one, the caller's sampling decision); the span's
own id is derived from the execution id, so any server computes the same one: the server that records the
``Finished`` event exports the execution's span, and every run, host call and child of the execution points at
that id meanwhile. This module holds that record and the W3C ``traceparent`` text it is read from; it does not
depend on OpenTelemetry, whose SDK only the ``obelisk.tracing`` package loads, and only when traces are on.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from obelisk.concepts.errors import ParseError

log = logging.getLogger(__name__)
TRACEPARENT = "traceparent"
"""The gRPC metadata key and HTTP header (both lower case) of the W3C trace context."""
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_SAMPLED = 0x01


@dataclass(frozen=True, slots=True)
class TraceContext:
    """Where an execution's span hangs: in trace ``trace_id``, under the span ``parent_span_id`` (the caller's, or
    the parent execution's span for a child), or at the root of the trace when it is ``None``."""

    trace_id: int
    parent_span_id: int | None
    sampled: bool = True

    @staticmethod
    def new_root() -> TraceContext:
        """A new trace whose root is the execution's own span (a submission that came without a trace)."""
        return TraceContext(_nonzero(lambda: secrets.randbits(128)), None)

    def child_of(self, execution_id: str) -> TraceContext:
        """The context of an execution started by ``execution_id`` (a child, or an execution it schedules): the same
        trace, under ``execution_id``'s span. Derived, so a replayed or retried run creates the same one."""
        return TraceContext(self.trace_id, execution_span_id(execution_id), self.sampled)

    def traceparent(self) -> str | None:
        """The W3C ``traceparent`` of the caller, or None for a root."""
        if self.parent_span_id is None:
            return None
        return f"00-{self.trace_id:032x}-{self.parent_span_id:016x}-{_SAMPLED if self.sampled else 0:02x}"

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"trace_id": f"{self.trace_id:032x}"}
        if self.parent_span_id is not None:
            body["parent_span_id"] = f"{self.parent_span_id:016x}"
        if not self.sampled:
            body["sampled"] = False
        return body

    @staticmethod
    def from_json(data: dict[str, Any]) -> TraceContext:
        parent = data.get("parent_span_id")
        parent_span_id = None if parent is None else int(parent, 16)
        return TraceContext(int(data["trace_id"], 16), parent_span_id, data.get("sampled", True))


def parse_traceparent(text: str) -> TraceContext:
    """A W3C ``traceparent`` header (version 00; later versions are read as 00, as the W3C spec asks); ``ParseError``
    naming what is wrong otherwise. All-zero trace or span ids are invalid."""
    found = _TRACEPARENT.match(text.strip().lower())
    if found is None:
        raise ParseError(f'traceparent "{text}": expected "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>"')
    version, trace_hex, span_hex, flags_hex, rest = found.groups()
    if version == "ff" or (version == "00" and rest is not None):
        raise ParseError(f'traceparent "{text}": version {version} with this layout is invalid')
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if trace_id == 0 or span_id == 0:
        raise ParseError(f'traceparent "{text}": an all-zero trace id or span id is invalid')
    return TraceContext(trace_id, span_id, bool(int(flags_hex, 16) & _SAMPLED))


def incoming_traceparent(text: str | None) -> TraceContext | None:
    """The trace context of a request's ``traceparent`` (gRPC metadata, an HTTP header), or None: absent, or
    invalid, which the W3C Trace Context spec asks a receiver to ignore (the execution then starts a trace of its
    own) rather than refuse the request for."""
    if text is None:
        return None
    try:
        return parse_traceparent(text)
    except ParseError:
        log.info("ignoring an invalid traceparent: %r", text[:100])
        return None


def execution_span_id(execution_id: str) -> int:
    """The span id of an execution's span: the first 8 bytes of a SHA-256 of its id (never zero)."""
    digest = hashlib.sha256(b"obelisk execution span " + execution_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


def _nonzero(draw: Callable[[], int]) -> int:
    while True:
        value = draw()
        if value:
            return value
