"""The ``obelisk`` entry point: ``server run`` starts without the CLI framework; everything else is unchanged."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from obelisk.cli.entry import NotFastPath, parse_server_run

OBELISK = [sys.executable, "-m", "obelisk"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["server", "run"], None),
        (["server", "run", "-c", "a.toml"], Path("a.toml")),
        (["server", "run", "--config", "dir/a.toml"], Path("dir/a.toml")),
        (["server", "run", "--config=a.toml"], Path("a.toml")),
    ],
)
def test_plain_server_run_is_recognised(args: list[str], expected: Path | None) -> None:
    assert parse_server_run(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["server"],
        ["server", "run", "--help"],
        ["server", "run", "-c"],
        ["server", "run", "-c", "--help"],
        ["server", "run", "-c", ""],
        ["server", "run", "--config="],
        ["server", "run", "-c", "a.toml", "-c", "b.toml"],
        ["server", "run", "-ca.toml"],
        ["server", "verify", "-c", "a.toml"],
        ["client", "server", "run"],
    ],
)
def test_everything_else_goes_to_typer(args: list[str]) -> None:
    with pytest.raises(NotFastPath):
        parse_server_run(args)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OBELISK, *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def run_typer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The same command line through the typer application alone (the entry point before the fast path)."""
    return subprocess.run(
        [sys.executable, "-m", "obelisk.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_config_errors_are_the_same_as_through_typer(tmp_path: Path) -> None:
    config = tmp_path / "obelisk.toml"
    config.write_text('api.listening_addr = "127.0.0.1:0"\n\n[sqlite]\nfile = 5\n')
    fast = run_cli("server", "run", "-c", str(config), cwd=tmp_path)
    slow = run_typer("server", "run", "-c", str(config), cwd=tmp_path)
    assert fast.returncode == slow.returncode == 1
    assert fast.stdout == slow.stdout == ""
    assert fast.stderr == slow.stderr
    assert fast.stderr.startswith("error: ") and f"{config}:4" in fast.stderr, fast.stderr


def test_missing_config_file_is_reported_like_typer(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    fast = run_cli("server", "run", "--config", str(missing), cwd=tmp_path)
    slow = run_typer("server", "run", "--config", str(missing), cwd=tmp_path)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert fast.returncode == 1 and str(missing) in fast.stderr


def test_help_still_comes_from_typer(tmp_path: Path) -> None:
    run = run_cli("server", "run", "--help", cwd=tmp_path)
    assert run.returncode == 0
    assert "--config" in run.stdout and "Start the server" in run.stdout


PROBE = textwrap.dedent(
    """
    import gc, os, signal, sys, threading, time

    def watch():
        # The entry switches the cyclic collector off for the start-up and back on once the server is ready.
        while gc.isenabled():
            time.sleep(0.001)
        while not gc.isenabled():
            time.sleep(0.01)
        lazy = ("typer", "click", "rich", "aiohttp", "jinja2", "obelisk.webui", "obelisk.webhooks", "psycopg")
        print("LOADED", sorted(name for name in lazy if name in sys.modules), flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    sys.argv = ["obelisk", "server", "run", "-c", sys.argv[1]]
    from obelisk.cli.entry import main
    threading.Thread(target=watch, daemon=True).start()
    main()
    """
)


def test_server_run_starts_without_typer_or_web_libraries(tmp_path: Path) -> None:
    config = tmp_path / "obelisk.toml"
    config.write_text(
        f'api.listening_addr = "127.0.0.1:0"\nsqlite.file = "{tmp_path / "db.sqlite"}"\n'
        f'wasm_cache_directory = "{tmp_path / "wasm"}"\ncodegen_cache.directory = "{tmp_path / "codegen"}"\n'
    )
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Server is ready" in run.stdout, run.stdout + run.stderr
    assert "LOADED []" in run.stdout, run.stdout


def test_importing_the_server_leaves_out_what_the_first_request_does_not_use() -> None:
    probe = (
        "import sys\n"
        "import obelisk.server\n"
        "lazy = ('typer', 'click', 'rich', 'aiohttp', 'jinja2', 'obelisk.webui', 'obelisk.webhooks',\n"
        "        'obelisk.wit.printer', 'obelisk.wasm.wasi_http.outgoing', 'http.client', 'grpc_health.v1.health',\n"
        "        'grpc_reflection.v1alpha.reflection', 'psycopg')\n"
        "print(sorted(name for name in lazy if name in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]", run.stdout
