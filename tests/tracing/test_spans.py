"""``Tracing`` against the OTLP/gRPC receiver, without a server: the SDK and the exporter at whatever versions are
installed (the dependency floors run this too), the derived ids, the parents, the shutdown's flush."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obelisk.concepts.events import Created
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, RunId
from obelisk.concepts.results import Ok
from obelisk.concepts.trace_context import TraceContext, execution_span_id
from obelisk.storage.interface import LockedExecution
from obelisk.tracing.level import SpanDetail
from obelisk.tracing.spans import Tracing
from obelisk.workers.outcome import Succeeded, TimedOut
from tests.tracing.otlp_receiver import OtlpReceiver

FFQN = Ffqn.parse("testing:fibo/fibo.fibo")
CALLER = TraceContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7)
T0_US = 1_700_000_000_000_000


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    started = OtlpReceiver().start()
    try:
        yield started
    finally:
        started.stop()


def _created(trace: TraceContext | None) -> Created:
    return Created(FFQN, [10], T0_US, "activity_wasm:fibo:0123456789abcdef", 0, 0, trace=trace)


def _locked(execution_id: ExecutionId, trace: TraceContext | None) -> LockedExecution:
    return LockedExecution(execution_id, RunId.generate(), 2, _created(trace), T0_US + 10**6, 0, [], [])


async def test_runs_host_calls_and_the_execution_span_hang_together(receiver: OtlpReceiver) -> None:
    tracing = Tracing(
        service_name="unit", endpoint=receiver.endpoint, detail=SpanDetail.HOST_CALLS, instance_id="executor-1"
    )
    execution_id = ExecutionId.generate()
    first = tracing.start_run(_locked(execution_id, CALLER))
    second = tracing.start_run(_locked(execution_id, CALLER))
    assert first is not None and second is not None
    first.end(TimedOut())
    second.call(lambda: tracing.sleep_requested(T0_US, T0_US + 5 * 10**6))
    second.end(Succeeded(Ok(None)))
    tracing.sleep_requested(T0_US, T0_US + 1)  # outside any run: no span
    tracing.export_execution(execution_id, _created(CALLER), T0_US, T0_US + 7 * 10**6, "Ok")
    assert tracing.start_run(_locked(ExecutionId.generate(), None)) is None  # no stored context: no spans
    await tracing.close()  # flushes

    spans = receiver.wait_for(lambda spans: len(spans) == 4, timeout=5)
    execution = next(s for s in spans if s.name == str(FFQN))
    assert execution.span_id == f"{execution_span_id(execution_id):016x}"
    assert execution.trace_id == f"{CALLER.trace_id:032x}"
    assert execution.parent_span_id == f"{CALLER.parent_span_id:016x}"
    assert (execution.start_ns, execution.end_ns) == (T0_US * 1000, (T0_US + 7 * 10**6) * 1000)
    runs = [s for s in spans if s.name == f"run {FFQN}"]
    assert [r.attribute("obelisk.outcome") for r in runs] == ["TimedOut", "Succeeded"]
    assert [r.error for r in runs] == [True, False]
    assert all(r.parent_span_id == execution.span_id for r in runs)
    (sleep,) = [s for s in spans if s.name == "sleep"]
    assert sleep.parent_span_id == runs[1].span_id and sleep.end_ns - sleep.start_ns == 5 * 10**9
    assert {s.resource["service.instance.id"] for s in spans} == {"executor-1"}


async def test_a_root_execution_span_carries_the_stored_trace_id(receiver: OtlpReceiver) -> None:
    tracing = Tracing(service_name="unit", endpoint=receiver.endpoint, detail=SpanDetail.RUNS, instance_id="e")
    root = TraceContext.new_root()
    execution_id = ExecutionId.generate()
    run = tracing.start_run(_locked(execution_id, root))
    assert run is not None
    run.call(lambda: tracing.sleep_requested(T0_US, T0_US + 1))  # host calls are not selected: no span
    run.end(Succeeded(Ok(None)))
    tracing.export_execution(execution_id, _created(root), T0_US, T0_US + 1, "ExecutionFailure")
    await tracing.close()
    spans = receiver.wait_for(lambda spans: len(spans) == 2, timeout=5)
    assert {s.trace_id for s in spans} == {f"{root.trace_id:032x}"}
    execution = next(s for s in spans if s.name == str(FFQN))
    assert execution.parent_span_id is None and execution.error
    assert receiver.spans == spans
