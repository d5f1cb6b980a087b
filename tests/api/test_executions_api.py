"""ExecutionRepository over a real gRPC channel against a real server (WAT activities, SQLite file)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import grpc
import pytest

from obelisk.api import convert
from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.concepts.ids import ExecutionId
from obelisk.server import Server

FIBO = pb.FunctionName(interface_name="testing:fibo/fibo", function_name="fibo")
SPIN = pb.FunctionName(interface_name="testing:spin/spin", function_name="spin")


def submit_request(params: Any, function: pb.FunctionName = FIBO, execution_id: str | None = None) -> pb.SubmitRequest:
    request = pb.SubmitRequest(
        execution_id=pb.ExecutionId(id=execution_id or ExecutionId.generate()), function_name=function
    )
    request.params.type_url = f"urn:obelisk:json:params:{function.interface_name}.{function.function_name}"
    request.params.value = (params if isinstance(params, str) else json.dumps(params)).encode()
    return request


async def follow(
    executions: pb_grpc.ExecutionRepositoryStub, execution_id: str, **kwargs: Any
) -> list[pb.GetStatusResponse]:
    request = pb.GetStatusRequest(execution_id=pb.ExecutionId(id=execution_id), follow=True, send_finished_status=True)
    return [message async for message in executions.GetStatus(request, **kwargs)]


async def test_submit_and_follow_to_the_result(executions: pb_grpc.ExecutionRepositoryStub) -> None:
    response = await executions.Submit(submit_request([10]))
    messages = await asyncio.wait_for(follow(executions, response.execution_id.id), 10)
    kinds = [m.WhichOneof("message") for m in messages]
    assert kinds[0] == "summary" and kinds[-1] == "finished_status"
    assert set(kinds[1:-1]) <= {"current_status"}
    summary = messages[0].summary
    assert summary.execution_id.id == response.execution_id.id
    assert (summary.function_name.interface_name, summary.function_name.function_name) == ("testing:fibo/fibo", "fibo")
    statuses = [summary.current_status] + [m.current_status for m in messages[1:-1]]
    assert statuses[-1].WhichOneof("status") == "finished"
    assert statuses[-1].finished.result_kind == pb.OK
    finished = messages[-1].finished_status
    assert finished.result_detail.WhichOneof("value") == "ok"
    assert json.loads(finished.result_detail.ok.return_value.value) == 55
    assert finished.result_detail.ok.return_value.type_url == "urn:obelisk:json:result:TBD"
    assert finished.finished_at.ToMicroseconds() >= finished.created_at.ToMicroseconds()


async def test_follow_pushes_each_change_as_it_happens(executions: pb_grpc.ExecutionRepositoryStub) -> None:
    """A spinning activity is locked, then times out after 300 ms: the stream shows both, and the finish arrives
    long before a 500 ms poll could have noticed it."""
    response = await executions.Submit(submit_request([2**62], function=SPIN))
    request = pb.GetStatusRequest(execution_id=response.execution_id, follow=True, send_finished_status=True)
    received: list[tuple[float, pb.GetStatusResponse]] = []
    async with asyncio.timeout(10):
        async for message in executions.GetStatus(request):
            received.append((time.time(), message))
    kinds = [m.WhichOneof("message") for _, m in received]
    assert kinds[0] == "summary" and kinds[-1] == "finished_status"
    statuses = [received[0][1].summary.current_status] + [m.current_status for _, m in received[1:-1]]
    names = [s.WhichOneof("status") for s in statuses]
    assert "locked" in names and names[-1] == "finished", names
    assert statuses[-1].finished.result_kind == pb.TIMEOUT
    assert received[-1][1].finished_status.result_detail.WhichOneof("value") == "timeout"
    finished_at = statuses[-1].finished.finished_at.ToMicroseconds() / 1e6
    arrived = next(
        t
        for t, m in received
        if m.WhichOneof("message") == "current_status" and m.current_status.WhichOneof("status") == "finished"
    )
    assert arrived - finished_at < 0.25, f"finish pushed {arrived - finished_at:.3f} s after it was written"


async def test_get_status_without_follow(executions: pb_grpc.ExecutionRepositoryStub, server: Server) -> None:
    response = await executions.Submit(submit_request([10]))
    await server.executions.wait_for_result(ExecutionId(response.execution_id.id), timeout=10)
    plain = [m async for m in executions.GetStatus(pb.GetStatusRequest(execution_id=response.execution_id))]
    assert [m.WhichOneof("message") for m in plain] == ["summary"]
    with_result = [
        m
        async for m in executions.GetStatus(
            pb.GetStatusRequest(execution_id=response.execution_id, send_finished_status=True)
        )
    ]
    assert [m.WhichOneof("message") for m in with_result] == ["summary", "finished_status"]
    # Read from the log's first and last events (not the whole log): the same times the log holds.
    log = await server.executions.get(ExecutionId(response.execution_id.id))
    summary, finished = with_result[0].summary, with_result[1].finished_status
    assert summary.function_name.function_name == log.created.ffqn.function_name

    def micros(ts: Any) -> int:
        return convert.micros_of(ts, "test")

    assert micros(summary.created_at) == micros(finished.created_at) == log.events[0].created_at
    assert micros(summary.scheduled_at) == micros(finished.scheduled_at) == log.created.scheduled_at
    assert micros(finished.finished_at) == log.events[-1].created_at


async def test_submit_is_idempotent_on_the_execution_id(executions: pb_grpc.ExecutionRepositoryStub) -> None:
    execution_id = ExecutionId.generate()
    first = await executions.Submit(submit_request([10], execution_id=execution_id))
    second = await executions.Submit(submit_request([10], execution_id=execution_id))
    assert first.execution_id.id == second.execution_id.id == execution_id
    with pytest.raises(grpc.aio.AioRpcError) as conflict:
        await executions.Submit(submit_request([11], execution_id=execution_id))
    assert conflict.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert execution_id in (conflict.value.details() or "")
    listed = await executions.ListExecutions(pb.ListExecutionsRequest(function_name=FIBO))
    assert [s.execution_id.id for s in listed.executions] == [execution_id]


async def test_invalid_params_name_the_parameter_and_type(executions: pb_grpc.ExecutionRepositoryStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await executions.Submit(submit_request(["ten"]))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = error.value.details() or ""
    assert "(n)" in details and "u8" in details, details
    with pytest.raises(grpc.aio.AioRpcError) as too_big:
        await executions.Submit(submit_request([300]))
    assert too_big.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "u8" in (too_big.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as bad_json:
        await executions.Submit(submit_request("[10"))
    assert bad_json.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "JSON" in (bad_json.value.details() or "")
    listed = await executions.ListExecutions(pb.ListExecutionsRequest())
    assert list(listed.executions) == []


async def test_unknown_function_and_execution_are_not_found(executions: pb_grpc.ExecutionRepositoryStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as function:
        await executions.Submit(
            submit_request([10], function=pb.FunctionName(interface_name="testing:fibo/fibo", function_name="fibb"))
        )
    assert function.value.code() == grpc.StatusCode.NOT_FOUND
    assert "testing:fibo/fibo.fibo" in (function.value.details() or ""), "the closest function is suggested"
    unknown = pb.ExecutionId(id=ExecutionId.generate())
    for call in (
        lambda: follow(executions, unknown.id),
        lambda: executions.ListExecutionEvents(pb.ListExecutionEventsRequest(execution_id=unknown)),
        lambda: executions.ListResponses(pb.ListResponsesRequest(execution_id=unknown)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await call()
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert unknown.id in (error.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await executions.ListExecutionEvents(pb.ListExecutionEventsRequest(execution_id=pb.ExecutionId(id="not-an-id")))
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_executions_pages_both_ways(executions: pb_grpc.ExecutionRepositoryStub, server: Server) -> None:
    ids = []
    for n in range(25):
        response = await executions.Submit(submit_request([n % 20]))
        ids.append(response.execution_id.id)
    await executions.Submit(submit_request([1], function=SPIN))
    newest_first = list(reversed(ids))

    def page_ids(response: pb.ListExecutionsResponse) -> list[str]:
        return [s.execution_id.id for s in response.executions]

    first = await executions.ListExecutions(pb.ListExecutionsRequest(function_name=FIBO))
    assert page_ids(first) == newest_first[:20], "default: the 20 newest"
    older = pb.ListExecutionsRequest.OlderThan(
        length=10, cursor=pb.ListExecutionsRequest.Cursor(execution_id=first.executions[-1].execution_id)
    )
    second = await executions.ListExecutions(pb.ListExecutionsRequest(function_name=FIBO, older_than=older))
    assert page_ids(second) == newest_first[20:]
    newer = pb.ListExecutionsRequest.NewerThan(
        length=3, cursor=pb.ListExecutionsRequest.Cursor(execution_id=second.executions[0].execution_id)
    )
    back = await executions.ListExecutions(pb.ListExecutionsRequest(function_name=FIBO, newer_than=newer))
    assert page_ids(back) == newest_first[17:20], "the 3 just newer than the cursor, newest first"
    including = pb.ListExecutionsRequest.NewerThan(
        length=3,
        cursor=pb.ListExecutionsRequest.Cursor(execution_id=second.executions[0].execution_id),
        including_cursor=True,
    )
    back_incl = await executions.ListExecutions(pb.ListExecutionsRequest(function_name=FIBO, newer_than=including))
    assert page_ids(back_incl) == newest_first[18:21]
    # a cursor given as a time: every execution created strictly before / at-or-after it
    pivot = first.executions[4]
    by_time = pb.ListExecutionsRequest.Cursor(created_at=pivot.created_at)
    older_by_time = await executions.ListExecutions(
        pb.ListExecutionsRequest(
            function_name=FIBO, older_than=pb.ListExecutionsRequest.OlderThan(length=100, cursor=by_time)
        )
    )
    newer_by_time = await executions.ListExecutions(
        pb.ListExecutionsRequest(
            function_name=FIBO,
            newer_than=pb.ListExecutionsRequest.NewerThan(length=100, cursor=by_time, including_cursor=True),
        )
    )
    assert page_ids(newer_by_time) + page_ids(older_by_time) == newest_first
    assert pivot.execution_id.id in page_ids(newer_by_time)
    everything = await executions.ListExecutions(
        pb.ListExecutionsRequest(older_than=pb.ListExecutionsRequest.OlderThan(length=100))
    )
    assert len(everything.executions) == 26, "without a function filter the spin execution is listed too"


async def test_list_execution_events_and_responses(executions: pb_grpc.ExecutionRepositoryStub, server: Server) -> None:
    response = await executions.Submit(submit_request([10]))
    await server.executions.wait_for_result(ExecutionId(response.execution_id.id), timeout=10)
    events = await executions.ListExecutionEvents(pb.ListExecutionEventsRequest(execution_id=response.execution_id))
    kinds = [e.WhichOneof("event") for e in events.events]
    assert kinds == ["created", "locked", "finished"]
    assert [e.version for e in events.events] == [0, 1, 2]
    created = events.events[0].created
    assert json.loads(created.params.value) == [10]
    assert created.params.type_url == "urn:obelisk:json:params:testing:fibo/fibo.fibo"
    assert created.component_id.id.startswith("activity_wasm:fibo_wat:")
    assert events.events[1].locked.run_id.startswith("Run_")
    assert json.loads(events.events[2].finished.result_detail.ok.return_value.value) == 55
    tail = await executions.ListExecutionEvents(
        pb.ListExecutionEventsRequest(execution_id=response.execution_id, version_from=1, length=1)
    )
    assert [e.version for e in tail.events] == [1]
    responses = await executions.ListResponses(pb.ListResponsesRequest(execution_id=response.execution_id))
    assert list(responses.responses) == [], "an activity receives no join-set responses"


async def test_generate_execution_id(executions: pb_grpc.ExecutionRepositoryStub) -> None:
    first = await executions.GenerateExecutionId(pb.GenerateExecutionIdRequest())
    second = await executions.GenerateExecutionId(pb.GenerateExecutionIdRequest())
    assert ExecutionId.parse(first.execution_id.id) != ExecutionId.parse(second.execution_id.id)


async def test_gzip_compressed_calls(executions: pb_grpc.ExecutionRepositoryStub) -> None:
    response = await executions.Submit(submit_request([10]), compression=grpc.Compression.Gzip)
    messages = await asyncio.wait_for(
        follow(executions, response.execution_id.id, compression=grpc.Compression.Gzip), 10
    )
    assert json.loads(messages[-1].finished_status.result_detail.ok.return_value.value) == 55


async def test_list_executions_filters_refuse_what_they_cannot_mean(
    executions: pb_grpc.ExecutionRepositoryStub,
) -> None:
    request = pb.ListExecutionsRequest
    refused = [
        (request(state_filters=[9]), "state_filters: 9"),  # type: ignore[list-item]  # the original's PAUSED
        (request(function_name=FIBO, function_filter={"package_name": "testing:fibo"}), "not both"),
        (request(function_filter={"interface_name": "testing:fibo"}), "namespace:package/interface"),
    ]
    for message, fragment in refused:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await executions.ListExecutions(message)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert fragment in (error.value.details() or ""), error.value.details()
    finished = request(state_filters=[request.EXECUTION_STATE_FILTER_FINISHED], top_level_only=True)
    assert list((await executions.ListExecutions(finished)).executions) == []


async def test_submit_stores_the_callers_traceparent_even_with_traces_off(
    executions: pb_grpc.ExecutionRepositoryStub, server: Server
) -> None:
    """So that a server with traces on continues the caller's trace; an unreadable one is ignored (W3C), and with
    traces off nothing is stored without one."""
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    stored = {}
    for sent in (traceparent, "00-not-a-traceparent", None):
        request = submit_request([1])
        metadata = () if sent is None else (("traceparent", sent),)
        response = await executions.Submit(request, metadata=metadata)
        created = (await server.executions.get(ExecutionId(response.execution_id.id))).created
        stored[sent] = None if created.trace is None else created.trace.traceparent()
    assert stored == {traceparent: traceparent, "00-not-a-traceparent": None, None: None}
