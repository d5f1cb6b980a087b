"""FunctionRepository, health, reflection and the committed generated code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc

REPO = Path(__file__).resolve().parents[2]


def fibo_component(response: pb.ListComponentsResponse) -> pb.Component:
    found: list[pb.Component] = [c for c in response.components if c.name == "fibo_wat"]
    assert len(found) == 1
    return found[0]


def ffqns(component: pb.Component) -> dict[str, pb.FunctionDetail]:
    return {f"{f.function_name.interface_name}.{f.function_name.function_name}": f for f in component.exports}


async def test_list_components_without_extensions(functions: pb_grpc.FunctionRepositoryStub) -> None:
    response = await functions.ListComponents(pb.ListComponentsRequest())
    assert sorted(c.name for c in response.components) == ["fibo_wat", "spin"]
    component = fibo_component(response)
    assert component.type == pb.ACTIVITY_WASM
    assert component.component_id.id.startswith("activity_wasm:fibo_wat:")
    assert component.digest.startswith("sha256:")
    exports = ffqns(component)
    assert list(exports) == ["testing:fibo/fibo.fibo"]
    fibo = exports["testing:fibo/fibo.fibo"]
    assert fibo.submittable and not fibo.HasField("extension")
    assert [(p.name, p.type.wit_type, json.loads(p.type.type_wrapper)) for p in fibo.params] == [("n", "u8", "u8")]
    assert fibo.return_type.wit_type == "u64" and json.loads(fibo.return_type.type_wrapper) == "u64"


async def test_list_components_with_extensions(functions: pb_grpc.FunctionRepositoryStub) -> None:
    response = await functions.ListComponents(pb.ListComponentsRequest(extensions=True))
    exports = ffqns(fibo_component(response))
    ext = "testing:fibo-obelisk-ext/fibo"
    assert set(exports) == {
        "testing:fibo/fibo.fibo",
        f"{ext}.fibo-submit",
        f"{ext}.fibo-await-next",
        f"{ext}.fibo-schedule",
    }
    assert {name: (f.extension if f.HasField("extension") else None, f.submittable) for name, f in exports.items()} == {
        "testing:fibo/fibo.fibo": (None, True),
        f"{ext}.fibo-submit": (pb.SUBMIT, False),
        f"{ext}.fibo-await-next": (pb.AWAIT_NEXT, False),
        f"{ext}.fibo-schedule": (pb.SCHEDULE, True),
    }
    schedule = exports[f"{ext}.fibo-schedule"]
    assert [p.name for p in schedule.params] == ["schedule-at", "n"]
    assert "result<tuple<execution-id, u64>" in exports[f"{ext}.fibo-await-next"].return_type.wit_type


async def test_list_components_filters(functions: pb_grpc.FunctionRepositoryStub) -> None:
    by_function = await functions.ListComponents(
        pb.ListComponentsRequest(
            function_name=pb.FunctionName(interface_name="testing:spin/spin", function_name="spin")
        )
    )
    assert [c.name for c in by_function.components] == ["spin"]
    spin_id = by_function.components[0].component_id
    by_id = await functions.ListComponents(pb.ListComponentsRequest(component_id=spin_id))
    assert [c.name for c in by_id.components] == ["spin"]


async def test_get_wit_includes_the_extension_package(functions: pb_grpc.FunctionRepositoryStub) -> None:
    component = fibo_component(await functions.ListComponents(pb.ListComponentsRequest()))
    wit = (await functions.GetWit(pb.GetWitRequest(component_id=component.component_id))).content
    assert "package testing:fibo-obelisk-ext" in wit
    assert "fibo-schedule: func(schedule-at: schedule-at, n: u8) -> execution-id;" in wit
    assert "fibo: func(n: u8) -> u64;" in wit
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await functions.GetWit(pb.GetWitRequest(component_id=pb.ComponentId(id="activity_wasm:nope:0000000000000000")))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert component.component_id.id in (error.value.details() or ""), "known components are listed"


async def test_health_reports_serving(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "obelisk.ExecutionRepository", "obelisk.FunctionRepository"):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_services(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = [
        r async for r in stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    ]
    names = {s.name for s in responses[0].list_services_response.service}
    assert {"obelisk.ExecutionRepository", "obelisk.FunctionRepository", "grpc.health.v1.Health"} <= names
    described = [
        r
        async for r in stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol="obelisk.ExecutionRepository")])
        )
    ]
    assert described[0].file_descriptor_response.file_descriptor_proto, "grpcurl can describe the API"


def test_committed_generated_code_is_up_to_date(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "generate-grpc"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    committed = REPO / "obelisk" / "api" / "generated"
    fresh = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert fresh == sorted(p.name for p in committed.iterdir() if p.is_file() and p.suffix in (".py", ".pyi"))
    stale = [name for name in fresh if (tmp_path / name).read_text() != (committed / name).read_text()]
    assert not stale, f"obelisk/api/generated is stale ({', '.join(stale)}); run scripts/generate-grpc"
