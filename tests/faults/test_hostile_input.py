"""Hostile input over the real gRPC API on a real port: each bad request gets ``INVALID_ARGUMENT`` (never
``INTERNAL`` or ``UNKNOWN``), writes nothing, and costs the server log at most one line, never a traceback.

Covers squatted child ids (an execution created under ``E_<ULID>.0`` before its parent made the parent fail on every
run), ids with non-ASCII look-alike characters, deeply nested params, cursors out of the timestamp range, and bytes
that are not the request message at all (sent through a raw channel with identity serializers), seeded and bounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.concepts.events import ChildExecutionRequest, JoinSetRequest
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.server import Server
from obelisk.storage.interface import ExecutionQuery
from tests.faults.conftest import scaled, scaled_timeout
from tests.integration.server_harness import running_server, write_config
from tests.wat_fixtures import build_wat_fixture

FIBO = "testing:fibo/fibo.fibo"
FIBOA = "testing:fibo-workflow/workflow.fiboa"


def components(tmp_path: Path) -> str:
    return f"""
[[activity_wasm]]
name = "fibo"
location.path = "{build_wat_fixture("fibo", tmp_path / "wat")}"

[[workflow]]
name = "fibo_workflow"
location.path = "{build_wat_fixture("fibo_workflow", tmp_path / "wat")}"
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running_server(write_config(tmp_path, tmp_path / "codegen", components(tmp_path))) as running:
        yield running


@pytest.fixture
async def channel(server: Server) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.api_port}") as opened:
        yield opened


def submit_request(execution_id: str, ffqn: str, params: bytes) -> pb.SubmitRequest:
    ifc, function = ffqn.rsplit(".", 1)
    return pb.SubmitRequest(
        execution_id=pb.ExecutionId(id=execution_id),
        function_name=pb.FunctionName(interface_name=ifc, function_name=function),
        params=AnyMessage(value=params),
    )


class Requests:
    """Counts the requests a test makes and checks what the server logged for them."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.count = 0
        caplog.set_level(logging.INFO)  # what a server logs by default
        caplog.clear()

    async def refused(self, call: object, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT) -> str:
        """Await ``call`` (a unary call or a stream to drain) and return the details of its expected error."""
        self.count += 1
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            if isinstance(call, grpc.aio.UnaryStreamCall | grpc.aio.StreamStreamCall):
                async for _ in call:
                    pass
            else:
                await call  # type: ignore[misc]
        assert raised.value.code() is code, raised.value
        return raised.value.details() or ""

    def assert_quiet_log(self) -> None:
        records = self.caplog.records
        assert not [r for r in records if r.exc_info is not None or "Traceback" in r.getMessage()]
        assert not [r for r in records if r.levelno >= logging.ERROR], [r.getMessage() for r in records]
        assert len(records) <= self.count, [r.getMessage() for r in records]


@pytest.fixture
def requests(caplog: pytest.LogCaptureFixture) -> Requests:
    return Requests(caplog)


# ---------------------------------------------------------------------------------------------- ids


SQUATTED_SUFFIXES = [".0", ".1", ".0.0", ".\u00b2", ".\u0663", ".\uff10", ".01", f".{2**64}"]


async def test_child_ids_cannot_be_squatted_and_the_parent_then_creates_its_child(
    server: Server, channel: grpc.aio.Channel, requests: Requests
) -> None:
    executions = pb_grpc.ExecutionRepositoryStub(channel)
    parent = ExecutionId.generate()
    for suffix in SQUATTED_SUFFIXES:
        details = await requests.refused(executions.Submit(submit_request(parent + suffix, FIBO, b"[1]")))
        assert details.startswith("execution_id"), details
    details = await requests.refused(executions.Submit(submit_request(parent + ".0", FIBO, b"[1]")))
    assert "only the engine creates those" in details
    requests.assert_quiet_log()
    assert await server.executions.list_executions(ExecutionQuery()) == []  # nothing was written

    # The parent creates its own child .0 (and .1, ...) and finishes.
    await executions.Submit(submit_request(parent, FIBOA, b"[10, 2]"))
    result = await asyncio.wait_for(server.executions.wait_for_result(parent), scaled_timeout(20))
    assert result == Ok(ReturnValue(55))
    log = await server.executions.get(parent)
    children = [
        e.event.request.child_execution_id
        for e in log.events
        if isinstance(e.event, JoinSetRequest) and isinstance(e.event.request, ChildExecutionRequest)
    ]
    assert children == [parent.child(0), parent.child(1)]
    child = await server.executions.get(parent.child(0))
    assert child.created.parent is not None and child.created.parent.execution_id == parent


NON_ASCII_IDS = [
    "E_01J000000000000000000000\u212a",  # Kelvin sign: matches "K" case-insensitively
    "E_01J000000000000000000000\u017f",  # long s: matches "S" case-insensitively
    "E_" + "\uff10" * 26,  # fullwidth zeros
    "E_01J0000000000000000000000Z.\u0663",
    "\u0395_01J0000000000000000000000Z",  # Greek capital epsilon
]


async def test_lookups_refuse_malformed_and_non_ascii_ids(channel: grpc.aio.Channel, requests: Requests) -> None:
    executions = pb_grpc.ExecutionRepositoryStub(channel)
    for raw in NON_ASCII_IDS:
        execution_id = pb.ExecutionId(id=raw)
        for call in (
            executions.Submit(submit_request(raw, FIBO, b"[1]")),
            executions.GetStatus(pb.GetStatusRequest(execution_id=execution_id)),
            executions.ListExecutionEvents(pb.ListExecutionEventsRequest(execution_id=execution_id)),
            executions.ListResponses(pb.ListResponsesRequest(execution_id=execution_id)),
            executions.ListExecutions(
                pb.ListExecutionsRequest(
                    older_than=pb.ListExecutionsRequest.OlderThan(
                        cursor=pb.ListExecutionsRequest.Cursor(execution_id=execution_id)
                    )
                )
            ),
        ):
            details = await requests.refused(call)
            assert "execution_id" in details and repr(raw) in details, details
    requests.assert_quiet_log()


# ---------------------------------------------------------------------------------------------- values


@pytest.mark.parametrize("depth", [101, 1_000, 100_000])
async def test_deeply_nested_params_are_invalid_arguments(
    server: Server, channel: grpc.aio.Channel, requests: Requests, depth: int
) -> None:
    executions = pb_grpc.ExecutionRepositoryStub(channel)
    for params in (b"[" * depth + b"]" * depth, b'[{"a":' * depth + b"1" + b"}]" * depth):
        details = await requests.refused(executions.Submit(submit_request(ExecutionId.generate(), FIBO, params)))
        assert details == f"params of {FIBO}: nested deeper than 100 levels of JSON arrays and objects"
    requests.assert_quiet_log()
    assert await server.executions.list_executions(ExecutionQuery()) == []


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [(2**62, 0), (-(2**62), 0), (2**63 - 1, 0), (253_402_300_800, 0), (-62_135_596_801, 0), (0, -1), (0, 10**9)],
)
async def test_cursors_out_of_the_timestamp_range_are_invalid_arguments(
    channel: grpc.aio.Channel, requests: Requests, seconds: int, nanos: int
) -> None:
    executions = pb_grpc.ExecutionRepositoryStub(channel)
    cursor = pb.ListExecutionsRequest.Cursor(created_at=Timestamp(seconds=seconds, nanos=nanos))
    for request in (
        pb.ListExecutionsRequest(older_than=pb.ListExecutionsRequest.OlderThan(cursor=cursor)),
        pb.ListExecutionsRequest(newer_than=pb.ListExecutionsRequest.NewerThan(cursor=cursor, including_cursor=True)),
    ):
        details = await requests.refused(executions.ListExecutions(request))
        assert details.startswith("cursor.created_at: ") and "years 1 to 9999" in details
    requests.assert_quiet_log()
    # The ends of the range are fine.
    for edge_seconds in (253_402_300_799, -62_135_596_800):
        edge = pb.ListExecutionsRequest.Cursor(created_at=Timestamp(seconds=edge_seconds, nanos=999_999_999))
        await executions.ListExecutions(
            pb.ListExecutionsRequest(older_than=pb.ListExecutionsRequest.OlderThan(cursor=edge))
        )


# ---------------------------------------------------------------------------------------------- bytes

UNARY_METHODS = [
    "/obelisk.ExecutionRepository/GenerateExecutionId",
    "/obelisk.ExecutionRepository/Submit",
    "/obelisk.ExecutionRepository/ListExecutions",
    "/obelisk.ExecutionRepository/ListExecutionEvents",
    "/obelisk.ExecutionRepository/ListResponses",
    "/obelisk.FunctionRepository/ListComponents",
    "/obelisk.FunctionRepository/GetWit",
    "/grpc.health.v1.Health/Check",
]
STREAM_METHODS = ["/obelisk.ExecutionRepository/GetStatus", "/grpc.health.v1.Health/Watch"]
BIDI_METHODS = ["/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"]
NEVER_A_MESSAGE = [
    b"\xff\xff\xff\xff",  # field 0 / wire type 7: no such thing
    b"\x0a\xff",  # a length that never ends
    b"\x0a\x05ab",  # a length past the end
    b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # a varint longer than 10 bytes
    b"\x0b",  # a start-group tag that never ends
]


async def test_bytes_that_are_not_a_message_are_invalid_arguments(
    channel: grpc.aio.Channel, requests: Requests
) -> None:
    for method in UNARY_METHODS:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        for garbage in NEVER_A_MESSAGE:
            details = await requests.refused(call(garbage))
            assert details.startswith("the request is not a valid message: "), details
    for method in STREAM_METHODS:
        stream = channel.unary_stream(method, request_serializer=None, response_deserializer=None)
        for garbage in NEVER_A_MESSAGE:
            await requests.refused(stream(garbage))
    for method in BIDI_METHODS:
        bidi = channel.stream_stream(method, request_serializer=None, response_deserializer=None)
        for garbage in NEVER_A_MESSAGE:
            await requests.refused(bidi(iter([garbage])))
    requests.assert_quiet_log()


async def test_random_bytes_never_give_internal_or_unknown(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture, fault_scale: float
) -> None:
    """Random bytes may happen to decode (protobuf skips unknown fields); whatever they are, the answer is a
    client error or a success, and the log stays quiet."""
    caplog.set_level(logging.INFO)  # what a server logs by default
    rng = random.Random(11)
    count = scaled(200, fault_scale)
    codes: dict[grpc.StatusCode, int] = {}
    for _ in range(count):
        method = rng.choice(UNARY_METHODS)
        garbage = rng.randbytes(rng.randint(1, 64))
        try:
            await channel.unary_unary(method, request_serializer=None, response_deserializer=None)(garbage)
            code = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as error:
            code = error.code()
        codes[code] = codes.get(code, 0) + 1
    assert set(codes) <= {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
    }, codes
    assert codes.get(grpc.StatusCode.INVALID_ARGUMENT, 0) > count // 2, codes
    assert not [r for r in caplog.records if r.exc_info is not None or r.levelno >= logging.ERROR]
    assert len(caplog.records) <= count


async def test_health_and_the_api_still_work_after_the_garbage(channel: grpc.aio.Channel, server: Server) -> None:
    for garbage in NEVER_A_MESSAGE:
        with pytest.raises(grpc.aio.AioRpcError):
            await channel.unary_unary("/obelisk.ExecutionRepository/Submit")(garbage)
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    execution_id = ExecutionId.generate()
    executions = pb_grpc.ExecutionRepositoryStub(channel)
    await executions.Submit(submit_request(execution_id, FIBO, json.dumps([10]).encode()))
    result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), scaled_timeout(10))
    assert result == Ok(ReturnValue(55))
