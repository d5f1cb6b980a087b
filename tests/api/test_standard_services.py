"""Health and reflection, built on their first call: same answers as when registered at start-up."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from obelisk.api.server import HEALTH_SERVICE, REFLECTION_SERVICE
from obelisk.server import Server


def test_service_names_are_the_libraries_own() -> None:
    assert HEALTH_SERVICE == health.SERVICE_NAME
    assert REFLECTION_SERVICE == reflection.SERVICE_NAME


async def test_reflection_first_then_health_reports_serving(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {"obelisk.ExecutionRepository", "obelisk.FunctionRepository", HEALTH_SERVICE, REFLECTION_SERVICE} <= names
    check = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert check.status == health_pb2.HealthCheckResponse.SERVING


async def test_watch_streams_serving_and_unknown_services_are_not_found(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    watch = stub.Watch(health_pb2.HealthCheckRequest(service="obelisk.ExecutionRepository"))
    first = await watch.read()
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert error.value.code() is grpc.StatusCode.NOT_FOUND


async def test_health_is_not_serving_once_the_server_stops(server: Server, channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=""))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    assert server.api is not None
    await server.api._standard.enter_graceful_shutdown()
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
    watch.cancel()


async def test_no_health_call_before_stopping_still_reports_not_serving(
    server: Server, channel: grpc.aio.Channel
) -> None:
    assert server.api is not None
    await server.api._standard.enter_graceful_shutdown()
    check = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert check.status == health_pb2.HealthCheckResponse.NOT_SERVING
