"""The ``obelisk`` command line.

Heavy modules (wasmtime, the server) are imported inside the commands that need them, so ``obelisk --help`` and
the client commands start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from obelisk.cli import help_style
from obelisk.cli.client_commands import register_client_commands
from obelisk.cli.generate_commands import generate_app
from obelisk.cli.server_commands import generate_config, run_server, verify_config

help_style.install()

app = typer.Typer(
    name="obelisk",
    help="A deterministic workflow engine on the WebAssembly Component Model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"obelisk {version('obelisk')}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option("--version", "-V", help="Print the version and exit.", is_eager=True, callback=_print_version),
    ] = False,
) -> None:
    """A deterministic workflow engine on the WebAssembly Component Model."""


server_app = typer.Typer(help="Run and check the server.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(generate_app, name="generate")
client_app = typer.Typer(help="Talk to a server, or inspect components offline.", no_args_is_help=True)
app.add_typer(client_app, name="client")
component_app = typer.Typer(help="Components and their functions.", no_args_is_help=True)
client_app.add_typer(component_app, name="component")
register_client_commands(client_app, component_app)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", metavar="FILE", help="The config file; without it, the default locations are merged."
    ),
]


@server_app.command("run")
def server_run(config: ConfigOption = None) -> None:
    """Start the server with the components of the config; stop with SIGTERM or Ctrl-C."""
    raise typer.Exit(run_server(config))


@server_app.command("verify")
def server_verify(
    config: ConfigOption = None,
    ignore_missing_env_vars: Annotated[
        bool, typer.Option("--ignore-missing-env-vars", "-i", help="Do not fail on env vars missing on this host.")
    ] = False,
) -> None:
    """Load the config and every component, and run the start-up checks, without starting anything."""
    raise typer.Exit(verify_config(config, ignore_missing_env_vars=ignore_missing_env_vars))


@server_app.command("generate-config")
def server_generate_config(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write the sample config.")] = Path(
        "obelisk.toml"
    ),
) -> None:
    """Write a commented sample config (refuses to overwrite an existing file)."""
    raise typer.Exit(generate_config(path))


@component_app.command("inspect")
def component_inspect(
    path: Annotated[Path, typer.Argument(metavar="COMPONENT", help="A component file (.wasm).")],
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, show_default=False, help="-v: imports too; -vv: WASI.")
    ] = 0,
    extensions: Annotated[
        bool, typer.Option("--extensions", "-e", help="Also list the -obelisk-ext functions of each export.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print a component's exported functions with their WIT signatures (offline, no server needed)."""
    from obelisk.cli.inspect_commands import inspect_component_file

    raise typer.Exit(inspect_component_file(path, verbose=verbose, extensions=extensions, as_json=as_json))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
