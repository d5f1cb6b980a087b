"""Authentication and roles on a real gRPC server on a real port: every method is classified, a call without a
token is UNAUTHENTICATED, a viewer's change is PERMISSION_DENIED (and changes nothing), an operator may do it,
health stays open and reflection needs a token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from obelisk.api.auth import METHOD_ACCESS, access_of
from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.api.tokens import Access, token_hash
from obelisk.concepts.ids import ExecutionId
from obelisk.server import Server
from obelisk.storage.interface import ExecutionQuery
from tests.api.conftest import wat_components
from tests.integration.server_harness import running_server, write_config

OPERATOR = "operator-token-0123456789abcdef0123456789"
VIEWER = "viewer-token-0123456789abcdef0123456789ab"
FIBO = "testing:fibo/fibo.fibo"
NOT_YET_IN_THE_PROTO = {
    "/obelisk.ExecutionRepository/PauseExecution",
    "/obelisk.ExecutionRepository/UnpauseExecution",
}
"""Classified ahead of their RPCs (operator control): they must be operator-only the day they are added."""


def proto_methods() -> set[str]:
    return {
        f"/{service.full_name}/{method.name}"
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }


def test_every_rpc_of_the_proto_is_classified() -> None:
    unclassified = proto_methods() - set(METHOD_ACCESS)
    assert unclassified == set(), f"classify these in obelisk.api.auth.METHOD_ACCESS: {sorted(unclassified)}"
    stale = set(METHOD_ACCESS) - proto_methods() - NOT_YET_IN_THE_PROTO
    assert stale == set(), f"METHOD_ACCESS names methods the proto does not have: {sorted(stale)}"


def test_changes_need_an_operator_and_reads_any_token() -> None:
    writes = {m.rsplit("/", 1)[1] for m, access in METHOD_ACCESS.items() if access is Access.WRITE}
    assert writes == {"Submit", "CancelExecution", "CancelDelay", "PauseExecution", "UnpauseExecution"}
    assert access_of("/grpc.health.v1.Health/Check") is Access.OPEN
    assert access_of("/grpc.health.v1.Health/Watch") is Access.OPEN
    assert access_of("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") is Access.READ
    assert access_of("/obelisk.ExecutionRepository/SomethingNew") is Access.WRITE, "unknown methods fail closed"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    hashes = f'api.token_hashes = ["{token_hash(OPERATOR)}", {{ hash = "{token_hash(VIEWER)}", role = "viewer" }}]'
    path = write_config(tmp_path, tmp_path / "codegen", wat_components(tmp_path), extra=hashes)
    async with running_server(path) as running:
        yield running


@pytest.fixture
async def channel(server: Server) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.api_port}") as opened:
        yield opened


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def submit_request(execution_id: str) -> pb.SubmitRequest:
    request = pb.SubmitRequest(
        execution_id=pb.ExecutionId(id=execution_id),
        function_name=pb.FunctionName(interface_name="testing:fibo/fibo", function_name="fibo"),
    )
    request.params.type_url = f"urn:obelisk:json:params:{FIBO}"
    request.params.value = json.dumps([10]).encode()
    return request


async def test_without_a_token_every_call_is_unauthenticated(channel: grpc.aio.Channel, server: Server) -> None:
    executions = pb_grpc.ExecutionRepositoryStub(channel)
    functions = pb_grpc.FunctionRepositoryStub(channel)
    execution_id = str(ExecutionId.generate())
    calls = [
        executions.Submit(submit_request(execution_id)),
        executions.ListExecutions(pb.ListExecutionsRequest()),
        functions.ListComponents(pb.ListComponentsRequest()),
        executions.Submit(submit_request(execution_id), metadata=bearer("not-a-token")),
        executions.Submit(submit_request(execution_id), metadata=(("authorization", OPERATOR),)),
    ]
    reasons = []
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert "\n" not in (err.value.details() or "")
        reasons.append(err.value.details())
    assert reasons[0].startswith("missing API token: send `authorization: Bearer <token>`")
    assert reasons[3] == "unknown API token"
    assert reasons[4].startswith("malformed authorization")
    stream = executions.GetStatus(pb.GetStatusRequest(execution_id=pb.ExecutionId(id=execution_id)))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in stream:
            pass
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert await server.storage.list_executions(ExecutionQuery()) == [], "a refused submit wrote nothing"


async def test_a_viewer_reads_but_may_not_change_anything(channel: grpc.aio.Channel, server: Server) -> None:
    executions = pb_grpc.ExecutionRepositoryStub(channel)
    functions = pb_grpc.FunctionRepositoryStub(channel)
    listing = await functions.ListComponents(pb.ListComponentsRequest(), metadata=bearer(VIEWER))
    assert "fibo_wat" in [c.name for c in listing.components]
    await executions.ListExecutions(pb.ListExecutionsRequest(), metadata=bearer(VIEWER))
    execution_id = str(ExecutionId.generate())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await executions.Submit(submit_request(execution_id), metadata=bearer(VIEWER))
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    details = err.value.details() or ""
    assert details.startswith("Submit needs an operator token; this viewer token (token:") and "\n" not in details
    assert VIEWER not in details
    cancel = pb.CancelExecutionRequest(execution_id=pb.ExecutionId(id=execution_id))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await executions.CancelExecution(cancel, metadata=bearer(VIEWER))
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert await server.storage.list_executions(ExecutionQuery()) == [], "a refused submit wrote nothing"


async def test_an_operator_submits_and_follows_to_the_result(channel: grpc.aio.Channel) -> None:
    executions = pb_grpc.ExecutionRepositoryStub(channel)
    execution_id = str(ExecutionId.generate())
    await executions.Submit(submit_request(execution_id), metadata=bearer(OPERATOR))
    request = pb.GetStatusRequest(execution_id=pb.ExecutionId(id=execution_id), follow=True, send_finished_status=True)
    statuses = [status async for status in executions.GetStatus(request, metadata=bearer(OPERATOR))]
    assert statuses[-1].HasField("finished_status")
    # a viewer may follow it too
    finished = [s async for s in executions.GetStatus(request, metadata=bearer(VIEWER))]
    assert finished[-1].HasField("finished_status")


async def test_health_stays_open_and_reflection_needs_a_token(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    response = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def services(metadata: tuple[tuple[str, str], ...] = ()) -> list[str]:
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        answers = [a async for a in reflection.ServerReflectionInfo(iter([request]), metadata=metadata)]
        return [s.name for s in answers[0].list_services_response.service]

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await services()
    assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "obelisk.ExecutionRepository" in await services(bearer(VIEWER))
