"""A guest's Python exception as its user sees it: ``obelisk server run`` as a subprocess, the ``obelisk client``
CLI, the gRPC API, the web UI and a webhook's HTTP client; and the server's log, which has one line per guest
failure and never a host traceback.

The components are real componentize-py guests: ``flaky.raise-error`` (an activity) and ``checks.raise-error``
(a workflow) raise ``ValueError(message)`` uncaught; ``trap_webhook`` raises ``RuntimeError`` on ``/trap/...``;
``checks.forbidden-sleep`` calls ``time.sleep``, which a workflow may not.
"""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from obelisk.api.client import ApiClient
from tests.e2e.test_cli_demo import client, free_port
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.slow

TRACEBACK = "Traceback (most recent call last):\n"
TRAP = "wasm trap: wasm `unreachable` instruction executed\n"


def _config(tmp_path: Path, built: Path, codegen_cache: Path, api: int, webui: int, http: int) -> Path:
    path = tmp_path / "obelisk.toml"
    path.write_text(
        f"""
api.listening_addr = "127.0.0.1:{api}"
webui.listening_addr = "127.0.0.1:{webui}"
sqlite.file = "{tmp_path / "obelisk.sqlite"}"
wasm_cache_directory = "{tmp_path / "wasm-cache"}"
codegen_cache.directory = "{codegen_cache}"
# the logger's name on each line: the server's own lines are told from the guest output it forwards by it
log.stdout.target = true

[[activity_wasm]]
name = "flaky"
location.path = "{built / "flaky_activity.wasm"}"
max_retries = 0
# Not forwarded to the server's log: the failure text must not depend on it.
forward_stderr = "none"

[[workflow]]
name = "checks"
location.path = "{built / "checks_workflow.wasm"}"

[[http_server]]
name = "external"
listening_addr = "127.0.0.1:{http}"

[[webhook_endpoint]]
name = "trap_webhook"
location.path = "{built / "trap_webhook.wasm"}"
http_server = "external"
routes = ["/ok", "/trap/*"]
"""
    )
    return path


def _submitted_id(stdout: str) -> str:
    return stdout.splitlines()[0].strip()


def _assert_traceback_then_trap(detail: str, exception: str) -> None:
    """The guest's traceback first, ending in its exception line; the wasm trap and backtrace after it."""
    assert detail.startswith(TRACEBACK), detail
    traceback, separator, trap = detail.partition("\n\n")
    assert separator, detail
    assert traceback.endswith(f"\n{exception}"), detail
    assert 'File "/0/app.py"' in traceback, detail
    assert trap.startswith(TRAP), detail
    assert "wasm backtrace:" in trap, detail


def _own_log_lines(server: ServerProcess, execution_id: str) -> list[str]:
    """The server's own log lines about an execution, without the guest's output it forwards."""
    return [line for line in server.output if execution_id in line and "obelisk.guest:" not in line]


def test_a_guests_python_exception_leads_the_failure_everywhere(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    api, webui, http = free_port(), free_port(), free_port()
    server = ServerProcess(_config(tmp_path, built_components, codegen_cache, api, webui, http)).start(timeout=120)
    try:
        # An activity: the CLI prints the guest's error as the reason and its traceback as the detail.
        run = client(api, "execution", "submit", "testing:flaky/flaky.raise-error", '["boom"]', "--follow")
        activity_id = _submitted_id(run.stdout)
        assert (
            "Execution finished: Execution failure: permanently failed - ValueError: boom\n"
            f"detail: {TRACEBACK}" in run.stdout
        ), run.stdout + run.stderr
        detail = run.stdout.split("detail: ", 1)[1].rsplit("\n\nExecution took ", 1)[0]
        _assert_traceback_then_trap(detail, "ValueError: boom")

        # A workflow: no retry and no "uncategorized error" prefix: the reason is the guest's error itself.
        run = client(api, "execution", "submit", "testing:checks/workflow.raise-error", '["boom"]', "--follow")
        workflow_id = _submitted_id(run.stdout)
        assert f"Execution finished: Execution failure: ValueError: boom\ndetail: {TRACEBACK}" in run.stdout, (
            run.stdout + run.stderr
        )

        # gRPC GetStatus returns the same reason and detail.
        with ApiClient(f"http://127.0.0.1:{api}") as api_client:
            for execution_id, reason in [
                (activity_id, "permanently failed - ValueError: boom"),
                (workflow_id, "ValueError: boom"),
            ]:
                statuses = list(api_client.get_status(execution_id, follow=False))
                failure = statuses[-1].finished_status.result_detail.execution_failure
                assert failure.reason == reason
                _assert_traceback_then_trap(failure.detail, "ValueError: boom")

        # The web UI's execution page: the reason as the headline, the traceback first in the detail.
        with urllib.request.urlopen(f"http://127.0.0.1:{webui}/execution/{workflow_id}", timeout=30) as page:
            text = page.read().decode()
        assert '<p class="result-headline">ValueError: boom</p>' in text
        shown = re.search(r'<pre class="detail-text">(.*?)</pre>', text, re.DOTALL)
        assert shown is not None, text
        _assert_traceback_then_trap(html.unescape(shown.group(1)), "ValueError: boom")

        # A call a workflow may not make ends it at once, naming the call and what to use instead.
        run = client(api, "execution", "submit", "testing:checks/workflow.forbidden-sleep", "[10]", "--follow")
        sleep_id = _submitted_id(run.stdout)
        assert (
            "Execution finished: Execution failure: workflow error: the workflow called"
            " wasi:clocks/monotonic-clock@0.2.9#subscribe-instant (Python's time.sleep, or an asyncio timer)"
        ) in run.stdout, run.stdout
        assert "use obelisk:workflow/host-activities.sleep instead" in run.stdout

        # A webhook that raises answers 500; the server logs one line naming the request.
        with pytest.raises(urllib.error.HTTPError) as answered:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/trap/boom", timeout=30)
        assert answered.value.code == 500
        server.wait_for_output("GET /trap/boom: webhook failed")
        webhook_lines = [line for line in server.output if "webhook failed" in line]
        assert len(webhook_lines) == 1, webhook_lines
        assert re.search(
            r"E_[0-9A-Z]{26}: GET /trap/boom: webhook failed: RuntimeError: trap requested by path /trap/boom$",
            webhook_lines[0].rstrip("\n"),
        ), webhook_lines
        webhook_id = re.findall(r"E_[0-9A-Z]{26}", webhook_lines[0])[0]
        assert _own_log_lines(server, webhook_id) == webhook_lines

        # One line of the server's own per guest failure, with the execution id.
        assert [line.split(": ", 1)[1].strip() for line in _own_log_lines(server, activity_id)] == [
            f"{activity_id}: attempt failed: ValueError: boom"
        ]
        assert [line.split(": ", 1)[1].strip() for line in _own_log_lines(server, workflow_id)] == [
            f"{workflow_id}: run failed: ValueError: boom"
        ]
        assert len(_own_log_lines(server, sleep_id)) == 1
    finally:
        assert server.terminate() == 0
    log = "".join(server.output)
    # Guest output forwarded to the log is prefixed; a host traceback would start a line of its own.
    assert not [line for line in server.output if line.startswith("Traceback")], log
    assert "worker crashed" not in log
