"""A seeded, bounded fuzz of every method of ``ExecutionRepository`` and ``FunctionRepository`` against a real
server on a real port.

Requests are generated from the services' descriptors (a new method or field is fuzzed without touching this
file): random field values drawn from real ids and function names, malformed, non-ASCII and huge strings, params
JSON that is right, wrong or broken, extreme numbers and timestamps, unknown enum values; some requests get a field
of the wrong wire type appended, or are another method's request. Each must be answered with a client error or a
success, never ``INTERNAL``/``UNKNOWN``, never with a traceback in its details or the log; a refused request
writes nothing (the executions, the versions of the existing ones and the pending delays are compared around it),
and the server stays healthy throughout.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc

from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.server import Server
from tests.faults.conftest import scaled, scaled_timeout
from tests.faults.fuzz_support import (
    FFQNS,
    FIBO,
    SEED,
    Database,
    Known,
    describe,
    fuzzed_server,
    id_pool,
    json_bytes,
    json_texts,
    junk_strings,
    settled,
)
from tests.integration.server_harness import sqlite_file

CASES = 2400
SERVICES = ("obelisk.ExecutionRepository", "obelisk.FunctionRepository")
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
}
UNARY_DEADLINE = scaled_timeout(15.0)
STREAM_DEADLINE = 0.5
"""A followed stream of an execution that sleeps for an hour ends at this deadline, on the client's side."""
LEAKS = ("Traceback", 'File "', "internal error")


@dataclass(frozen=True)
class Method:
    path: str
    name: str
    input: Any
    output: Any
    streaming: bool


def methods() -> list[Method]:
    found = []
    for service_name in SERVICES:
        service = pb.DESCRIPTOR.services_by_name[service_name.removeprefix("obelisk.")]
        for method in service.methods:
            assert not method.client_streaming, f"{method.full_name}: client streams are not fuzzed yet"
            found.append(
                Method(
                    f"/{service.full_name}/{method.name}",
                    method.name,
                    method.input_type,
                    method.output_type,
                    method.server_streaming,
                )
            )
    return found


_INTS = {
    FieldDescriptor.TYPE_INT32: (0, 1, -1, 2**31 - 1, -(2**31)),
    FieldDescriptor.TYPE_SINT32: (0, 1, -1, 2**31 - 1, -(2**31)),
    FieldDescriptor.TYPE_SFIXED32: (0, -1, 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 1, 2, 20, 500, 2**31, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (0, 1, -1, 2**63 - 1, -(2**63)),
    FieldDescriptor.TYPE_SINT64: (0, -1, 2**63 - 1, -(2**63)),
    FieldDescriptor.TYPE_SFIXED64: (0, -1, 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 1, 2**63, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_WIRE_TYPE = {
    FieldDescriptor.TYPE_DOUBLE: 1,
    FieldDescriptor.TYPE_FIXED64: 1,
    FieldDescriptor.TYPE_SFIXED64: 1,
    FieldDescriptor.TYPE_FLOAT: 5,
    FieldDescriptor.TYPE_FIXED32: 5,
    FieldDescriptor.TYPE_SFIXED32: 5,
    FieldDescriptor.TYPE_STRING: 2,
    FieldDescriptor.TYPE_BYTES: 2,
    FieldDescriptor.TYPE_MESSAGE: 2,
}


def _repeated(field: Any) -> bool:
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else field.label == FieldDescriptor.LABEL_REPEATED


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


class RequestFuzzer:
    """Random requests of a method, from its input descriptor."""

    def __init__(self, rng: random.Random, known: Known) -> None:
        self.rng = rng
        self.junk = junk_strings(rng)
        self.json = json_texts(rng)
        self.ids = id_pool(known, rng)
        self.delays = [*known.delays, "Delay_" + str(ExecutionId.generate())[2:]]
        self.component_ids = known.component_ids
        self.ffqns = list(FFQNS)
        self.skip = 0.3
        """The chance of leaving a field unset."""
        self.junk_share = 0.35
        """The chance of a junk string where a real id or name would fit."""

    def request(self, method: Method, all_methods: list[Method]) -> bytes:
        rng = self.rng
        # A quarter of the requests are mostly well-formed, so that the methods' deeper checks (and their
        # successes) are reached, not only the first field's validation.
        self.skip, self.junk_share = (0.05, 0.05) if rng.random() < 0.25 else (0.3, 0.35)
        if rng.random() < 0.05:  # another method's request: its fields, read as this one's
            other = rng.choice(all_methods)
            return bytes(self.message(other.input).SerializeToString())
        data = bytes(self.message(method.input).SerializeToString())
        if rng.random() < 0.15:
            data += self.wrong_wire_type(method.input)
        return data

    def message(self, descriptor: Any, depth: int = 0) -> Any:
        message = message_factory.GetMessageClass(descriptor)()
        self._fill(message, depth)
        return message

    def _fill(self, message: Any, depth: int) -> None:
        rng = self.rng
        descriptor = message.DESCRIPTOR
        if descriptor.full_name == "google.protobuf.Any":
            if rng.random() < 0.8:
                message.type_url = f"urn:obelisk:json:params:{rng.choice(self.ffqns)}"
            else:
                message.type_url = rng.choice(self.junk)
            texts = self.json[:3] if rng.random() > self.junk_share * 2 else self.json  # right ones, mostly
            message.value = json_bytes(rng.choice(texts)) if rng.random() < 0.9 else rng.randbytes(32)
            return
        if descriptor.full_name == "google.protobuf.Timestamp":
            message.seconds = rng.choice((0, 1_700_000_000, -1, 253_402_300_800, -62_135_596_801, 2**62))
            message.nanos = rng.choice((0, 999_999_999, -1, 10**9))
            return
        if descriptor.full_name == "obelisk.FunctionName" and rng.random() > self.junk_share:
            message.interface_name, _, message.function_name = rng.choice(self.ffqns).rpartition(".")
            return
        for field in descriptor.fields:
            if rng.random() < self.skip:
                continue
            if _repeated(field):
                for _ in range(rng.choice((0, 1, 2, 3, 50))):
                    if field.type == FieldDescriptor.TYPE_MESSAGE:
                        self._fill(getattr(message, field.name).add(), depth + 1)
                    else:
                        getattr(message, field.name).append(self.scalar(field, descriptor))
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                if depth < 6:
                    child = getattr(message, field.name)
                    child.SetInParent()
                    self._fill(child, depth + 1)
            else:
                setattr(message, field.name, self.scalar(field, descriptor))

    def scalar(self, field: Any, owner: Any) -> Any:
        rng = self.rng
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self.string(field.name, owner.name)
        if kind == FieldDescriptor.TYPE_BYTES:
            return json_bytes(rng.choice(self.json)) if rng.random() < 0.5 else rng.randbytes(rng.randint(0, 64))
        if kind == FieldDescriptor.TYPE_BOOL:
            return rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            numbers = [value.number for value in field.enum_type.values]
            return rng.choice([*numbers, *numbers, max(numbers) + 1, 2**31 - 1, -1])
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return rng.choice((0.0, -1.0, 1e308, float("inf"), float("nan")))
        if kind in _INTS:
            pool = _INTS[kind]
            return rng.choice(pool) if rng.random() < 0.7 else rng.randint(min(pool), max(pool))
        raise AssertionError(f"field {owner.full_name}.{field.name}: type {kind} has no generator")

    def string(self, name: str, owner: str) -> str:
        rng = self.rng
        if rng.random() < self.junk_share:
            return rng.choice(self.junk)
        if owner == "ExecutionId":
            return str(ExecutionId.generate()) if rng.random() < 0.3 else rng.choice(self.ids)
        if owner == "DelayId":
            return rng.choice(self.delays)
        if owner == "ComponentId":
            return rng.choice(self.component_ids)
        if owner == "FunctionName":
            interface, _, function = rng.choice(self.ffqns).rpartition(".")
            return interface if name == "interface_name" else function
        if name.endswith("ffqn") or name.endswith("prefix"):
            return rng.choice(self.ffqns).rpartition(rng.choice(".:/"))[0]
        return rng.choice(self.junk)

    def wrong_wire_type(self, descriptor: Any) -> bytes:
        """A field of ``descriptor`` sent with a wire type other than its own (a string as a varint, ...)."""
        rng = self.rng
        fields = list(descriptor.fields)
        number = rng.choice(fields).number if fields else rng.randint(1, 20)
        right = next((_WIRE_TYPE.get(f.type, 0) for f in fields if f.number == number), 0)
        wrong = rng.choice([w for w in (0, 1, 2, 5) if w != right])
        payload = {
            0: _varint(rng.getrandbits(64)),
            1: rng.randbytes(8),
            2: _varint(5) + rng.randbytes(5),
            5: rng.randbytes(4),
        }[wrong]
        return _varint(number << 3 | wrong) + payload


@pytest.fixture
async def fuzzed(tmp_path: Path) -> AsyncIterator[tuple[Server, Known, grpc.aio.Channel]]:
    async with fuzzed_server(tmp_path) as (server, known):
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.api_port}")
        try:
            yield server, known, channel
        finally:
            await channel.close()


async def _call(channel: grpc.aio.Channel, method: Method, data: bytes) -> tuple[grpc.StatusCode, str, list[bytes]]:
    """Send ``data`` as the request of ``method``; its status, details and response messages."""
    try:
        if method.streaming:
            stream = channel.unary_stream(method.path, request_serializer=None, response_deserializer=None)
            responses = [response async for response in stream(data, timeout=STREAM_DEADLINE)]
        else:
            unary = channel.unary_unary(method.path, request_serializer=None, response_deserializer=None)
            responses = [await unary(data, timeout=UNARY_DEADLINE)]
    except grpc.aio.AioRpcError as error:
        code, details = error.code(), error.details() or ""
        if method.streaming and code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return grpc.StatusCode.OK, "", []  # a followed execution that is still running
        return code, details, []
    return grpc.StatusCode.OK, "", responses


async def test_every_grpc_method_survives_the_fuzz(
    fuzzed: tuple[Server, Known, grpc.aio.Channel], caplog: pytest.LogCaptureFixture, fault_scale: float
) -> None:
    server, known, channel = fuzzed
    caplog.set_level(logging.INFO)  # what a server logs by default
    caplog.clear()
    rng = random.Random(SEED)
    fuzzer = RequestFuzzer(rng, known)
    all_methods = methods()
    assert {m.name for m in all_methods} >= {"Submit", "GetStatus", "ListExecutions", "CancelExecution", "GetWit"}
    db = Database(sqlite_file(server))
    health = health_pb2_grpc.HealthStub(channel)
    watched = known.execution_ids
    codes: dict[str, dict[str, int]] = {m.name: {} for m in all_methods}
    count = scaled(CASES, fault_scale)
    try:
        before = db.snapshot(watched)
        for case in range(count):
            method = all_methods[case % len(all_methods)]
            data = fuzzer.request(method, all_methods)
            code, details, responses = await _call(channel, method, data)
            where = f"seed {SEED} case {case}: {method.path} {describe(data.decode('latin-1'))}"
            codes[method.name][code.name] = codes[method.name].get(code.name, 0) + 1
            assert code in ALLOWED, f"{where}: {code.name} {details}"
            assert not any(leak in details for leak in LEAKS), f"{where}: {details}"
            output = message_factory.GetMessageClass(method.output)
            for response in responses:
                output.FromString(response)  # a well-formed answer
            if code is grpc.StatusCode.OK:
                if db.snapshot(watched) != before:  # it wrote: let what it started run out
                    before = await settled(db, watched, before)
            else:
                after = db.snapshot(watched)
                assert after == before, f"{where}: refused ({code.name}: {details}) yet {before} became {after}"
            if case % 200 == 199:
                status = await health.Check(health_pb2.HealthCheckRequest(), timeout=scaled_timeout(5))
                assert status.status == health_pb2.HealthCheckResponse.SERVING, where
    finally:
        db.close()
    # The fuzz reached past the decoding into each method's own checks, and got some requests accepted.
    refused = sum(seen.get("INVALID_ARGUMENT", 0) + seen.get("NOT_FOUND", 0) for seen in codes.values())
    accepted = sum(seen.get("OK", 0) for seen in codes.values())
    assert refused > count // 4 and accepted > count // 10, codes
    assert codes["Submit"].get("OK", 0) > 0 and codes["CancelExecution"].get("OK", 0) > 0, codes
    assert not [r for r in caplog.records if r.exc_info is not None or "Traceback" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    # And the server still does its work.
    execution_id = ExecutionId.generate()
    await server.executions.submit(execution_id, FIBO, [10])
    result = await asyncio.wait_for(server.executions.wait_for_result(execution_id), scaled_timeout(20))
    assert result == Ok(ReturnValue(55))


async def test_a_huge_value_is_refused_in_a_message_cut_to_fit(fuzzed: tuple[Server, Known, grpc.aio.Channel]) -> None:
    """Found by the fuzz: the refusal quoted the whole value, past the header size clients accept (they got
    ``RESOURCE_EXHAUSTED`` about metadata), and a page token past 64 bits reached the database (``INTERNAL``)."""
    _, known, channel = fuzzed
    huge = "\u4e2d" * 300_000
    cancel = pb.CancelExecutionRequest(execution_id=pb.ExecutionId(id=huge))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await channel.unary_unary("/obelisk.ExecutionRepository/CancelExecution")(cancel.SerializeToString())
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").endswith("more characters cut)")
    logs = pb.ListLogsRequest(execution_id=pb.ExecutionId(id=known.finished[0]), page_token="9" * 40)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await channel.unary_unary("/obelisk.ExecutionRepository/ListLogs")(logs.SerializeToString())
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.details() or "").startswith("page_token: expected a next_page_token")
