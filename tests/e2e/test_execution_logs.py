"""Per-execution guest logs as a user reads them: ``obelisk server run`` as a subprocess, ``obelisk client
execution logs [--follow]``, the gRPC ``ListLogs`` and the execution page's Logs panel.

Real componentize-py guests: ``checks.print-and-sleep`` (a workflow) prints a line, sleeps durably, prints
another; ``flaky.echo`` (an activity) prints its message to stdout and stderr; ``fibo_webhook`` calls
``obelisk:log/log.info`` and, for ``N`` from 2 to 9, calls a workflow directly (so its request is an execution).
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from obelisk.api.client import ApiClient
from obelisk.api.generated import obelisk_pb2 as pb
from tests.e2e.test_cli_demo import client, free_port
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.slow

FOLLOW = ("execution", "logs")
LINE = re.compile(r"^(\S+Z) (\S+) (\S+) +(.*)$")


def _config(tmp_path: Path, built: Path, codegen_cache: Path, api: int, webui: int, http: int) -> Path:
    path = tmp_path / "obelisk.toml"
    path.write_text(
        f"""
api.listening_addr = "127.0.0.1:{api}"
webui.listening_addr = "127.0.0.1:{webui}"
sqlite.file = "{tmp_path / "obelisk.sqlite"}"
wasm_cache_directory = "{tmp_path / "wasm-cache"}"
codegen_cache.directory = "{codegen_cache}"

[[activity_wasm]]
name = "flaky"
location.path = "{built / "flaky_activity.wasm"}"
max_retries = 0

[[workflow]]
name = "checks"
location.path = "{built / "checks_workflow.wasm"}"

[[activity_wasm]]
name = "fibo_activity"
location.path = "{built / "fibo_activity.wasm"}"

[[workflow]]
name = "fibo_workflow"
location.path = "{built / "fibo_workflow.wasm"}"

[[http_server]]
name = "external"
listening_addr = "127.0.0.1:{http}"

[[webhook_endpoint]]
name = "fibo_webhook"
location.path = "{built / "fibo_webhook.wasm"}"
http_server = "external"
routes = [{{methods = ["GET"], route = "/fibo/:N/:ITERATIONS"}}]
"""
    )
    return path


def _parsed(stdout: str) -> list[tuple[str, str, str]]:
    """``(run, kind, text)`` of each printed line."""
    found = []
    for line in stdout.splitlines():
        match = LINE.match(line)
        assert match is not None, stdout
        found.append((match[2], match[3], match[4]))
    return found


def _finished(api: int, execution_id: str) -> bool:
    with ApiClient(f"http://127.0.0.1:{api}") as api_client:
        (summary, *_) = api_client.get_status(execution_id, follow=False)
        return bool(summary.summary.current_status.WhichOneof("status") == "finished")


def test_guest_output_and_log_calls_are_kept_per_execution_and_shown_everywhere(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    api, webui, http = free_port(), free_port(), free_port()
    server = ServerProcess(_config(tmp_path, built_components, codegen_cache, api, webui, http)).start(timeout=120)
    try:
        # A workflow: --follow prints the first line while the workflow sleeps, and ends when it finishes.
        run = client(api, "execution", "submit", "testing:checks/workflow.print-and-sleep", "[3000]")
        assert run.returncode == 0, run.stdout + run.stderr
        workflow_id = run.stdout.splitlines()[0].strip()
        follower = subprocess.Popen(
            [sys.executable, "-m", "obelisk", "client", "-a", f"http://127.0.0.1:{api}", *FOLLOW, workflow_id, "-f"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert follower.stdout is not None
        lines: list[str] = []

        def read() -> None:
            for line in follower.stdout or []:
                lines.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while not lines and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lines and "before the sleep" in lines[0], lines
        assert not _finished(api, workflow_id), "the first line came only after the workflow finished"
        assert follower.wait(timeout=60) == 0, follower.stderr.read() if follower.stderr else ""
        reader.join(timeout=10)
        followed = _parsed("".join(lines))
        assert [(kind, text) for _run, kind, text in followed] == [
            ("stdout", "before the sleep"),
            ("stdout", "after the sleep"),
        ]
        assert all(run_id.startswith("Run_") for run_id, _kind, _text in followed), followed
        assert _finished(api, workflow_id)
        # Without --follow: the same lines, at once.
        run = client(api, "execution", "logs", workflow_id)
        assert run.returncode == 0, run.stderr
        assert _parsed(run.stdout) == followed

        # An activity's stdout and stderr, each line with its stream.
        run = client(api, "execution", "submit", "testing:flaky/flaky.echo", '["hello logs"]', "--follow")
        assert run.returncode == 0, run.stdout + run.stderr
        activity_id = run.stdout.splitlines()[0].strip()
        deadline = time.monotonic() + 10
        while (printed := client(api, "execution", "logs", activity_id)).stdout.count("\n") < 2:
            assert time.monotonic() < deadline, printed.stdout + printed.stderr
            time.sleep(0.1)
        assert sorted((kind, text) for _run, kind, text in _parsed(printed.stdout)) == [
            ("stderr", "hello logs"),
            ("stdout", "hello logs"),
        ]
        json_run = client(api, "execution", "logs", activity_id, "--json")
        assert '"kind": "stderr"' in json_run.stdout and '"message": "hello logs"' in json_run.stdout

        # An execution that logged and printed nothing: an empty stdout, and stderr says so.
        run = client(api, "execution", "submit", "testing:fibo/fibo.fibo", "[3]", "--follow")
        assert run.returncode == 0, run.stdout + run.stderr
        silent_id = run.stdout.splitlines()[0].strip()
        silent = client(api, "execution", "logs", silent_id)
        assert (silent.returncode, silent.stdout) == (0, ""), silent.stderr
        assert silent.stderr == f"No log lines: {silent_id} has logged and printed nothing so far.\n"

        # A webhook's obelisk:log call, under the request's execution.
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/fibo/5/1", timeout=60) as answer:
            assert answer.read().decode() == "fiboa(5, 1) = direct call: 5"
        server.wait_for_output("fiboa(5, 1) = direct call: 5")
        logged = next(line for line in server.output if "fiboa(5, 1) = direct call: 5" in line)
        webhook_id = re.findall(r"E_[0-9A-Z]{26}", logged)[0]
        deadline = time.monotonic() + 10
        while not (printed := client(api, "execution", "logs", webhook_id)).stdout:
            assert time.monotonic() < deadline, printed.stderr
            time.sleep(0.1)
        assert _parsed(printed.stdout) == [("-", "info", "fiboa(5, 1) = direct call: 5")]

        # gRPC ListLogs: the original's entries, paged by token, filtered by kind.
        with ApiClient(f"http://127.0.0.1:{api}") as api_client:
            page = api_client.list_logs(workflow_id)
            assert [entry.stream.payload for entry in page.logs] == [b"before the sleep", b"after the sleep"]
            assert {entry.stream.stream_type for entry in page.logs} == {pb.LOG_STREAM_TYPE_STDOUT}
            assert all(entry.execution_id.id == workflow_id for entry in page.logs)
            assert page.dropped_count == 0
            assert api_client.list_logs(workflow_id, page.next_page_token).logs == []
            webhook_page = api_client.list_logs(webhook_id)
            assert [(e.log.level, e.log.message) for e in webhook_page.logs] == [
                (pb.LOG_LEVEL_INFO, "fiboa(5, 1) = direct call: 5")
            ]
            request = pb.ListLogsRequest(
                execution_id=pb.ExecutionId(id=activity_id),
                show_streams=True,
                stream_types=[pb.LOG_STREAM_TYPE_STDERR],
            )
            only_stderr = api_client._call(api_client._executions.ListLogs, request)
            assert [e.stream.stream_type for e in only_stderr.logs] == [pb.LOG_STREAM_TYPE_STDERR]

        # The execution page's Logs panel.
        with urllib.request.urlopen(f"http://127.0.0.1:{webui}/execution/{workflow_id}", timeout=30) as page_html:
            text = page_html.read().decode()
        panel = text.split('<section class="panel logs" id="logs">', 1)[1].split("</section>", 1)[0]
        shown = [html.unescape(t) for t in re.findall(r'<span class="log-text">(.*?)</span>', panel)]
        assert shown == ["before the sleep", "after the sleep"], panel
        assert '<span class="count">2</span>' in panel
    finally:
        assert server.terminate() == 0
