"""``obelisk generate ...``: WIT files for guest authors; each command returns an exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from obelisk.concepts.errors import ObeliskError

generate_app = typer.Typer(help="Generate files for component authors.", no_args_is_help=True)

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
