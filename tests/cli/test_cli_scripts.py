"""What a script relies on: ``obelisk client`` as a subprocess against a real server (WAT components).

Exit codes by kind of outcome, the listing's filters and cursor pages, responses in the event log, ``-a`` on
every client command, and help text without type artifacts.
"""

from __future__ import annotations

import inspect
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from obelisk.cli.client_commands import ExitCode
from obelisk.cli.main import app
from obelisk.concepts.ids import ExecutionId
from obelisk.server import Server
from tests.cli.test_client_cli import Run, obelisk
from tests.integration.server_harness import running_server, write_config
from tests.wat_fixtures import build_wat_fixture

FIBO = "testing:fibo/fibo.fibo"
DIVIDE = "testing:types/types.divide"
TRAP = "testing:trap/trap.trap"
FIBOA = "testing:fibo-workflow/workflow.fiboa"
SLEEP_MS = "testing:fibo-workflow/workflow.sleep-ms"


def components(tmp_path: Path) -> str:
    out = tmp_path / "wat"
    return f"""
[[activity_wasm]]
name = "fibo_wat"
location.path = "{build_wat_fixture("fibo", out)}"

[[activity_wasm]]
name = "types"
location.path = "{build_wat_fixture("types", out)}"
max_retries = 0

[[activity_wasm]]
name = "trap"
location.path = "{build_wat_fixture("trap", out)}"
max_retries = 0

[[workflow]]
name = "fibo_workflow"
location.path = "{build_wat_fixture("fibo_workflow", out)}"
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with running_server(write_config(tmp_path, tmp_path / "codegen", components(tmp_path))) as running:
        yield running


@pytest.fixture
def url(server: Server) -> str:
    return f"http://127.0.0.1:{server.api_port}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def ids(run: Run) -> list[str]:
    assert run.code == 0, run.stderr
    return [line.split("\t")[0] for line in run.stdout.splitlines()]


async def submit(url: str, ffqn: str, params: str) -> tuple[str, Run]:
    run = await obelisk("client", "-a", url, "execution", "submit", "--follow", ffqn, params)
    return run.stdout.splitlines()[0] if run.stdout else "", run


def assert_one_error_line(run: Run, code: ExitCode, *fragments: str) -> None:
    assert run.code == code, f"exit {run.code}, expected {code!r}\n{run.stdout}\n{run.stderr}"
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


async def test_exit_codes_tell_the_outcome(url: str) -> None:
    _, ok = await submit(url, FIBO, "[10]")
    assert ok.code == ExitCode.OK and "Execution finished: OK: 55" in ok.stdout, ok.stderr

    err_id, err = await submit(url, DIVIDE, "[1, 0]")
    assert err.code == ExitCode.NOT_OK and "Execution finished: Err: " in err.stdout, err.stderr
    got = await obelisk("client", "-a", url, "execution", "get", err_id)
    assert got.code == ExitCode.NOT_OK and "Execution finished: Err: " in got.stdout
    as_json = await obelisk("client", "-a", url, "execution", "get", "--follow", "--json", err_id)
    assert as_json.code == ExitCode.NOT_OK and "err" in as_json.json_lines[-1]["finished"]  # type: ignore[operator]

    _, trapped = await submit(url, TRAP, "[]")
    assert trapped.code == ExitCode.NOT_OK and "Execution finished: Execution failure: " in trapped.stdout

    usage = [
        await obelisk("client", "-a", url, "execution", "submit", FIBO, "[10"),
        await obelisk("client", "-a", url, "execution", "get", "E_bad"),
        await obelisk("client", "-a", url, "execution", "list", "--state", "sleeping"),
        await obelisk("client", "-a", url, "execution", "list", "--older-than", "last tuesday"),
        await obelisk("client", "-a", url, "execution", "list", "--function", "no function"),
        await obelisk("client", "-a", "http://127.0.0.1:port", "execution", "list"),
    ]
    for run in usage:
        assert_one_error_line(run, ExitCode.USAGE)
    unknown_option = await obelisk("client", "-a", url, "execution", "list", "--colour")
    assert unknown_option.code == ExitCode.USAGE and "--colour" in unknown_option.stderr

    assert_one_error_line(
        await obelisk("client", "-a", url, "execution", "get", ExecutionId.generate()), ExitCode.REFUSED, "not found"
    )
    assert_one_error_line(
        await obelisk("client", "-a", url, "execution", "submit", "testing:fibo/fibo.fib", "[10]"),
        ExitCode.REFUSED,
        "not found",
    )
    assert_one_error_line(
        await obelisk("client", "-a", url, "execution", "submit", FIBO, '["x"]'), ExitCode.REFUSED, "u8"
    )

    down = f"http://127.0.0.1:{free_port()}"
    for args in (["execution", "get", "--follow", err_id], ["execution", "list"], ["component", "list"]):
        assert_one_error_line(await obelisk("client", "-a", down, *args), ExitCode.UNAVAILABLE, "cannot reach")


async def test_submit_under_a_given_execution_id(url: str) -> None:
    execution_id = ExecutionId.generate()
    first = await obelisk("client", "-a", url, "execution", "submit", "--execution-id", execution_id, FIBO, "[10]")
    assert first.code == ExitCode.OK and first.stdout.strip() == execution_id, first.stderr
    again = await obelisk(
        "client", "-a", url, "execution", "submit", "--follow", "--execution-id", execution_id, FIBO, "[10]"
    )
    assert again.code == ExitCode.OK and again.stdout.splitlines()[0] == execution_id, again.stderr
    assert "Execution finished: OK: 55" in again.stdout
    other = await obelisk("client", "-a", url, "execution", "submit", "--execution-id", execution_id, FIBO, "[9]")
    assert_one_error_line(other, ExitCode.REFUSED, execution_id, "already exists")
    child = await obelisk(
        "client", "-a", url, "execution", "submit", "--execution-id", f"{execution_id}.1", FIBO, "[1]"
    )
    assert_one_error_line(child, ExitCode.USAGE, "--execution-id")


async def test_list_filters_by_children_state_function_and_time_and_pages_with_a_cursor(url: str) -> None:
    listing = ["client", "-a", url, "execution", "list"]
    before = await obelisk(*listing, "--json")
    assert before.code == ExitCode.OK and before.stdout == ""
    empty = await obelisk(*listing)
    assert empty.stdout == "" and empty.stderr == "No executions found.\n"

    fibo, _ = await submit(url, FIBO, "[10]")
    workflow, _ = await submit(url, FIBOA, "[5, 2]")
    err, _ = await submit(url, DIVIDE, "[1, 0]")
    trap, _ = await submit(url, TRAP, "[]")
    newest_first = [trap, err, workflow, fibo]
    children = [f"{workflow}.1", f"{workflow}.0"]  # created in this order: newest first is .1, .0

    assert ids(await obelisk(*listing)) == newest_first
    assert ids(await obelisk(*listing, "--all")) == [trap, err, *children, workflow, fibo]

    assert ids(await obelisk(*listing, "--state", "err")) == [err]
    assert ids(await obelisk(*listing, "--state", "failed")) == [trap]
    assert ids(await obelisk(*listing, "-s", "OK")) == [workflow, fibo]
    assert ids(await obelisk(*listing, "-s", "ok", "-s", "err")) == [err, workflow, fibo]
    assert ids(await obelisk(*listing, "--state", "finished", "--all")) == [trap, err, *children, workflow, fibo]
    assert ids(await obelisk(*listing, "--state", "pending", "--state", "locked", "--state", "blocked")) == []

    assert ids(await obelisk(*listing, "--function", FIBO)) == [fibo]
    assert ids(await obelisk(*listing, "--function", "testing:fibo/fibo", "--all")) == [*children, fibo]
    assert ids(await obelisk(*listing, "--function", "testing:fibo", "--all")) == [*children, fibo]
    assert ids(await obelisk(*listing, "--function", "testing:fibo-workflow")) == [workflow]
    assert ids(await obelisk(*listing, "--ffqn", DIVIDE, "--state", "err")) == [err]
    nothing = await obelisk(*listing, "--function", "testing:nothing")
    assert nothing.code == ExitCode.OK and nothing.stdout == "" and "No executions found." in nothing.stderr

    # The state column reads as `get` says it.
    words = {line.split("\t")[0]: line.split("\t")[2] for line in (await obelisk(*listing)).stdout.splitlines()}
    assert words == {
        trap: "Finished: Execution failure",
        err: "Finished: Err",
        workflow: "Finished: OK",
        fibo: "Finished: OK",
    }
    for execution_id, word in words.items():
        got = await obelisk("client", "-a", url, "execution", "get", execution_id)
        assert f"Execution finished: {word.removeprefix('Finished: ')}" in got.stdout

    # Pages: the hint on stderr names the cursor of the next page, and --newer-than goes back.
    first = await obelisk(*listing, "-n", "2")
    assert ids(first) == [trap, err]
    assert f"--older-than {err}" in first.stderr
    second = await obelisk(*listing, "-n", "2", "--older-than", err)
    assert ids(second) == [workflow, fibo]
    assert f"--newer-than {workflow}" in second.stderr
    assert ids(await obelisk(*listing, "-n", "2", "--newer-than", workflow)) == [trap, err]
    assert ids(await obelisk(*listing, "--older-than", fibo)) == []
    conflicting = await obelisk(*listing, "--older-than", fibo, "--newer-than", trap)
    assert_one_error_line(conflicting, ExitCode.USAGE, "not both")

    # Times: the creation time of an execution, as listed, bounds the listing.
    created = {
        line["execution_id"]: line["created_at"] for line in (await obelisk(*listing, "--json", "--all")).json_lines
    }
    assert ids(await obelisk(*listing, "--older-than", str(created[workflow]))) == [fibo]
    assert ids(await obelisk(*listing, "--newer-than", str(created[workflow]))) == [trap, err]
    assert ids(await obelisk(*listing, "--older-than", "2000-01-01")) == []
    assert ids(await obelisk(*listing, "--newer-than", "2000-01-01T00:00:00+02:00")) == newest_first


async def test_events_show_the_responses_each_join_next_got(url: str) -> None:
    workflow, run = await submit(url, FIBOA, "[5, 2]")
    assert run.code == ExitCode.OK, run.stderr
    events = await obelisk("client", "-a", url, "execution", "events", workflow)
    assert events.code == ExitCode.OK, events.stderr
    answered = [line for line in events.stdout.splitlines() if "\tJoinNext\t" in line]
    assert len(answered) == 2
    for n, line in enumerate(answered):
        assert re.search(rf" -> child {re.escape(workflow)}\.{n} OK: 5 \(at \+[0-9.]+m?s\)$", line), line
    as_json = [e for e in (await obelisk("client", "-a", url, "execution", "events", "--json", workflow)).json_lines]
    responses = [e["response"] for e in as_json if e["type"] == "JoinNext"]
    assert [r["child_execution_id"] for r in responses] == [f"{workflow}.0", f"{workflow}.1"]  # type: ignore[index]
    assert all(r["result"] == {"ok": 5} for r in responses)  # type: ignore[index]

    sleeper, slept = await submit(url, SLEEP_MS, "[10]")
    assert slept.code == ExitCode.OK, slept.stderr
    lines = (await obelisk("client", "-a", url, "execution", "events", sleeper)).stdout.splitlines()
    assert any(re.search(r"\tJoinNext\t.* -> delay Delay_\S+ expired \(at \+", line) for line in lines), lines


async def test_api_url_is_accepted_on_every_client_command(url: str, server: Server) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    execution_id, _ = await submit(url, FIBO, "[10]")
    for args in (
        ["component", "list"],
        ["execution", "list"],
        ["execution", "get", execution_id],
        ["execution", "events", execution_id],
        ["execution", "submit", FIBO, "[1]"],
    ):
        for spelling in ("-a", "--api-url"):
            # the command's own option wins over the group's and over the environment
            run = await obelisk("client", "-a", down, *args, spelling, url, env={"OBELISK_API_URL": down})
            assert run.code == ExitCode.OK, (args, run.stderr)
        from_env = await obelisk("client", *args, env={"OBELISK_API_URL": url})
        assert from_env.code == ExitCode.OK, (args, from_env.stderr)


async def test_component_list_and_inspect_print_no_empty_headers(url: str, tmp_path: Path) -> None:
    run = await obelisk("client", "-a", url, "component", "list", "-v")
    assert run.code == ExitCode.OK, run.stderr
    lines = run.stdout.splitlines()
    for header, following in zip(lines, [*lines[1:], ""], strict=True):
        if header in ("Exports:", "Imports:"):
            assert following.startswith("\t"), run.stdout
    assert "Imports:" in lines  # the workflow imports the activity's function
    assert lines.count("Imports:") == 1
    inspected = await obelisk("client", "component", "inspect", "-v", str(build_wat_fixture("fibo", tmp_path)))
    assert inspected.code == 0, inspected.stderr
    assert inspected.stdout.splitlines()[1:] == ["Exports:", "\ttesting:fibo/fibo.fibo : func(n: u8) -> u64"]


def _commands(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's path (a group has ``commands``, in click and in typer's own copy of it alike)."""
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def test_help_shows_no_type_artifacts() -> None:
    """Every command's help: metavars only, no ``<bool>``/``<str>`` types, no ``{ffqn}`` in the usage line."""
    root = typer.main.get_command(app)
    paths = _commands(root)
    assert ("client", "execution", "list") in paths and ("server", "generate-config") in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
        assert result.exit_code == 0, (path, result.output)
        text = result.output
        assert not re.search(r"<(bool|str|int|float|path|text|datetime|uuid|choice|file)\b[^>]*>", text), (path, text)
        usage = next(line for line in text.splitlines() if "Usage:" in line)
        assert "{" not in usage and "}" not in usage, (path, usage)


def test_each_command_is_summed_up_in_one_line() -> None:
    """A group's listing shows a command's first paragraph with its line breaks kept: a summary wrapped in the
    docstring reads as broken lines there, so the details go after a blank line."""
    root = typer.main.get_command(app)
    for path in _commands(root)[1:]:
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        summary = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert summary and "\n" not in summary, (path, summary)


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"obelisk \d+\.\d+\.\d+\S*\n", result.output), result.output


async def test_generate_config_into_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "dir" / "x.toml"
    run = await obelisk("server", "generate-config", str(target))
    assert run.code == 1 and run.stdout == "" and "Traceback" not in run.stderr
    assert run.stderr == f"error: cannot write {target}: the folder {target.parent} does not exist\n"
    assert not target.parent.exists()
    done = await obelisk("server", "generate-config", str(tmp_path / "x.toml"))
    assert done.code == 0 and (tmp_path / "x.toml").exists()


def test_exit_codes_are_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for code in ExitCode:
        assert re.search(rf"^\| {code.value} \|", readme, re.MULTILINE), f"README's exit status table lacks {code}"
