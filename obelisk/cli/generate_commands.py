"""``obelisk generate ...``: WIT files for guest authors, API tokens; each command returns an exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from obelisk.concepts.errors import ObeliskError

generate_app = typer.Typer(help="Generate files for component authors, and API tokens.", no_args_is_help=True)

OutDirOption = Annotated[
    Path,
    typer.Option(
        "--out-dir",
        "-o",
        metavar="DIR",
        help="Folder to write into, typically the guest's wit/deps (created if missing).",
    ),
]


def _fail(error: BaseException) -> int:
    print(f"error: {error}", file=sys.stderr)
    return 1


def _report(written: list[Path]) -> None:
    for path in written:
        print(f"Wrote {path}")


def generate_wit_support(out_dir: Path) -> int:
    from obelisk.wit import write_wit_support

    try:
        _report(write_wit_support(out_dir))
    except ObeliskError as error:
        return _fail(error)
    return 0


def generate_wit_extensions(component: Path, out_dir: Path) -> int:
    from obelisk.wit.printer import write_wit_extensions

    try:
        _report(write_wit_extensions(component, out_dir))
    except ObeliskError as error:
        return _fail(error)
    return 0


@generate_app.command("wit-support")
def wit_support(out_dir: OutDirOption = Path("wit/deps")) -> None:
    """Write the host packages (obelisk:types, obelisk:workflow, obelisk:log), one folder per package."""
    raise typer.Exit(generate_wit_support(out_dir))


@generate_app.command("wit-extensions")
def wit_extensions(
    component: Annotated[Path, typer.Argument(metavar="COMPONENT", help="An activity or workflow component (.wasm).")],
    out_dir: OutDirOption = Path("wit/deps"),
) -> None:
    """Write the -obelisk-ext packages of a component's exports, plus the exported packages they refer to.

    Together with `generate wit-support` the folder is ready to be a guest's wit/deps.
    """
    raise typer.Exit(generate_wit_extensions(component, out_dir))


def generate_token(role: str, *, as_json: bool) -> int:
    """Print a fresh token on stdout (alone, for ``OBELISK__API__TOKEN=$(obelisk generate token)``) and the line
    for ``obelisk.toml`` on stderr; or both as one JSON object."""
    import json

    from obelisk.api.tokens import Role, generate_token, token_hash

    try:
        chosen = Role(role)
    except ValueError:
        print(f"error: --role {role!r}: expected one of {', '.join(r.value for r in Role)}", file=sys.stderr)
        return 2
    token = generate_token()
    digest = token_hash(token)
    if as_json:
        print(json.dumps({"token": token, "hash": digest, "role": chosen.value}))
        return 0
    entry = f'"{digest}"' if chosen is Role.OPERATOR else f'{{ hash = "{digest}", role = "{chosen.value}" }}'
    print(token)
    print(f"api.token_hashes = [{entry}]", file=sys.stderr)
    return 0


@generate_app.command("token")
def token(
    role: Annotated[
        str, typer.Option("--role", "-r", metavar="ROLE", help="operator (read and change) or viewer (read only).")
    ] = "operator",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the token, its hash and role as one JSON object.")
    ] = False,
) -> None:
    """Print a new random API token on stdout, and its api.token_hashes line for obelisk.toml on stderr.

    The token is shown once and stored nowhere: give it to the clients (OBELISK_API_TOKEN, --api-token) and put the
    hash line in the config; revoke it by removing the line and restarting the server.
    """
    raise typer.Exit(generate_token(role, as_json=as_json))
