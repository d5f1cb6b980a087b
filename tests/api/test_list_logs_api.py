"""``ListLogs`` over a real gRPC channel: the original's entries, forward paging by token, the filters, the dropped
count, and refusals that name the field."""

from __future__ import annotations

import grpc
import pytest

from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.concepts.guest_logs import LogKind, LogLine
from obelisk.concepts.ids import ExecutionId
from obelisk.server import Server
from tests.storage.helpers import created


async def _execution_with_lines(server: Server) -> ExecutionId:
    execution_id = ExecutionId.generate()
    now = server.clock.now_us()
    await server.storage.create(execution_id, created(), now)
    kinds = [LogKind.STDOUT, LogKind.INFO, LogKind.STDERR, LogKind.ERROR, LogKind.TRACE]
    await server.storage.append_logs(
        [LogLine(execution_id, "Run_1" if n else "", now + n, kind, f"line {n}") for n, kind in enumerate(kinds)],
        {execution_id: 2},
        keep=1000,
    )
    return execution_id


def _texts(response: pb.ListLogsResponse) -> list[str]:
    return [e.log.message if e.WhichOneof("entry") == "log" else e.stream.payload.decode() for e in response.logs]


async def test_entries_page_forward_and_filter(executions: pb_grpc.ExecutionRepositoryStub, server: Server) -> None:
    execution_id = await _execution_with_lines(server)
    eid = pb.ExecutionId(id=execution_id)
    first = await executions.ListLogs(pb.ListLogsRequest(execution_id=eid, page_size=2))
    assert _texts(first) == ["line 0", "line 1"]
    assert first.logs[0].stream.stream_type == pb.LOG_STREAM_TYPE_STDOUT
    assert not first.logs[0].HasField("run_id")
    assert first.logs[1].log.level == pb.LOG_LEVEL_INFO and first.logs[1].run_id.id == "Run_1"
    assert first.logs[1].created_at.ToMicroseconds() == first.logs[0].created_at.ToMicroseconds() + 1
    assert first.dropped_count == 2
    rest = await executions.ListLogs(pb.ListLogsRequest(execution_id=eid, page_token=first.next_page_token))
    assert _texts(rest) == ["line 2", "line 3", "line 4"]
    empty = await executions.ListLogs(pb.ListLogsRequest(execution_id=eid, page_token=rest.next_page_token))
    assert list(empty.logs) == [] and empty.next_page_token == rest.next_page_token

    streams = await executions.ListLogs(pb.ListLogsRequest(execution_id=eid, show_streams=True))
    assert _texts(streams) == ["line 0", "line 2"]
    errors = await executions.ListLogs(
        pb.ListLogsRequest(execution_id=eid, show_logs=True, levels=[pb.LOG_LEVEL_ERROR, pb.LOG_LEVEL_TRACE])
    )
    assert _texts(errors) == ["line 3", "line 4"]


async def test_refusals_name_what_is_wrong(executions: pb_grpc.ExecutionRepositoryStub, server: Server) -> None:
    execution_id = await _execution_with_lines(server)
    cases = [
        (pb.ListLogsRequest(execution_id=pb.ExecutionId(id=ExecutionId.generate())), grpc.StatusCode.NOT_FOUND, "E_"),
        (pb.ListLogsRequest(), grpc.StatusCode.INVALID_ARGUMENT, "execution_id"),
        (
            pb.ListLogsRequest(execution_id=pb.ExecutionId(id=execution_id), page_token="abc"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "page_token",
        ),
        (
            pb.ListLogsRequest(execution_id=pb.ExecutionId(id=execution_id), page_size=-1),
            grpc.StatusCode.INVALID_ARGUMENT,
            "page_size",
        ),
    ]
    for request, code, named in cases:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await executions.ListLogs(request)
        assert error.value.code() == code
        assert named in (error.value.details() or "")
