"""Traces end to end: a server subprocess exporting OTLP/gRPC to a receiver started by the test.

What is checked is the trace's structure as a collector sees it: one trace id throughout, the execution spans with
their derived ids, runs under their execution, host calls under their run, children under their parent execution,
and the caller's span above it all when the submission carried a ``traceparent``; across a kill -9 and a restart,
the second process's spans continue the first one's trace.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.concepts.ffqn import WEBHOOK_FFQN
from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.trace_context import execution_span_id
from tests.e2e.test_two_servers import PASSWORD_VARIABLE, _executor_id, _fibo_components, _write_config
from tests.integration.server_process import ServerProcess
from tests.postgres_cluster import PostgresCluster
from tests.tracing.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.slow

FIBOA = "testing:fibo-workflow/workflow.fiboa"
FIBO = "testing:fibo/fibo.fibo"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    started = OtlpReceiver().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(autouse=True)
def _quick_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's batch processor exports every 5 s by default; the servers started here every 50 ms."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(
    tmp_path: Path,
    built: Path,
    codegen_cache: Path,
    endpoint: str,
    api_port: int,
    *,
    webhook_port: int = 0,
    more: str = "",
) -> Path:
    webhook = f"""
[[http_server]]
name = "external"
listening_addr = "127.0.0.1:{webhook_port}"

[[webhook_endpoint]]
name = "fibo_webhook"
location.path = "{built / "fibo_webhook.wasm"}"
http_server = "external"
routes = [{{methods = ["GET"], route = "/fibo/:N/:ITERATIONS"}}]
"""
    path = tmp_path / "obelisk.toml"
    path.write_text(
        f"""
api.listening_addr = "127.0.0.1:{api_port}"
sqlite.file = "{tmp_path / "db" / "obelisk.sqlite"}"
wasm_cache_directory = "{tmp_path / "wasm-cache"}"
codegen_cache.directory = "{codegen_cache}"

[otlp]
enabled = true
otlp_endpoint = "{endpoint}"
service_name = "obelisk-under-test"

[[activity_wasm]]
name = "fibo_activity"
location.path = "{built / "fibo_activity.wasm"}"
exec.tick_sleep = {{millis = 50}}

[[workflow]]
name = "fibo_workflow"
location.path = "{built / "fibo_workflow.wasm"}"
exec.tick_sleep = {{millis = 50}}
{webhook if webhook_port else ""}
{more}""",
        encoding="utf-8",
    )
    return path


def _submit(api_port: int, execution_id: str, ffqn: str, params: list[object], traceparent: str | None) -> None:
    interface, _, function = ffqn.rpartition(".")
    request = pb.SubmitRequest(
        execution_id=pb.ExecutionId(id=execution_id),
        function_name=pb.FunctionName(interface_name=interface, function_name=function),
    )
    request.params.type_url = f"urn:obelisk:json:params:{ffqn}"
    request.params.value = json.dumps(params).encode()
    metadata = () if traceparent is None else (("traceparent", traceparent),)
    with grpc.insecure_channel(f"127.0.0.1:{api_port}") as channel:
        pb_grpc.ExecutionRepositoryStub(channel).Submit(request, metadata=metadata, timeout=30)


def _span_id(execution_id: str) -> str:
    return f"{execution_span_id(execution_id):016x}"


def _execution_span(spans: list[ReceivedSpan], execution_id: str) -> ReceivedSpan | None:
    return next((s for s in spans if s.span_id == _span_id(execution_id)), None)


def _executions(spans: list[ReceivedSpan], ffqn: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == ffqn]


def _runs(spans: list[ReceivedSpan], execution_id: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name.startswith("run ") and s.attribute("obelisk.execution_id") == execution_id]


def test_a_workflow_with_children_continues_the_callers_trace(
    tmp_path: Path, built_components: Path, codegen_cache: Path, receiver: OtlpReceiver
) -> None:
    api_port = _free_port()
    server = ServerProcess(_config(tmp_path, built_components, codegen_cache, receiver.endpoint, api_port)).start()
    try:
        workflow = str(ExecutionId.generate())
        _submit(api_port, workflow, FIBOA, [10, 3], f"00-{CALLER_TRACE}-{CALLER_SPAN}-01")

        def complete(spans: list[ReceivedSpan]) -> bool:
            runs = _runs(spans, workflow)
            return _execution_span(spans, workflow) is not None and any(
                r.attribute("obelisk.outcome") == "Succeeded" for r in runs
            )

        spans = receiver.wait_for(complete)
        assert server.terminate() == 0
    finally:
        server.kill()
    spans = receiver.spans  # everything, the stop's flush included
    assert {s.trace_id for s in spans} == {CALLER_TRACE}
    assert {s.resource["service.name"] for s in spans} == {"obelisk-under-test"}

    root = _execution_span(spans, workflow)
    assert root is not None and root.name == FIBOA and root.parent_span_id == CALLER_SPAN
    assert root.attribute("obelisk.result_kind") == "Ok" and not root.error

    children = _executions(spans, FIBO)
    assert len(children) == 3
    for child in children:
        child_id = str(child.attribute("obelisk.execution_id"))
        assert child_id.startswith(workflow + ".")
        assert child.span_id == _span_id(child_id) and child.parent_span_id == root.span_id
        assert root.start_ns <= child.start_ns <= child.end_ns <= root.end_ns
        (child_run,) = _runs(spans, child_id)
        assert child_run.parent_span_id == child.span_id
        assert child_run.attribute("obelisk.outcome") == "Succeeded"

    workflow_runs = _runs(spans, workflow)
    assert workflow_runs and all(r.parent_span_id == root.span_id for r in workflow_runs)
    submits = [s for s in spans if s.name == f"submit {FIBO}"]
    assert sorted(str(s.attribute("obelisk.child_execution_id")) for s in submits) == sorted(
        str(c.attribute("obelisk.execution_id")) for c in children
    )
    assert {s.parent_span_id for s in submits} <= {r.span_id for r in workflow_runs}


def test_after_a_kill_and_a_restart_the_spans_continue_the_same_trace(
    tmp_path: Path, built_components: Path, codegen_cache: Path, receiver: OtlpReceiver
) -> None:
    api_port = _free_port()
    server = ServerProcess(_config(tmp_path, built_components, codegen_cache, receiver.endpoint, api_port)).start()
    workflow = str(ExecutionId.generate())
    try:
        _submit(api_port, workflow, FIBOA, [10, 400], None)  # no traceparent: the server starts a trace
        before = receiver.wait_for(lambda spans: len(_executions(spans, FIBO)) >= 20)
        server.kill()
        first_pid = server.process.pid if server.process is not None else None
        assert _execution_span(before, workflow) is None, "kill -9 must land in the middle of the workflow"
        server.start()
        receiver.wait_for(lambda spans: _execution_span(spans, workflow) is not None, timeout=60)
        assert server.terminate() == 0
    finally:
        server.kill()
    spans = receiver.spans
    (trace_id,) = {s.trace_id for s in before}
    assert {s.trace_id for s in spans} == {trace_id}, "every span, before and after the restart, in one trace"

    root = _execution_span(spans, workflow)
    assert root is not None and root.parent_span_id is None and root.attribute("obelisk.result_kind") == "Ok"
    pids = {s.resource["process.pid"] for s in spans}
    assert first_pid in pids and len(pids) == 2
    assert root.resource["process.pid"] != first_pid, "the restarted process ended the execution's span"

    children = _executions(spans, FIBO)
    by_pid = {pid: [c for c in children if c.resource["process.pid"] == pid] for pid in pids}
    assert all(by_pid.values()), "children finished by both processes"
    assert all(c.parent_span_id == root.span_id for c in children)
    child_ids = [str(c.attribute("obelisk.execution_id")) for c in children]
    assert len(set(child_ids)) == len(child_ids) <= 400, "one span per child execution, never two"
    runs_after = [r for r in _runs(spans, workflow) if r.resource["process.pid"] != first_pid]
    assert runs_after and all(r.parent_span_id == root.span_id for r in runs_after)


def test_a_webhook_request_with_a_traceparent_continues_the_callers_trace(
    tmp_path: Path, built_components: Path, codegen_cache: Path, receiver: OtlpReceiver
) -> None:
    api_port, webhook_port = _free_port(), _free_port()
    path = _config(tmp_path, built_components, codegen_cache, receiver.endpoint, api_port, webhook_port=webhook_port)
    server = ServerProcess(path).start()
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{webhook_port}/fibo/5/2",
            headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.read().decode().startswith("fiboa(5, 2) = direct call: 5")
        receiver.wait_for(lambda spans: len(_executions(spans, str(WEBHOOK_FFQN))) == 1)
        assert server.terminate() == 0
    finally:
        server.kill()
    spans = receiver.spans
    assert {s.trace_id for s in spans} == {CALLER_TRACE}
    (record,) = _executions(spans, str(WEBHOOK_FFQN))
    assert record.parent_span_id == CALLER_SPAN
    (workflow,) = _executions(spans, FIBOA)
    assert workflow.parent_span_id == record.span_id
    children = _executions(spans, FIBO)
    assert len(children) == 2 and all(c.parent_span_id == workflow.span_id for c in children)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_host_calls_have_spans_under_their_run(
    tmp_path: Path, built_components: Path, codegen_cache: Path, receiver: OtlpReceiver
) -> None:
    """An outbound HTTP request (method, host, port, status) and a durable sleep (lasting until the delay expires)."""
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    more = f"""
[[activity_wasm]]
name = "http_activity"
location.path = "{built_components / "http_activity.wasm"}"
max_retries = 0

[[workflow]]
name = "http_workflow"
location.path = "{built_components / "http_workflow.wasm"}"

[[activity_wasm]]
name = "sleep_activity"
location.path = "{built_components / "sleep_activity.wasm"}"

[[workflow]]
name = "sleep_workflow"
location.path = "{built_components / "sleep_workflow.wasm"}"
"""
    api_port = _free_port()
    path = _config(tmp_path, built_components, codegen_cache, receiver.endpoint, api_port, more=more)
    server = ServerProcess(path).start()
    getter, sleeper = str(ExecutionId.generate()), str(ExecutionId.generate())
    url = f"http://127.0.0.1:{site.server_address[1]}/hello"
    try:
        _submit(api_port, getter, "testing:http-workflow/workflow.get", [url], None)
        _submit(api_port, sleeper, "testing:sleep-workflow/workflow.sleep-host-activity", [{"milliseconds": 300}], None)
        receiver.wait_for(
            lambda spans: _execution_span(spans, getter) is not None and _execution_span(spans, sleeper) is not None
        )
        assert server.terminate() == 0
    finally:
        server.kill()
        site.shutdown()
    spans = receiver.spans

    (request,) = [s for s in spans if s.name == "GET"]
    assert request.attributes == {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": site.server_address[1],
        "url.scheme": "http",
        "http.response.status_code": 200,
    }
    (activity,) = [s for s in spans if s.span_id == request.parent_span_id]
    assert activity.name == "run testing:http/http-get.get"
    getter_span = _execution_span(spans, getter)
    assert getter_span is not None and activity.trace_id == request.trace_id == getter_span.trace_id

    (sleep,) = [s for s in spans if s.name == "sleep"]
    assert sleep.end_ns - sleep.start_ns == 300_000_000
    (run,) = [s for s in spans if s.span_id == sleep.parent_span_id]
    assert run.attribute("obelisk.execution_id") == sleeper
    sleeper_span = _execution_span(spans, sleeper)
    assert sleeper_span is not None and run.parent_span_id == sleeper_span.span_id
    assert sleeper_span.end_ns >= sleep.end_ns


def test_a_cancelled_execution_gets_its_span_from_the_cancel(
    tmp_path: Path, built_components: Path, codegen_cache: Path, receiver: OtlpReceiver
) -> None:
    """No run finishes it: the commit of the cancel does, and that is where its span comes from."""
    more = f"""
[[activity_wasm]]
name = "sleep_activity"
location.path = "{built_components / "sleep_activity.wasm"}"

[[workflow]]
name = "sleep_workflow"
location.path = "{built_components / "sleep_workflow.wasm"}"
"""
    api_port = _free_port()
    server = ServerProcess(
        _config(tmp_path, built_components, codegen_cache, receiver.endpoint, api_port, more=more)
    ).start()
    sleeper = str(ExecutionId.generate())
    try:
        _submit(api_port, sleeper, "testing:sleep-workflow/workflow.sleep-host-activity", [{"seconds": 600}], None)
        receiver.wait_for(lambda spans: any(s.name == "sleep" for s in spans))
        with grpc.insecure_channel(f"127.0.0.1:{api_port}") as channel:
            request = pb.CancelExecutionRequest(execution_id=pb.ExecutionId(id=sleeper))
            pb_grpc.ExecutionRepositoryStub(channel).CancelExecution(request, timeout=30)
        spans = receiver.wait_for(lambda spans: _execution_span(spans, sleeper) is not None)
        assert server.terminate() == 0
    finally:
        server.kill()
    span = _execution_span(spans, sleeper)
    assert span is not None and span.error and span.attribute("obelisk.result_kind") == "Cancelled"
    (sleep,) = [s for s in spans if s.name == "sleep"]
    assert sleep.trace_id == span.trace_id and sleep.end_ns - sleep.start_ns == 600 * 10**9


def test_another_server_on_the_same_database_continues_the_trace(
    tmp_path: Path,
    postgres_cluster: PostgresCluster,
    postgres_database: str,
    built_components: Path,
    codegen_cache: Path,
    receiver: OtlpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL, two servers: B runs a workflow submitted with a caller's traceparent and is killed; A takes it
    over once its lock expires, and the spans A exports continue the caller's trace under the same execution span."""
    monkeypatch.setenv(PASSWORD_VARIABLE, postgres_cluster.password)
    components = f"""
[otlp]
enabled = true
otlp_endpoint = "{receiver.endpoint}"
{_fibo_components(built_components)}"""
    config_a, _ = _write_config(tmp_path / "a", postgres_cluster, postgres_database, codegen_cache, components)
    config_b, port_b = _write_config(tmp_path / "b", postgres_cluster, postgres_database, codegen_cache, components)
    server_a, server_b = ServerProcess(config_a), ServerProcess(config_b).start()
    workflow = str(ExecutionId.generate())

    def run_by(spans: list[ReceivedSpan], instance: str) -> list[ReceivedSpan]:
        return [s for s in _runs(spans, workflow) if s.resource["service.instance.id"] == instance]

    try:
        _submit(port_b, workflow, FIBOA, [10, 300], f"00-{CALLER_TRACE}-{CALLER_SPAN}-01")
        before = receiver.wait_for(lambda spans: len(_executions(spans, FIBO)) >= 20)
        server_b.kill()
        assert _execution_span(before, workflow) is None, "kill -9 must land in the middle of the workflow"
        # A is another server (its own executor id), not B restarted: it takes the workflow over once B's lock
        # on it expires.
        server_a.start()
        id_a, id_b = str(_executor_id(tmp_path / "a")), str(_executor_id(tmp_path / "b"))
        spans = receiver.wait_for(lambda spans: _execution_span(spans, workflow) is not None, timeout=90)
        assert server_a.terminate() == 0
    finally:
        server_a.kill()
        server_b.kill()
    spans = receiver.spans
    assert {s.trace_id for s in spans if s.resource["service.instance.id"] in (id_a, id_b)} == {CALLER_TRACE}
    root = _execution_span(spans, workflow)
    assert root is not None and root.parent_span_id == CALLER_SPAN
    assert root.resource["service.instance.id"] == id_a, "the surviving server finished the workflow"
    assert run_by(spans, id_a) and all(r.parent_span_id == root.span_id for r in run_by(spans, id_a))
    children = _executions(spans, FIBO)
    instances = {c.resource["service.instance.id"] for c in children}
    assert instances == {id_a, id_b}
    assert all(c.parent_span_id == root.span_id for c in children)
