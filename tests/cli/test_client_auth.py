"""``obelisk client`` with API tokens against a real ``obelisk server run``: ``--api-token`` (on the client group
or after any command) and ``OBELISK_API_TOKEN`` work, no token or a viewer's change is refused with one line and
exit status 3, and every client command offers ``--api-token``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from obelisk.api.tokens import token_hash
from obelisk.cli.main import app
from tests.api.conftest import wat_components
from tests.cli.test_client_cli import assert_one_error_line, obelisk
from tests.integration.server_harness import write_config
from tests.integration.server_process import ServerProcess

ENV_TOKEN = "env-operator-token-0123456789abcdef012345"
VIEWER = "viewer-token-0123456789abcdef0123456789ab"
FIBO = "testing:fibo/fibo.fibo"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    path = write_config(
        tmp_path,
        tmp_path / "codegen",
        wat_components(tmp_path),
        extra=f'api.token_hashes = [{{ hash = "{token_hash(VIEWER)}", role = "viewer" }}]',
    )
    path.write_text(path.read_text().replace('"127.0.0.1:0"', f'"127.0.0.1:{port}"'), encoding="utf-8")
    server = ServerProcess(path, env={"OBELISK__API__TOKEN": ENV_TOKEN}).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()


async def test_the_token_from_the_flag_or_the_environment_is_accepted_and_none_is_refused(api_url: str) -> None:
    clean = {"OBELISK_API_TOKEN": "", "OBELISK__API__TOKEN": ""}
    refused = await obelisk("client", "-a", api_url, "component", "list", env=clean)
    assert_one_error_line(refused, "missing API token", "--api-token or OBELISK_API_TOKEN")
    assert refused.code == 3

    on_the_group = await obelisk("client", "-a", api_url, "--api-token", ENV_TOKEN, "component", "list", env=clean)
    assert on_the_group.code == 0, on_the_group.stderr
    assert "fibo_wat" in on_the_group.stdout

    after_the_command = await obelisk(
        "client", "execution", "submit", "--follow", FIBO, "[10]", "-a", api_url, "--api-token", ENV_TOKEN, env=clean
    )
    assert after_the_command.code == 0, after_the_command.stderr
    assert "Execution finished: OK: 55" in after_the_command.stdout

    from_env = await obelisk("client", "-a", api_url, "execution", "list", env={"OBELISK_API_TOKEN": ENV_TOKEN})
    assert from_env.code == 0, from_env.stderr
    assert FIBO in from_env.stdout

    wrong = await obelisk("client", "-a", api_url, "execution", "list", "--api-token", "nope", env=clean)
    assert_one_error_line(wrong, "unknown API token")
    assert wrong.code == 3


async def test_a_viewer_lists_but_cannot_submit(api_url: str) -> None:
    env = {"OBELISK_API_TOKEN": VIEWER}
    listed = await obelisk("client", "-a", api_url, "component", "list", env=env)
    assert listed.code == 0, listed.stderr
    submitted = await obelisk("client", "-a", api_url, "execution", "submit", FIBO, "[10]", env=env)
    assert_one_error_line(submitted, "Submit needs an operator token; this viewer token")
    assert submitted.code == 3
    after = await obelisk("client", "-a", api_url, "execution", "list", env=env)
    assert after.code == 0 and FIBO not in after.stdout, "the refused submit created nothing"


def _leaves(command: Any, name: str) -> Iterator[tuple[str, Any]]:
    """Every command below ``command`` by its path (a group has ``commands``, in typer's copy of click too)."""
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield name, command
        return
    for sub_name, sub in subcommands.items():
        yield from _leaves(sub, f"{name} {sub_name}")


def _options(command: Any) -> set[str]:
    return {option for param in command.params for option in param.opts}


def test_every_client_command_that_calls_the_server_takes_api_token() -> None:
    client = typer.main.get_command(app).commands["client"]  # type: ignore[attr-defined]
    assert "--api-token" in _options(client)
    offline = {"client component inspect"}
    calling = {name: command for name, command in _leaves(client, "client") if name not in offline}
    assert "client execution submit" in calling
    without = sorted(name for name, command in calling.items() if "--api-token" not in _options(command))
    assert without == [], "add `api_token: ApiTokenOption = None` to these commands"
