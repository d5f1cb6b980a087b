"""``obelisk client [-a URL] component list | execution submit|get|list|events|logs|cancel|cancel-delay|pause|
resume``: talk to a server.

Each command prints human lines as the original CLI did (docs/compatibility.md#cli), or with ``--json`` one JSON
object per line (docs/architecture.md#cli). Every failure (server unreachable, unknown function, bad JSON, ...) is
one ``error: ...`` line on stderr, never a traceback, and the exit status says what kind of failure it was
(``ExitCode``), so that a script can tell a failed execution from a typo and from a server that is down. grpc is
imported inside the commands, never wasmtime.
"""

from __future__ import annotations

import enum
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from obelisk.cli.client_tls import (
    GroupCaOption,
    GroupClientCertOption,
    GroupClientKeyOption,
    GroupTlsFlag,
    group_options,
    with_tls_options,
)
from obelisk.concepts.errors import ObeliskError

if TYPE_CHECKING:
    from obelisk.api.client import ApiClient
    from obelisk.api.generated import obelisk_pb2 as pb

DEFAULT_API_URL = "http://127.0.0.1:5005"
TOKEN_META = "obelisk.api_token"
TOKEN_ENV_VARS = ["OBELISK_API_TOKEN", "OBELISK__API__TOKEN"]
"""Where ``--api-token`` is read from when not given, in order (as the original's CLI)."""


class ExitCode(enum.IntEnum):
    """The exit status of every client command (``EXIT_CODES`` is the table the help and README show)."""

    OK = 0
    NOT_OK = 1
    """The execution finished, but not with an ``ok`` result (``err``, a failure, a timeout, nondeterminism, a
    cancel)."""
    USAGE = 2
    """The command line is wrong: an unknown option, a malformed id, function name, time or JSON value."""
    REFUSED = 3
    """The server refused the request: a missing or unknown API token (or a viewer's for a change), an unknown
    execution or function, parameters of the wrong type, a cancel of an execution that had finished, a pause of a
    finished or paused one, a resume of one that is not paused."""
    UNAVAILABLE = 4
    """The server could not be reached, or cannot take the request now (its database full or unwritable)."""
    INTERRUPTED = 130


EXIT_CODES = (
    "Exit status: 0 done (a followed execution finished OK) · 1 the execution finished, not OK (err, failure, "
    "timeout, nondeterminism, cancelled) · 2 usage error · 3 refused by the server (no valid token, not found, wrong "
    "parameters, cancel or pause of a finished execution, pause of a paused one, resume of one not paused) · 4 "
    "server unreachable or unavailable · 130 interrupted."
)


class UsageError(ObeliskError):
    """A value on the command line is malformed; nothing was sent."""


def _fail(message: str, code: ExitCode) -> int:
    print(f"error: {' '.join(message.split())}", file=sys.stderr)
    return code


def _api_url(ctx: typer.Context, override: str | None) -> str:
    if override is not None:
        return override
    obj = ctx.find_root().obj if ctx.obj is None else ctx.obj
    return str((obj or {}).get("api_url", DEFAULT_API_URL))


def _api_token(ctx: typer.Context) -> str | None:
    """The command's ``--api-token``, else the client group's (which falls back to the environment)."""
    if ctx.meta.get(TOKEN_META):
        return str(ctx.meta[TOKEN_META])
    obj = ctx.find_root().obj if ctx.obj is None else ctx.obj
    token = (obj or {}).get("api_token")
    return str(token) if token else None


def _remember_token(ctx: typer.Context, value: str | None) -> str | None:
    """``--api-token`` given after a command: kept where ``_run`` looks first (``ctx.meta`` is shared by the
    command and its groups), so the commands need not pass it along."""
    if value:
        ctx.meta[TOKEN_META] = value
    return value


def _run(ctx: typer.Context, api_url: str | None, action: Callable[[ApiClient], int]) -> int:
    from obelisk.api.client import ApiClient, ApiError, ClientInputError
    from obelisk.cli.client_tls import client_tls

    try:
        obj = ctx.find_root().obj if ctx.obj is None else ctx.obj
        with ApiClient(_api_url(ctx, api_url), client_tls(obj or {}), _api_token(ctx)) as client:
            return action(client)
    except (UsageError, ClientInputError) as error:
        return _fail(str(error), ExitCode.USAGE)
    except ApiError as error:
        return _fail(str(error), ExitCode.UNAVAILABLE if error.retryable else ExitCode.REFUSED)
    except ObeliskError as error:
        return _fail(str(error), ExitCode.REFUSED)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


def _emit(document: dict[str, Any]) -> None:
    print(json.dumps(document, ensure_ascii=False), flush=True)


# ---------------------------------------------------------------------------------------------- arguments
def parse_params(text: str) -> list[Any]:
    from obelisk.service.json_input import parse_json

    try:
        params = parse_json(text, "PARAMS")
    except ObeliskError as error:
        raise UsageError(str(error)) from None
    if not isinstance(params, list):
        raise UsageError(f"params must be a JSON array such as '[10]', got {text!r}")
    return params


def parse_execution_id(text: str, what: str = "EXECUTION_ID", *, top_level: bool = False) -> str:
    """An execution id argument, checked here so a typo is named before the server is asked."""
    from obelisk.concepts.errors import ParseError
    from obelisk.concepts.ids import ExecutionId

    try:
        return ExecutionId.parse_top_level(text) if top_level else ExecutionId.parse(text)
    except ParseError as error:
        expected = "E_<ULID>" if top_level else "E_<ULID> or a child's E_<ULID>.<n>"
        raise UsageError(f"{what}: {error}; expected {expected}") from None


def parse_time(text: str, what: str) -> datetime:
    """RFC 3339 (``2026-01-31T12:00:00Z``) or a date; without a UTC offset the time is UTC, as the CLI prints."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{what}: {text!r} is neither an execution id nor a time such as 2026-01-31T12:00:00Z"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def list_cursor(text: str, what: str) -> pb.ListExecutionsRequest.Cursor:
    """An execution id (``E_...``) or a time."""
    from obelisk.api.generated import obelisk_pb2 as pb

    if text.startswith("E_"):
        return pb.ListExecutionsRequest.Cursor(execution_id=pb.ExecutionId(id=parse_execution_id(text, what)))
    cursor = pb.ListExecutionsRequest.Cursor()
    cursor.created_at.FromDatetime(parse_time(text, what))
    return cursor


def function_filter(text: str) -> pb.ListExecutionsRequest.ExecutionFunctionFilter:
    """``ns:pkg`` (a package), ``ns:pkg/ifc`` (an interface) or ``ns:pkg/ifc.fn`` (one function)."""
    from obelisk.api.generated import obelisk_pb2 as pb
    from obelisk.service.listing import FunctionScope, InvalidFilter, ScopeKind

    if "/" not in text:
        kind = ScopeKind.PACKAGE
    else:
        try:
            kind = FunctionScope.of(ScopeKind.INTERFACE, text).kind
        except InvalidFilter:
            kind = ScopeKind.FUNCTION
    try:
        scope = FunctionScope.of(kind, text)
    except InvalidFilter as error:
        raise UsageError(f"--function: {error}") from None
    return pb.ListExecutionsRequest.ExecutionFunctionFilter(**{f"{scope.kind.value}_name": scope.name})


def state_filters(words: list[str]) -> list[pb.ListExecutionsRequest.ExecutionStateFilter]:
    from obelisk.api.generated import obelisk_pb2 as pb
    from obelisk.service.listing import StateFilter

    values = []
    for word in words:
        try:
            state = StateFilter(word.lower())
        except ValueError:
            raise UsageError(f"--state {word!r}: expected one of {', '.join(s.value for s in StateFilter)}") from None
        values.append(getattr(pb.ListExecutionsRequest, f"EXECUTION_STATE_FILTER_{state.name}"))
    return values


# ---------------------------------------------------------------------------------------------- executions
def show_status(client: ApiClient, execution_id: str, *, follow: bool, as_json: bool) -> int:
    """Print the status stream: ``Function: ...``, state changes, then the result (or JSON lines of the same).

    ``NOT_OK`` once a result other than ``ok`` is shown.
    """
    from obelisk.api.client import ffqn_of
    from obelisk.cli import client_output as out

    last_word: str | None = None
    code = ExitCode.OK
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
                if not out.finished_ok(finished.result_detail):
                    code = ExitCode.NOT_OK
                continue
            case _:
                continue
        word = out.status_word(status)
        if not as_json and word is not None and word != last_word:
            print(word, flush=True)
            last_word = word
    return code


def execution_submit(
    ctx: typer.Context,
    api_url: str | None,
    ffqn: str,
    params_text: str,
    *,
    execution_id: str | None,
    follow: bool,
    as_json: bool,
) -> int:
    try:
        params = parse_params(params_text)
        if execution_id is not None:
            execution_id = parse_execution_id(execution_id, "--execution-id", top_level=True)
    except UsageError as error:
        return _fail(str(error), ExitCode.USAGE)

    def action(client: ApiClient) -> int:
        from obelisk.concepts.ids import ExecutionId

        submitted = client.submit(execution_id or ExecutionId.generate(), ffqn, params)
        if as_json:
            _emit({"execution_id": submitted})
        else:
            print(submitted, flush=True)
        return show_status(client, submitted, follow=True, as_json=as_json) if follow else ExitCode.OK

    return _run(ctx, api_url, action)


def execution_get(ctx: typer.Context, api_url: str | None, execution_id: str, *, follow: bool, as_json: bool) -> int:
    try:
        execution_id = parse_execution_id(execution_id)
    except UsageError as error:
        return _fail(str(error), ExitCode.USAGE)
    return _run(ctx, api_url, lambda client: show_status(client, execution_id, follow=follow, as_json=as_json))


def execution_cancel(ctx: typer.Context, api_url: str | None, execution_id: str, *, as_json: bool) -> int:
    try:
        execution_id = parse_execution_id(execution_id)
    except UsageError as error:
        return _fail(str(error), ExitCode.USAGE)

    def action(client: ApiClient) -> int:
        if not client.cancel(execution_id):
            return _fail(f"execution {execution_id} has already finished; nothing was changed", ExitCode.REFUSED)
        if as_json:
            _emit({"execution_id": execution_id, "cancelled": True})
        else:
            print(f"Cancelled {execution_id} (and its unfinished children)", flush=True)
        return ExitCode.OK

    return _run(ctx, api_url, action)


def execution_pause(ctx: typer.Context, api_url: str | None, execution_id: str, *, resume: bool, as_json: bool) -> int:
    """Pause, or with ``resume`` resume, an execution; the server's refusal (finished, already paused, not paused)
    is exit status 3 with its message, and nothing changed."""
    try:
        execution_id = parse_execution_id(execution_id)
    except UsageError as error:
        return _fail(str(error), ExitCode.USAGE)

    def action(client: ApiClient) -> int:
        if resume:
            client.unpause(execution_id)
        else:
            client.pause(execution_id)
        if as_json:
            _emit({"execution_id": execution_id, "paused": not resume})
        elif resume:
            print(f"Resumed {execution_id}: it goes on where it was", flush=True)
        else:
            print(f"Paused {execution_id}: no new run or attempt starts until it is resumed", flush=True)
        return ExitCode.OK

    return _run(ctx, api_url, action)


def execution_cancel_delay(ctx: typer.Context, api_url: str | None, delay_id: str, *, as_json: bool) -> int:
    from obelisk.concepts.errors import ParseError
    from obelisk.concepts.ids import DelayId

    try:
        delay_id = DelayId.parse(delay_id)
    except ParseError as error:
        return _fail(f"DELAY_ID: {error}; expected Delay_<ULID>", ExitCode.USAGE)

    def action(client: ApiClient) -> int:
        if not client.cancel_delay(delay_id):
            return _fail(
                f"delay {delay_id} is not pending (it expired or was cancelled already, or does not exist); nothing"
                " was changed",
                ExitCode.REFUSED,
            )
        if as_json:
            _emit({"delay_id": delay_id, "cancelled": True})
        else:
            print(f"Cancelled {delay_id}: its sleep ends now", flush=True)
        return ExitCode.OK

    return _run(ctx, api_url, action)


def execution_list(
    ctx: typer.Context,
    api_url: str | None,
    *,
    function: str | None,
    states: list[str],
    include_children: bool,
    older_than: str | None,
    newer_than: str | None,
    limit: int,
    as_json: bool,
) -> int:
    from obelisk.api.generated import obelisk_pb2 as pb
    from obelisk.cli import client_output as out

    try:
        if older_than is not None and newer_than is not None:
            raise UsageError("give --older-than or --newer-than, not both")
        request = pb.ListExecutionsRequest(top_level_only=not include_children, state_filters=state_filters(states))
        if function is not None:
            request.function_filter.CopyFrom(function_filter(function))
        if newer_than is not None:
            request.newer_than.CopyFrom(
                pb.ListExecutionsRequest.NewerThan(length=limit, cursor=list_cursor(newer_than, "--newer-than"))
            )
        else:
            request.older_than.CopyFrom(pb.ListExecutionsRequest.OlderThan(length=limit))
            if older_than is not None:
                request.older_than.cursor.CopyFrom(list_cursor(older_than, "--older-than"))
    except UsageError as error:
        return _fail(str(error), ExitCode.USAGE)

    def action(client: ApiClient) -> int:
        summaries = client.list_executions(request)
        for summary in summaries:
            if as_json:
                _emit(out.summary_json(summary))
            else:
                print(out.summary_line(summary))
        if not as_json:
            _page_hint(summaries, limit, newer=newer_than is not None, paged=older_than is not None)
        return ExitCode.OK

    return _run(ctx, api_url, action)


def _page_hint(summaries: list[pb.ExecutionSummary], limit: int, *, newer: bool, paged: bool) -> None:
    """On stderr, so that stdout stays the listing: the options that show the next pages, or that none matched."""
    if not summaries:
        print("No executions found.", file=sys.stderr)
        return
    more = []
    if len(summaries) == limit or newer:
        more.append(f"older: --older-than {summaries[-1].execution_id.id}")
    if (len(summaries) == limit and newer) or paged:
        more.append(f"newer: --newer-than {summaries[0].execution_id.id}")
    if more:
        print("More pages: " + "; ".join(more), file=sys.stderr)


def execution_events(ctx: typer.Context, api_url: str | None, execution_id: str, *, as_json: bool) -> int:
    from obelisk.cli import client_output as out

    try:
        execution_id = parse_execution_id(execution_id)
    except UsageError as error:
        return _fail(str(error), ExitCode.USAGE)

    def action(client: ApiClient) -> int:
        events = client.list_events(execution_id)
        responses = client.list_responses(execution_id)
        paired = out.answers(events, responses)
        start = events[0].created_at
        for event in events:
            index = paired.get(event.version)
            answer = None if index is None else responses[index].event
            if as_json:
                document = out.event_json(event)
                if answer is not None:
                    document["response"] = out.response_json(answer, start)
                _emit(document)
            else:
                print(out.event_line(event, answer, start))
        for index in sorted(set(range(len(responses))) - set(paired.values())):
            waiting = responses[index].event
            if as_json:
                _emit({"type": "Response", "version": None} | out.response_json(waiting, start))
            else:
                print(out.response_line(waiting, start))
        return ExitCode.OK

    return _run(ctx, api_url, action)


LOGS_POLL_SECONDS = 0.25
"""How often ``logs --follow`` asks for new lines."""
LOGS_FOLLOW_GRACE_SECONDS = 1.0
"""How long ``logs --follow`` keeps reading after it saw the execution finished: a server writes guest lines a
moment after the guest wrote them (its log sink batches them), so the last lines may land after the result."""


def execution_logs(ctx: typer.Context, api_url: str | None, execution_id: str, *, follow: bool, as_json: bool) -> int:
    import time

    from obelisk.cli import client_output as out

    try:
        execution_id = parse_execution_id(execution_id)
    except UsageError as error:
        return _fail(str(error), ExitCode.USAGE)

    def finished(client: ApiClient) -> bool:
        for message in client.get_status(execution_id, follow=False):
            if message.WhichOneof("message") == "summary":
                return bool(message.summary.current_status.WhichOneof("status") == "finished")
        return False

    def action(client: ApiClient) -> int:
        token = ""
        dropped = 0
        printed = 0
        finished_at: float | None = None
        while True:
            page = client.list_logs(execution_id, token)
            printed += len(page.logs)
            for entry in page.logs:
                if as_json:
                    _emit(out.log_json(entry))
                else:
                    print(out.log_line(entry), flush=True)
            token = page.next_page_token
            dropped = page.dropped_count
            if page.logs:
                continue  # there may be more right away
            if not follow:
                break
            if finished_at is None:
                if finished(client):
                    finished_at = time.monotonic()
            elif time.monotonic() - finished_at >= LOGS_FOLLOW_GRACE_SECONDS:
                break
            time.sleep(LOGS_POLL_SECONDS)
        if dropped:
            if as_json:
                _emit({"execution_id": execution_id, "dropped": dropped})
            else:
                print(f"{dropped} lines of this execution were dropped (the oldest first)", file=sys.stderr)
        elif not printed and not as_json:
            print(f"No log lines: {execution_id} has logged and printed nothing so far.", file=sys.stderr)
        return ExitCode.OK

    return _run(ctx, api_url, action)


def component_list(ctx: typer.Context, api_url: str | None, *, extensions: bool, verbose: int, as_json: bool) -> int:
    from obelisk.cli import client_output as out

    def action(client: ApiClient) -> int:
        components = client.list_components(extensions=extensions)
        for component in components:
            if as_json:
                _emit(out.component_json(component, imports=verbose > 0))
            else:
                print("\n".join(out.component_lines(component, imports=verbose > 0)))
        if not components and not as_json:
            print("No components: the server's config declares none.", file=sys.stderr)
        return ExitCode.OK

    return _run(ctx, api_url, action)


# ---------------------------------------------------------------------------------------------- wiring
ApiUrlOption = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        "-a",
        metavar="URL",
        help=f"The server's gRPC API (default: OBELISK_API_URL, else {DEFAULT_API_URL}).",
        show_default=False,
    ),
]
ApiTokenOption = Annotated[
    str | None,
    typer.Option(
        "--api-token",
        metavar="TOKEN",
        help="The API token, sent as `authorization: Bearer TOKEN` (default: OBELISK_API_TOKEN, else "
        "OBELISK__API__TOKEN).",
        show_default=False,
        callback=_remember_token,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object per line.")]
FollowOption = Annotated[bool, typer.Option("--follow", "-f", help="Wait for the result, showing each status change.")]
ExecutionIdArgument = Annotated[str, typer.Argument(metavar="EXECUTION_ID", help="E_<ULID>, or a child's E_<ULID>.<n>")]


def register_client_commands(client_app: typer.Typer, component_app: typer.Typer) -> None:
    """Add ``--api-url``, ``component list`` and the ``execution`` group to the ``client`` typer app."""

    @client_app.callback(epilog=EXIT_CODES)
    def client(
        ctx: typer.Context,
        api_url: Annotated[
            str,
            typer.Option("--api-url", "-a", metavar="URL", help="The server's gRPC API.", envvar="OBELISK_API_URL"),
        ] = DEFAULT_API_URL,
        api_token: Annotated[
            str | None,
            typer.Option(
                "--api-token",
                metavar="TOKEN",
                help="The API token (sent as `authorization: Bearer TOKEN`).",
                envvar=TOKEN_ENV_VARS,
                show_default=False,
            ),
        ] = None,
        tls: GroupTlsFlag = False,
        ca: GroupCaOption = None,
        client_cert: GroupClientCertOption = None,
        client_key: GroupClientKeyOption = None,
    ) -> None:
        """Talk to a server, or inspect components offline."""
        # Before grpc is imported: its core prints a failed TLS handshake on stderr at INFO, beside the one
        # `error:` line that says what failed.
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        ctx.obj = {"api_url": api_url, "api_token": api_token, **group_options(tls, ca, client_cert, client_key)}

    @component_app.command("list", epilog=EXIT_CODES)
    @with_tls_options
    def component_list_command(
        ctx: typer.Context,
        extensions: Annotated[
            bool, typer.Option("--extensions", "-e", help="Also list the -obelisk-ext functions.")
        ] = False,
        verbose: Annotated[
            int, typer.Option("--verbose", "-v", count=True, show_default=False, help="Show imports too.")
        ] = 0,
        as_json: JsonOption = False,
        api_url: ApiUrlOption = None,
        api_token: ApiTokenOption = None,
    ) -> None:
        """List the server's components and their exported functions."""
        raise typer.Exit(component_list(ctx, api_url, extensions=extensions, verbose=verbose, as_json=as_json))

    execution_app = typer.Typer(help="Submit and observe executions.", no_args_is_help=True, epilog=EXIT_CODES)
    client_app.add_typer(execution_app, name="execution")

    @execution_app.command("submit", epilog=EXIT_CODES)
    @with_tls_options
    def submit_command(
        ctx: typer.Context,
        ffqn: Annotated[str, typer.Argument(metavar="FFQN", help="namespace:package/interface.function")],
        params: Annotated[str, typer.Argument(metavar="PARAMS", help="The parameters as a JSON array, e.g. '[10]'.")],
        execution_id: Annotated[
            str | None,
            typer.Option(
                "--execution-id",
                show_default=False,
                metavar="E_<ULID>",
                help="The id to submit under (default: a new one). Submitting the same id, function and "
                "parameters again is accepted and changes nothing.",
            ),
        ] = None,
        follow: FollowOption = False,
        as_json: JsonOption = False,
        api_url: ApiUrlOption = None,
        api_token: ApiTokenOption = None,
    ) -> None:
        """Submit an execution and print its id (with --follow: wait for its result)."""
        raise typer.Exit(
            execution_submit(ctx, api_url, ffqn, params, execution_id=execution_id, follow=follow, as_json=as_json)
        )

    @execution_app.command("get", epilog=EXIT_CODES)
    @with_tls_options
    def get_command(
        ctx: typer.Context,
        execution_id: ExecutionIdArgument,
        follow: FollowOption = False,
        as_json: JsonOption = False,
        api_url: ApiUrlOption = None,
        api_token: ApiTokenOption = None,
    ) -> None:
        """Show an execution's status (and result once finished)."""
        raise typer.Exit(execution_get(ctx, api_url, execution_id, follow=follow, as_json=as_json))

    @execution_app.command("list", epilog=EXIT_CODES)
    @with_tls_options
    def list_command(
        ctx: typer.Context,
        function: Annotated[
            str | None,
            typer.Option(
                "--function",
                "--ffqn",
                show_default=False,
                metavar="NAME",
                help="Only this function (ns:pkg/ifc.fn), or the functions of an interface (ns:pkg/ifc) or of a "
                "package (ns:pkg).",
            ),
        ] = None,
        state: Annotated[
            list[str] | None,
            typer.Option(
                "--state",
                "-s",
                show_default=False,
                metavar="STATE",
                help="Only executions in this state; repeat for any of several: pending (due), scheduled (later), "
                "locked, blocked (awaiting children or a delay), finished, ok, err, failed (a failure, timeout, "
                "nondeterminism or cancel), paused (in no other of these).",
            ),
        ] = None,
        include_children: Annotated[
            bool, typer.Option("--all", help="Child executions too (by default only top-level ones).")
        ] = False,
        older_than: Annotated[
            str | None,
            typer.Option(
                "--older-than",
                show_default=False,
                metavar="ID|TIME",
                help="Created before this execution or time (RFC 3339, UTC if no offset): the next page, or a time "
                "filter.",
            ),
        ] = None,
        newer_than: Annotated[
            str | None,
            typer.Option(
                "--newer-than",
                show_default=False,
                metavar="ID|TIME",
                help="Created after this execution or time: the previous page, or the first ones after a time.",
            ),
        ] = None,
        limit: Annotated[
            int, typer.Option("--limit", "-n", metavar="N", min=1, max=1000, help="How many at most (1-1000).")
        ] = 20,
        as_json: JsonOption = False,
        api_url: ApiUrlOption = None,
        api_token: ApiTokenOption = None,
    ) -> None:
        """List executions, newest first; on stderr, the options that show the next pages."""
        raise typer.Exit(
            execution_list(
                ctx,
                api_url,
                function=function,
                states=state or [],
                include_children=include_children,
                older_than=older_than,
                newer_than=newer_than,
                limit=limit,
                as_json=as_json,
            )
        )

    @execution_app.command("events", epilog=EXIT_CODES)
    @with_tls_options
    def events_command(
        ctx: typer.Context,
        execution_id: ExecutionIdArgument,
        as_json: JsonOption = False,
        api_url: ApiUrlOption = None,
        api_token: ApiTokenOption = None,
    ) -> None:
        """Print an execution's event log; each JoinNext with the response it got (a child's result, a delay)."""
        raise typer.Exit(execution_events(ctx, api_url, execution_id, as_json=as_json))

    @execution_app.command("logs", epilog=EXIT_CODES)
    @with_tls_options
    def logs_command(
        ctx: typer.Context,
        execution_id: ExecutionIdArgument,
        follow: Annotated[
            bool,
            typer.Option("--follow", "-f", help="Keep printing new lines until the execution finishes."),
        ] = False,
        as_json: JsonOption = False,
        api_url: ApiUrlOption = None,
        api_token: ApiTokenOption = None,
    ) -> None:
        """Print what an execution's guest logged (obelisk:log) and printed (stdout, stderr), oldest first."""
        raise typer.Exit(execution_logs(ctx, api_url, execution_id, follow=follow, as_json=as_json))

    @execution_app.command("cancel", epilog=EXIT_CODES)
    @with_tls_options
    def cancel_command(
        ctx: typer.Context,
        execution_id: ExecutionIdArgument,
        as_json: JsonOption = False,
        api_url: ApiUrlOption = None,
        api_token: ApiTokenOption = None,
    ) -> None:
        """Cancel an unfinished execution and its unfinished children: they finish as cancelled.

        A running attempt is stopped. A finished execution is left as it is (exit status 3)."""
        raise typer.Exit(execution_cancel(ctx, api_url, execution_id, as_json=as_json))

    @execution_app.command("pause", epilog=EXIT_CODES)
    @with_tls_options
    def pause_command(
        ctx: typer.Context,
        execution_id: ExecutionIdArgument,
        as_json: JsonOption = False,
        api_url: ApiUrlOption = None,
        api_token: ApiTokenOption = None,
    ) -> None:
        """Pause an unfinished execution: no new run or attempt starts until it is resumed.

        A running workflow stops at its next host call; a running activity attempt may finish. A finished or paused
        execution is left as it is (exit status 3)."""
        raise typer.Exit(execution_pause(ctx, api_url, execution_id, resume=False, as_json=as_json))

    @execution_app.command("resume", epilog=EXIT_CODES)
    @with_tls_options
    def resume_command(
        ctx: typer.Context,
        execution_id: ExecutionIdArgument,
        as_json: JsonOption = False,
        api_url: ApiUrlOption = None,
        api_token: ApiTokenOption = None,
    ) -> None:
        """Resume a paused execution where it was (also: unpause).

        One that is not paused is left as it is (exit status 3)."""
        raise typer.Exit(execution_pause(ctx, api_url, execution_id, resume=True, as_json=as_json))

    execution_app.command("unpause", epilog=EXIT_CODES, help="Resume a paused execution (the same as resume).")(
        resume_command
    )

    @execution_app.command("cancel-delay", epilog=EXIT_CODES)
    @with_tls_options
    def cancel_delay_command(
        ctx: typer.Context,
        delay_id: Annotated[
            str, typer.Argument(metavar="DELAY_ID", help="The delay, Delay_<ULID> (execution events show it).")
        ],
        as_json: JsonOption = False,
        api_url: ApiUrlOption = None,
        api_token: ApiTokenOption = None,
    ) -> None:
        """End a pending delay (a workflow's durable sleep) now, as if it had expired: the workflow goes on.

        A delay that is not pending is left alone (exit status 3)."""
        raise typer.Exit(execution_cancel_delay(ctx, api_url, delay_id, as_json=as_json))
