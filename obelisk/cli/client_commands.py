"""``obelisk client [--api-url URL] component list | execution submit|get|list|events``: talk to a server.

Each command prints human lines as the original CLI did (docs/compatibility.md#cli), or with ``--json`` one JSON
object per line (docs/architecture.md#cli). Every failure (server unreachable, unknown function, bad JSON, ...) is
one ``error: ...`` line on stderr and exit code 1, never a traceback. grpc is imported inside the commands, never
wasmtime.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from obelisk.concepts.errors import ObeliskError

if TYPE_CHECKING:
    from obelisk.api.client import ApiClient

DEFAULT_API_URL = "http://127.0.0.1:5005"
INTERRUPTED = 130

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object per line.")]
FollowOption = Annotated[bool, typer.Option("--follow", "-f", help="Wait for the result, showing each status change.")]


def _fail(message: str) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return 1


def _api_url(ctx: typer.Context) -> str:
    obj = ctx.find_root().obj if ctx.obj is None else ctx.obj
    return str((obj or {}).get("api_url", DEFAULT_API_URL))


def _run(ctx: typer.Context, action: Callable[[ApiClient], int]) -> int:
    from obelisk.api.client import ApiClient

    try:
        with ApiClient(_api_url(ctx)) as client:
            return action(client)
    except ObeliskError as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return INTERRUPTED


def _emit(document: dict[str, Any]) -> None:
    print(json.dumps(document, ensure_ascii=False), flush=True)


# ---------------------------------------------------------------------------------------------- executions
def parse_params(text: str) -> list[Any]:
    from obelisk.service.json_input import parse_json

    params = parse_json(text, "PARAMS")
    if not isinstance(params, list):
        raise ObeliskError(f"params must be a JSON array such as '[10]', got {text!r}")
    return params


def parse_execution_id(text: str) -> str:
    """The ``EXECUTION_ID`` argument, checked here so a typo is named before the server is asked."""
    from obelisk.concepts.errors import ParseError
    from obelisk.concepts.ids import ExecutionId

    try:
        return ExecutionId.parse(text)
    except ParseError as error:
        raise ObeliskError(f"EXECUTION_ID: {error}; expected E_<ULID> or a child's E_<ULID>.<n>") from None


def show_status(client: ApiClient, execution_id: str, *, follow: bool, as_json: bool) -> int:
    """Print the status stream: ``Function: ...``, state changes, then the result (or JSON lines of the same)."""
    from obelisk.api.client import ffqn_of
    from obelisk.cli import client_output as out

    last_word: str | None = None
    for message in client.get_status(execution_id, follow=follow):
        match message.WhichOneof("message"):
            case "summary":
                summary = message.summary
                if as_json:
                    _emit(out.summary_json(summary))
                else:
                    print(f"Function: {ffqn_of(summary.function_name)}", flush=True)
                status = summary.current_status
            case "current_status":
                status = message.current_status
                if as_json:
                    _emit({"execution_id": execution_id, "status": out.status_json(status)})
            case "finished_status":
                finished = message.finished_status
                if as_json:
                    _emit({"execution_id": execution_id, "finished": out.result_json(finished.result_detail)})
                else:
                    print(out.finished_text(finished), flush=True)
                continue
            case _:
                continue
        word = out.status_word(status)
        if not as_json and word is not None and word != last_word:
            print(word, flush=True)
            last_word = word
    return 0


def execution_submit(ctx: typer.Context, ffqn: str, params_text: str, *, follow: bool, as_json: bool) -> int:
    try:
        params = parse_params(params_text)
    except ObeliskError as error:
        return _fail(str(error))

    def action(client: ApiClient) -> int:
        from obelisk.concepts.ids import ExecutionId

        execution_id = client.submit(ExecutionId.generate(), ffqn, params)
        if as_json:
            _emit({"execution_id": execution_id})
        else:
            print(execution_id, flush=True)
        return show_status(client, execution_id, follow=True, as_json=as_json) if follow else 0

    return _run(ctx, action)


def execution_get(ctx: typer.Context, execution_id: str, *, follow: bool, as_json: bool) -> int:
    try:
        execution_id = parse_execution_id(execution_id)
    except ObeliskError as error:
        return _fail(str(error))
    return _run(ctx, lambda client: show_status(client, execution_id, follow=follow, as_json=as_json))


def execution_list(ctx: typer.Context, ffqn: str | None, limit: int, *, as_json: bool) -> int:
    from obelisk.cli import client_output as out

    def action(client: ApiClient) -> int:
        for summary in client.list_executions(ffqn, limit):
            if as_json:
                _emit(out.summary_json(summary))
            else:
                print(out.summary_line(summary))
        return 0

    return _run(ctx, action)


def execution_events(ctx: typer.Context, execution_id: str, *, as_json: bool) -> int:
    from obelisk.cli import client_output as out

    try:
        execution_id = parse_execution_id(execution_id)
    except ObeliskError as error:
        return _fail(str(error))

    def action(client: ApiClient) -> int:
        for event in client.list_events(execution_id):
            if as_json:
                _emit(out.event_json(event))
            else:
                print(out.event_line(event))
        return 0

    return _run(ctx, action)


def component_list(ctx: typer.Context, *, extensions: bool, verbose: int, as_json: bool) -> int:
    from obelisk.cli import client_output as out

    def action(client: ApiClient) -> int:
        for component in client.list_components(extensions=extensions):
            if as_json:
                _emit(out.component_json(component, imports=verbose > 0))
            else:
                print("\n".join(out.component_lines(component, imports=verbose > 0)))
        return 0

    return _run(ctx, action)


# ---------------------------------------------------------------------------------------------- wiring
def register_client_commands(client_app: typer.Typer, component_app: typer.Typer) -> None:
    """Add ``--api-url``, ``component list`` and the ``execution`` group to the ``client`` typer app."""

    @client_app.callback()
    def client(
        ctx: typer.Context,
        api_url: Annotated[
            str, typer.Option("--api-url", "-a", help="The server's gRPC API.", envvar="OBELISK_API_URL")
        ] = DEFAULT_API_URL,
    ) -> None:
        """Talk to a server, or inspect components offline."""
        ctx.obj = {"api_url": api_url}

    @component_app.command("list")
    def component_list_command(
        ctx: typer.Context,
        extensions: Annotated[
            bool, typer.Option("--extensions", "-e", help="Also list the -obelisk-ext functions.")
        ] = False,
        verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="Show imports too.")] = 0,
        as_json: JsonOption = False,
    ) -> None:
        """List the server's components and their exported functions."""
        raise typer.Exit(component_list(ctx, extensions=extensions, verbose=verbose, as_json=as_json))

    execution_app = typer.Typer(help="Submit and observe executions.", no_args_is_help=True)
    client_app.add_typer(execution_app, name="execution")

    @execution_app.command("submit")
    def submit_command(
        ctx: typer.Context,
        ffqn: Annotated[str, typer.Argument(help="namespace:package/interface.function")],
        params: Annotated[str, typer.Argument(help="The parameters as a JSON array, e.g. '[10]'.")],
        follow: FollowOption = False,
        as_json: JsonOption = False,
    ) -> None:
        """Submit an execution and print its id (with --follow: wait for its result)."""
        raise typer.Exit(execution_submit(ctx, ffqn, params, follow=follow, as_json=as_json))

    @execution_app.command("get")
    def get_command(
        ctx: typer.Context,
        execution_id: Annotated[str, typer.Argument(help="E_<ULID>")],
        follow: FollowOption = False,
        as_json: JsonOption = False,
    ) -> None:
        """Show an execution's status (and result once finished)."""
        raise typer.Exit(execution_get(ctx, execution_id, follow=follow, as_json=as_json))

    @execution_app.command("list")
    def list_command(
        ctx: typer.Context,
        ffqn: Annotated[str | None, typer.Option("--ffqn", help="Only executions of this function.")] = None,
        limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="How many, newest first.")] = 20,
        as_json: JsonOption = False,
    ) -> None:
        """List executions, newest first."""
        raise typer.Exit(execution_list(ctx, ffqn, limit, as_json=as_json))

    @execution_app.command("events")
    def events_command(
        ctx: typer.Context,
        execution_id: Annotated[str, typer.Argument(help="E_<ULID>")],
        as_json: JsonOption = False,
    ) -> None:
        """Print an execution's event log."""
        raise typer.Exit(execution_events(ctx, execution_id, as_json=as_json))
