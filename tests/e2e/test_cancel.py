"""Cancel as an operator does it: ``obelisk server run`` as a subprocess and ``obelisk client execution cancel``.

``await-sleep-activity`` (the top) submits ``sleep-activity`` (the middle: a workflow whose child, the blocking
``sleep`` activity, is running) and awaits it. Cancelling the middle finishes it and its running child as
cancelled, stops the child's attempt, and the top gets the middle's error through ``-await-next`` as a
``permanent-failure`` that says cancelled; a second cancel is refused and changes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from obelisk.api.client import ApiClient
from tests.e2e.test_cli_demo import client, free_port
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.slow

SLEEP_SECONDS = 20
"""Long enough that only a cancel ends the child within the test's waits."""


def _config(tmp_path: Path, built: Path, codegen_cache: Path, api: int) -> Path:
    path = tmp_path / "obelisk.toml"
    path.write_text(
        f"""
api.listening_addr = "127.0.0.1:{api}"
sqlite.file = "{tmp_path / "obelisk.sqlite"}"
wasm_cache_directory = "{tmp_path / "wasm-cache"}"
codegen_cache.directory = "{codegen_cache}"

[[activity_wasm]]
name = "sleep_activity"
location.path = "{built / "sleep_activity.wasm"}"
max_retries = 0
exec.lock_expiry = {{secs = {SLEEP_SECONDS * 3}}}

[[workflow]]
name = "sleep_workflow"
location.path = "{built / "sleep_workflow.wasm"}"
"""
    )
    return path


def _state(api: ApiClient, execution_id: str) -> str | None:
    """``locked``, ``blocked_by_join_set``, ... of the execution, or None while it does not exist."""
    from obelisk.api.client import ApiError

    try:
        first = next(iter(api.get_status(execution_id, follow=False)))
    except ApiError:
        return None
    return str(first.summary.current_status.WhichOneof("status"))


def test_cli_cancel_of_a_workflow_with_a_running_child(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    port = free_port()
    server = ServerProcess(_config(tmp_path, built_components, codegen_cache, port)).start()
    try:
        submitted = client(
            port,
            "execution",
            "submit",
            "testing:sleep-workflow/workflow.await-sleep-activity",
            f'[{{"seconds": {SLEEP_SECONDS}}}]',
        )
        assert submitted.returncode == 0, submitted.stderr
        top = submitted.stdout.splitlines()[0].strip()
        middle, child = f"{top}.0", f"{top}.0.0"
        with ApiClient(f"http://127.0.0.1:{port}") as api:
            deadline = time.monotonic() + 30
            while _state(api, child) != "locked":  # the sleep activity runs (in its own thread or inline)
                assert time.monotonic() < deadline, "".join(server.output)
                time.sleep(0.1)

        cancelled_at = time.monotonic()
        cancel = client(port, "execution", "cancel", middle)
        context = f"stdout:\n{cancel.stdout}\nstderr:\n{cancel.stderr}\nserver:\n{''.join(server.output)}"
        assert cancel.returncode == 0, context
        assert cancel.stdout.strip() == f"Cancelled {middle} (and its unfinished children)", context

        # The top awaited the middle: it goes on, and sees the cancel as a permanent failure saying cancelled.
        top_result = client(port, "execution", "get", top, "--follow", timeout=60)
        assert top_result.returncode == 0, top_result.stdout + top_result.stderr
        seen = f'"err {middle} ExecutionError_PermanentFailure cancelled: cancelled by an operator"'
        assert f"Execution finished: OK: {seen}" in top_result.stdout.splitlines(), top_result.stdout
        assert time.monotonic() - cancelled_at < SLEEP_SECONDS / 2  # not after the child's sleep

        shown = client(port, "execution", "get", middle)
        assert shown.returncode == 1, shown.stdout  # finished, not OK
        assert "Execution finished: Cancelled: cancelled by an operator" in shown.stdout.splitlines(), shown.stdout
        shown_child = client(port, "execution", "get", child)
        assert f"Execution finished: Cancelled: its parent {middle} was cancelled" in shown_child.stdout.splitlines()
        listed = client(port, "execution", "list", "--all", "--state", "failed")
        assert {line.split()[0] for line in listed.stdout.splitlines()} == {middle, child}, listed.stdout
        assert "Finished: Cancelled" in listed.stdout

        server.wait_for_output("cancelled while its attempt ran", timeout=10)  # the running attempt was stopped

        again = client(port, "execution", "cancel", middle)
        assert again.returncode == 3, again.stdout + again.stderr
        assert again.stderr.strip() == f"error: execution {middle} has already finished; nothing was changed"
        assert (
            "Execution finished: Cancelled: cancelled by an operator"
            in client(port, "execution", "get", middle).stdout.splitlines()
        )
    finally:
        server.kill()


def test_cli_cancel_delay_wakes_a_sleeping_workflow(
    tmp_path: Path, built_components: Path, codegen_cache: Path
) -> None:
    port = free_port()
    server = ServerProcess(_config(tmp_path, built_components, codegen_cache, port)).start()
    try:
        submitted = client(
            port, "execution", "submit", "testing:sleep-workflow/workflow.sleep-host-activity", '[{"seconds": 3600}]'
        )
        assert submitted.returncode == 0, submitted.stderr
        workflow = submitted.stdout.splitlines()[0].strip()
        with ApiClient(f"http://127.0.0.1:{port}") as api:
            deadline = time.monotonic() + 30
            delays: list[str] = []
            while not delays:
                assert time.monotonic() < deadline, "".join(server.output)
                time.sleep(0.1)
                delays = [
                    e.history_variant.join_set_request.delay_request.delay_id.id
                    for e in api.list_events(workflow)
                    if e.WhichOneof("event") == "history_variant"
                    and e.history_variant.WhichOneof("event") == "join_set_request"
                    and e.history_variant.join_set_request.WhichOneof("join_set_request") == "delay_request"
                ]
        (delay_id,) = delays
        cancel = client(port, "execution", "cancel-delay", delay_id)
        assert cancel.returncode == 0, cancel.stdout + cancel.stderr
        assert cancel.stdout.strip() == f"Cancelled {delay_id}: its sleep ends now"

        finished = client(port, "execution", "get", workflow, "--follow", timeout=30)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert "Execution finished: OK: (no return value)" in finished.stdout.splitlines(), finished.stdout
        events = client(port, "execution", "events", workflow)
        assert f"delay {delay_id} cancelled" in events.stdout, events.stdout

        again = client(port, "execution", "cancel-delay", delay_id)
        assert again.returncode == 3, again.stdout + again.stderr
        assert "is not pending" in again.stderr and "nothing was changed" in again.stderr
    finally:
        server.kill()
