"""`obelisk client component inspect PATH`: offline listing in the original's format (docs/compatibility.md#cli)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, TEST_CODEGEN_CACHE


@pytest.fixture(scope="module")
def cli_env(codegen_cache: Path) -> dict[str, str]:
    """XDG_CACHE_HOME whose ``obelisk/codegen`` is the test compile cache, so the CLI does not recompile."""
    xdg = REPO / "build" / "test-cache" / "cli-xdg"
    link = xdg / "obelisk" / "codegen"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(TEST_CODEGEN_CACHE, target_is_directory=True)
    return {**os.environ, "XDG_CACHE_HOME": str(xdg)}


def inspect(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "obelisk.cli.main", "client", "component", "inspect", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)


def test_exports_and_extensions(cli_env: dict[str, str], fibo_wasm: Path) -> None:
    plain = inspect(cli_env, str(fibo_wasm))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "Exports:\n\ttesting:fibo/fibo.fibo : func(n: u8) -> u64\n"
    ext = inspect(cli_env, str(fibo_wasm), "--extensions")
    assert ext.stdout.splitlines() == [
        "Exports:",
        "\ttesting:fibo/fibo.fibo : func(n: u8) -> u64",
        "\ttesting:fibo-obelisk-ext/fibo.fibo-submit : func(join-set-id: borrow<join-set-id>, n: u8) -> execution-id",
        "\ttesting:fibo-obelisk-ext/fibo.fibo-await-next : func(join-set-id: borrow<join-set-id>) -> "
        "result<tuple<execution-id, u64>, tuple<execution-id, execution-error>>",
        "\ttesting:fibo-obelisk-ext/fibo.fibo-schedule : func(schedule-at: schedule-at, n: u8) -> execution-id",
    ]


def test_imports_with_verbose_and_json(cli_env: dict[str, str], guest_wasm: Path) -> None:
    verbose = inspect(cli_env, str(guest_wasm), "-v")
    assert verbose.returncode == 0, verbose.stderr
    lines = verbose.stdout.splitlines()
    assert lines[0].startswith(f"{guest_wasm}\tsha256:")
    assert lines[1:4] == [
        "Exports:",
        "\ttesting:fibo-workflow/workflow.fiboa : func(n: u8, iterations: u32) -> u64",
        "\ttesting:fibo-workflow/workflow.fiboa-concurrent : func(n: u8, iterations: u32) -> u64",
    ]
    imports = lines[lines.index("Imports:") + 1 :]
    assert "\ttesting:fibo/fibo.fibo : func(n: u8) -> u64" in imports
    assert "\tobelisk:workflow/host-activities.new-join-set : func() -> join-set-id" in imports
    assert not any(line.startswith("\twasi:") for line in imports)  # -vv adds WASI
    as_json = inspect(cli_env, str(guest_wasm), "-v", "-e", "--json")
    document = json.loads(as_json.stdout)
    schedule = next(f for f in document["exports"] if f["ffqn"].endswith("fiboa-schedule"))
    assert schedule["submittable"] is True and schedule["extension"] == "schedule"
    assert schedule["extension_of"] == "testing:fibo-workflow/workflow.fiboa"
    assert {f["ffqn"] for f in document["imports"]} >= {"testing:fibo-obelisk-ext/fibo.fibo-await-next"}


def test_missing_file_is_one_line_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = inspect(cli_env, str(tmp_path / "nope.wasm"))
    assert result.returncode == 1
    assert result.stderr == f"error: {tmp_path / 'nope.wasm'}: no such file\n"
