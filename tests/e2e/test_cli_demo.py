"""End to end as a user runs it: ``obelisk server run`` as a subprocess, driven by the ``obelisk client`` CLI."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def client(port: int, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "obelisk", "client", "--api-url", f"http://127.0.0.1:{port}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_finished_ok_55(run: subprocess.CompletedProcess[str], server: ServerProcess) -> None:
    context = f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}\nserver:\n{''.join(server.output)}"
    assert run.returncode == 0, context
    lines = run.stdout.splitlines()
    assert "Execution finished: OK: 55" in lines, context
    assert lines[-1].startswith("Execution took "), context


def test_submit_follow_fibo_activity(tmp_path: Path, built_components: Path, codegen_cache: Path) -> None:
    port = free_port()
    config = tmp_path / "obelisk.toml"
    config.write_text(
        f"""
api.listening_addr = "127.0.0.1:{port}"
sqlite.file = "{tmp_path / "obelisk.sqlite"}"
wasm_cache_directory = "{tmp_path / "wasm-cache"}"
codegen_cache.directory = "{codegen_cache}"

[[activity_wasm]]
name = "fibo_activity"
location.path = "{built_components / "fibo_activity.wasm"}"
"""
    )
    server = ServerProcess(config).start()
    try:
        run = client(port, "execution", "submit", "testing:fibo/fibo.fibo", "[10]", "--follow")
        assert_finished_ok_55(run, server)
        assert run.stdout.splitlines()[1] == "Function: testing:fibo/fibo.fibo"
    finally:
        assert server.terminate() == 0


def readme_config(tmp_path: Path, codegen_cache: Path, api_port: int, webhook_port: int | None = None) -> Path:
    """The repository's ``obelisk.toml`` as a fresh clone has it, moved to ``tmp_path``: component paths made
    absolute, state and caches in ``tmp_path`` (compiled code in the shared test cache), free ports."""
    text = (REPO / "obelisk.toml").read_text()
    replacements = [
        (r'(?m)^api\.listening_addr = ".*"$', f'api.listening_addr = "127.0.0.1:{api_port}"'),
        (r'(?m)^listening_addr = ".*"$', f'listening_addr = "127.0.0.1:{webhook_port or free_port()}"'),
        (r'(?m)^webui\.listening_addr = ".*"$', f'webui.listening_addr = "127.0.0.1:{free_port()}"'),
        (r'(?m)^wasm_cache_directory = ".*"$', f'wasm_cache_directory = "{tmp_path / "wasm-cache"}"'),
        (r'(?m)^file = ".*"$', f'file = "{tmp_path / "data" / "obelisk.sqlite"}"'),
        (r'(?m)^directory = ".*"$', f'directory = "{codegen_cache}"'),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        assert count == 1, f"obelisk.toml: expected one line matching {pattern}"
    text, count = re.subn(
        r'(?m)^location\.path = "(?!/)(.*)"$', lambda m: f'location.path = "{REPO / m.group(1)}"', text
    )
    assert count > 0, "obelisk.toml names no component"
    path = tmp_path / "obelisk.toml"
    path.write_text(text)
    return path


def test_readme_demo_fibo_workflow(tmp_path: Path, built_components: Path, codegen_cache: Path) -> None:
    """The README demo: the quick-start config, then `submit testing:fibo-workflow/workflow.fiboa '[10, 500]'`,
    and the fibo webhook of the same config over HTTP (`curl http://127.0.0.1:9090/fibo/10/500`)."""
    port, webhook_port = free_port(), free_port()
    server = ServerProcess(readme_config(tmp_path, codegen_cache, port, webhook_port)).start(timeout=120)
    try:
        run = client(port, "execution", "submit", "testing:fibo-workflow/workflow.fiboa", "[10, 500]", "--follow")
        assert_finished_ok_55(run, server)

        with urllib.request.urlopen(f"http://127.0.0.1:{webhook_port}/fibo/10/500", timeout=60) as response:
            assert response.status == 200
            text = response.read().decode()
        scheduled = re.fullmatch(r"fiboa\(10, 500\) = scheduled: (E_[0-9A-Z]{26})", text)
        assert scheduled, text
        assert_finished_ok_55(client(port, "execution", "get", "--follow", scheduled.group(1)), server)
        with urllib.request.urlopen(f"http://127.0.0.1:{webhook_port}/fibo/5/3", timeout=60) as response:
            assert response.read().decode() == "fiboa(5, 3) = direct call: 5"

        # Both fiboa runs are top-level (the webhook's was scheduled); the direct call is a child of the request.
        listed = client(port, "execution", "list", "--function", "testing:fibo-workflow", "--state", "ok")
        assert listed.returncode == 0, listed.stderr
        assert [line.split("\t")[1:3] for line in listed.stdout.splitlines()] == [
            ["testing:fibo-workflow/workflow.fiboa", "Finished: OK"]
        ] * 2
        children = client(port, "execution", "list", "--all", "--function", "testing:fibo-workflow/workflow.fiboa")
        assert len(children.stdout.splitlines()) == 3, children.stdout
    finally:
        assert server.terminate() == 0
