"""``obelisk client ...`` run as a real subprocess against a real in-process server (WAT activities)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from obelisk.concepts.ids import ExecutionId
from obelisk.server import Server
from tests.api.conftest import wat_components
from tests.integration.server_harness import running_server, write_config


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json_lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stdout.splitlines()]


async def obelisk(*args: str, timeout: float = 30.0, env: dict[str, str] | None = None) -> Run:
    """``python -m obelisk ARGS``; ``OBELISK_API_URL`` only from ``env`` (not inherited from the test run)."""
    environment = {k: v for k, v in os.environ.items() if k != "OBELISK_API_URL"} | (env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "obelisk",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode(), stderr.decode())


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    path = write_config(tmp_path, tmp_path / "codegen", wat_components(tmp_path))
    async with running_server(path) as running:
        yield running


@pytest.fixture
def api(server: Server) -> list[str]:
    return ["client", "--api-url", f"http://127.0.0.1:{server.api_port}"]


def assert_one_error_line(run: Run, *fragments: str) -> None:
    assert run.code != 0
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert "Traceback" not in run.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


async def test_submit_follow_prints_the_result(api: list[str]) -> None:
    run = await obelisk(*api, "execution", "submit", "--follow", "testing:fibo/fibo.fibo", "[10]")
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    ExecutionId.parse(lines[0])
    assert lines[1] == "Function: testing:fibo/fibo.fibo"
    assert set(lines[2:-3]) <= {"Pending", "Locked"}
    assert lines[-3:-1] == ["Execution finished: OK: 55", ""]
    assert lines[-1].startswith("Execution took ") and lines[-1].endswith(".")


async def test_submit_follow_json_lines(api: list[str]) -> None:
    run = await obelisk(*api, "execution", "submit", "--follow", "--json", "testing:fibo/fibo.fibo", "[10]")
    assert run.code == 0, run.stderr
    lines = run.json_lines
    execution_id = lines[0]["execution_id"]
    assert lines[0] == {"execution_id": execution_id}
    assert lines[1]["ffqn"] == "testing:fibo/fibo.fibo" and lines[1]["execution_id"] == execution_id
    assert lines[-1] == {"execution_id": execution_id, "finished": {"ok": 55}}
    for line in lines[2:-1]:
        assert line["execution_id"] == execution_id and "state" in line["status"]  # type: ignore[operator]


async def test_submit_then_get_list_and_events(api: list[str], server: Server) -> None:
    submitted = await obelisk(*api, "execution", "submit", "testing:fibo/fibo.fibo", "[10]")
    assert submitted.code == 0, submitted.stderr
    execution_id = submitted.stdout.strip()
    await server.executions.wait_for_result(ExecutionId.parse(execution_id), timeout=10)

    got = await obelisk(*api, "execution", "get", execution_id)
    assert got.stdout.splitlines()[0] == "Function: testing:fibo/fibo.fibo"
    assert "Execution finished: OK: 55" in got.stdout
    got_json = await obelisk(*api, "execution", "get", "--json", execution_id)
    assert got_json.json_lines[0]["status"]["state"] == "Finished"  # type: ignore[index]
    assert got_json.json_lines[-1] == {"execution_id": execution_id, "finished": {"ok": 55}}

    listed = await obelisk(*api, "execution", "list", "--ffqn", "testing:fibo/fibo.fibo")
    assert listed.stdout.splitlines()[0].split("\t")[:3] == [execution_id, "testing:fibo/fibo.fibo", "Finished: OK"]
    listed_json = await obelisk(*api, "execution", "list", "--json", "--limit", "1")
    assert [line["execution_id"] for line in listed_json.json_lines] == [execution_id]

    events = await obelisk(*api, "execution", "events", execution_id)
    kinds = [line.split("\t")[2] for line in events.stdout.splitlines()]
    assert kinds == ["Created", "Locked", "Finished"]
    assert "OK: 55" in events.stdout.splitlines()[-1]
    events_json = await obelisk(*api, "execution", "events", "--json", execution_id)
    assert [e["type"] for e in events_json.json_lines] == ["Created", "Locked", "Finished"]
    assert events_json.json_lines[0]["params"] == [10]
    assert events_json.json_lines[-1]["result"] == {"ok": 55}


async def test_component_list(api: list[str]) -> None:
    run = await obelisk(*api, "component", "list")
    assert run.code == 0, run.stderr
    lines = run.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("fibo_wat\t"))
    assert lines[start].split("\t")[1].startswith("activity_wasm:fibo_wat:")
    assert lines[start + 1 : start + 3] == ["Exports:", "\ttesting:fibo/fibo.fibo : func(n: u8) -> u64"]
    extended = await obelisk(*api, "component", "list", "--extensions")
    assert (
        "\ttesting:fibo-obelisk-ext/fibo.fibo-schedule : func(schedule-at: schedule-at, n: u8) -> execution-id"
        in extended.stdout.splitlines()
    )
    as_json = await obelisk(*api, "component", "list", "--json", "--extensions", "-v")
    documents = {d["name"]: d for d in as_json.json_lines}
    fibo = documents["fibo_wat"]
    assert fibo["type"] == "activity_wasm" and fibo["imports"] == []
    by_ffqn = {f["ffqn"]: f for f in fibo["exports"]}  # type: ignore[attr-defined]
    assert by_ffqn["testing:fibo-obelisk-ext/fibo.fibo-schedule"]["submittable"] is True
    assert by_ffqn["testing:fibo-obelisk-ext/fibo.fibo-submit"]["extension"] == "submit"


async def test_errors_are_one_line(api: list[str]) -> None:
    unknown = await obelisk(*api, "execution", "submit", "testing:fibo/fibo.fib", "[10]")
    assert_one_error_line(unknown, "testing:fibo/fibo.fib", "not found", "testing:fibo/fibo.fibo")
    bad_json = await obelisk(*api, "execution", "submit", "testing:fibo/fibo.fibo", "[10")
    assert_one_error_line(bad_json, "not valid JSON")
    not_array = await obelisk(*api, "execution", "submit", "testing:fibo/fibo.fibo", "10")
    assert_one_error_line(not_array, "JSON array")
    bad_type = await obelisk(*api, "execution", "submit", "testing:fibo/fibo.fibo", '["x"]')
    assert_one_error_line(bad_type, "(n)", "u8")
    missing = await obelisk(*api, "execution", "get", ExecutionId.generate())
    assert_one_error_line(missing, "not found")
    json_error = await obelisk(*api, "execution", "events", "--json", "E_bad")
    assert_one_error_line(json_error, "E_bad")


async def test_connection_refused_is_one_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for args in (
        ["execution", "submit", "testing:fibo/fibo.fibo", "[10]"],
        ["execution", "get", "--follow", ExecutionId.generate()],
        ["execution", "list", "--json"],
        ["component", "list"],
    ):
        run = await obelisk("client", "--api-url", f"http://127.0.0.1:{port}", *args)
        assert_one_error_line(run, "cannot reach the server", str(port))


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["execution", "get", "E_01J0000000000000000000000Z.\u00b2"], ["EXECUTION_ID", "child index", "ASCII"]),
        (["execution", "events", "E_01J000000000000000000000\u212a"], ["EXECUTION_ID", "ASCII"]),
        (["execution", "get", "E_01J0000000000000000000000Z.01"], ["EXECUTION_ID", "leading zeros"]),
        (
            [
                "execution",
                "submit",
                "testing:fibo/fibo.fibo",
                "[" * 5_000 + "]" * 5_000,
            ],  # deeper than Python's recursion limit
            ["PARAMS: nested deeper than 100 levels"],
        ),
    ],
)
async def test_malformed_ids_and_params_are_one_line_before_the_server_is_asked(
    args: list[str], fragments: list[str]
) -> None:
    with socket.socket() as probe:  # nothing listens there: the command must fail before connecting
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = await obelisk("client", "--api-url", f"http://127.0.0.1:{port}", *args)
    assert_one_error_line(run, *fragments)
    assert "cannot reach the server" not in run.stderr


async def test_client_commands_do_not_import_wasmtime() -> None:
    probe = (
        "import sys\n"
        "from obelisk.cli.main import app\n"
        "try:\n"
        "    app(['client', '--api-url', 'http://127.0.0.1:1', 'component', 'list'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('wasmtime', 'obelisk')))\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", probe, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    modules = stdout.decode()
    assert "'wasmtime" not in modules
    assert "obelisk.server" not in modules and "obelisk.wasm" not in modules, modules
