"""Pause and resume as an operator does it: ``obelisk server run`` as a subprocess and ``obelisk client execution
pause|resume`` (WAT fixtures: the server starts in a second or so).

A workflow sleeping on a durable timer is paused: its delay expires while it is paused, and it stays paused
(listed under ``--state paused``) past its due time; resumed, it finishes OK. A workflow running its steps is
paused: its run stops at its next host call and gives its lock back (no failure), no step is made while it is
paused, and resumed it finishes with the right result. Refusals exit with status 3 and change nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from obelisk.api.client import ApiClient
from tests.e2e.test_cli_demo import client, free_port
from tests.integration.server_process import ServerProcess
from tests.wat_fixtures import build_wat_fixture

pytestmark = pytest.mark.slow

SLEEP_MS = 1500
STEPS = 3000


def _config(tmp_path: Path, codegen_cache: Path, api: int) -> Path:
    out = tmp_path / "wat"
    path = tmp_path / "obelisk.toml"
    path.write_text(
        f"""
api.listening_addr = "127.0.0.1:{api}"
sqlite.file = "{tmp_path / "obelisk.sqlite"}"
wasm_cache_directory = "{tmp_path / "wasm-cache"}"
codegen_cache.directory = "{codegen_cache}"

[[activity_wasm]]
name = "fibo"
location.path = "{build_wat_fixture("fibo", out)}"

[[workflow]]
name = "fibo_workflow"
location.path = "{build_wat_fixture("fibo_workflow", out)}"
exec.lock_expiry = {{secs = 5}}
"""
    )
    return path


def _wait_for(api: ApiClient, execution_id: str, state: str, server: ServerProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        first = next(iter(api.get_status(execution_id, follow=False)))
        now = first.summary.current_status.WhichOneof("status")
        if now == state:
            return
        assert now != "finished", f"{execution_id} finished before it was {state}"
        assert time.monotonic() < deadline, f"{execution_id} never {state}:\n{''.join(server.output)}"
        time.sleep(0.02)


def _submit(port: int, function: str, params: str) -> str:
    submitted = client(port, "execution", "submit", f"testing:fibo-workflow/workflow.{function}", params)
    assert submitted.returncode == 0, submitted.stderr
    return submitted.stdout.splitlines()[0].strip()


def test_cli_pause_and_resume(tmp_path: Path, codegen_cache: Path) -> None:
    port = free_port()
    server = ServerProcess(_config(tmp_path, codegen_cache, port)).start()
    try:
        with ApiClient(f"http://127.0.0.1:{port}") as api:
            # -- a sleeping workflow, paused: past its due time it stays paused
            sleeper = _submit(port, "sleep-ms", f"[{SLEEP_MS}]")
            _wait_for(api, sleeper, "blocked_by_join_set", server)
            paused = client(port, "execution", "pause", sleeper)
            assert paused.returncode == 0, paused.stdout + paused.stderr + "".join(server.output)
            assert paused.stdout.strip() == f"Paused {sleeper}: no new run or attempt starts until it is resumed"
            time.sleep(SLEEP_MS / 1000 + 1.0)  # its delay expired meanwhile: its response is there
            listed = client(port, "execution", "list", "--state", "paused")
            assert listed.returncode == 0, listed.stderr
            assert [line.split("\t")[:3] for line in listed.stdout.splitlines()] == [
                [sleeper, "testing:fibo-workflow/workflow.sleep-ms", "Paused (Pending)"]
            ], listed.stdout
            pending = client(port, "execution", "list", "--state", "pending", "--state", "blocked")
            assert sleeper not in pending.stdout  # in the paused bucket only
            shown = client(port, "execution", "get", sleeper)
            assert shown.stdout.splitlines()[-1].endswith("Paused (Pending)"), shown.stdout

            again = client(port, "execution", "pause", sleeper)
            assert again.returncode == 3, again.stdout + again.stderr
            assert again.stderr.strip() == f"error: execution {sleeper} is already paused"

            resumed = client(port, "execution", "resume", sleeper)
            assert resumed.returncode == 0, resumed.stdout + resumed.stderr
            assert resumed.stdout.strip() == f"Resumed {sleeper}: it goes on where it was"
            done = client(port, "execution", "get", sleeper, "--follow", timeout=30)
            assert done.returncode == 0, done.stdout + done.stderr + "".join(server.output)
            assert "Execution finished: OK: (no return value)" in done.stdout.splitlines(), done.stdout

            refused = client(port, "execution", "unpause", sleeper)
            assert refused.returncode == 3, refused.stdout + refused.stderr
            assert "has finished" in refused.stderr and "only a paused execution can be resumed" in refused.stderr
            finished_pause = client(port, "execution", "pause", sleeper)
            assert finished_pause.returncode == 3
            assert finished_pause.stderr.strip() == f"error: execution {sleeper} is already finished"

            events = client(port, "execution", "events", sleeper, "--json")
            kinds = [line.split('"type": "')[1].split('"')[0] for line in events.stdout.splitlines()]
            assert kinds.count("Paused") == kinds.count("Unpaused") == 1, kinds
            assert "an operator, through the gRPC API" in events.stdout

            # -- a workflow making its steps, paused while it runs: its run stops and gives its lock back
            runner = _submit(port, "fiboa", f"[10, {STEPS}]")
            deadline = time.monotonic() + 30
            while len(api.list_events(runner)) < 10:  # its run is under way (locked, or owning its next step)
                assert time.monotonic() < deadline, "".join(server.output)
                time.sleep(0.02)
            assert client(port, "execution", "pause", runner).returncode == 0
            deadline = time.monotonic() + 20
            while True:
                kinds = [e.WhichOneof("event") for e in api.list_events(runner)]
                if "unlocked" in kinds[kinds.index("paused") :]:
                    break
                assert "finished" not in kinds, "the run was not stopped by the pause"
                assert time.monotonic() < deadline, "".join(server.output)
                time.sleep(0.05)
            unlocked = [e for e in api.list_events(runner) if e.WhichOneof("event") == "unlocked"][-1]
            assert unlocked.unlocked.reason == "paused by an operator"
            count = len(api.list_events(runner))
            time.sleep(1.0)
            assert len(api.list_events(runner)) == count, "a paused execution made steps"
            assert not any(e.WhichOneof("event") in ("failed", "timed_out") for e in api.list_events(runner))
            assert client(port, "execution", "resume", runner).returncode == 0
            done = client(port, "execution", "get", runner, "--follow", timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr + "".join(server.output)
            assert "Execution finished: OK: 55" in done.stdout.splitlines(), done.stdout
    finally:
        server.kill()
