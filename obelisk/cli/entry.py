"""The ``obelisk`` entry point: ``server run`` without the CLI framework, everything else through typer.

Start-up time of ``obelisk server run`` is a product feature (benchmark W3: launch to the first finished
workflow). typer with click and rich costs ~0.1 s of imports that a server never uses again, so the plain forms
of ``server run`` are recognised here and dispatched directly; any other argument list (``--help``, a typo, an
unusual spelling of the option) goes to the typer application, which stays the one definition of the CLI and
produces the same help and error messages as before.

The cyclic garbage collector is switched off while the server imports and starts: its collections over the
growing heap of module objects cost ~60-100 ms of start-up and free almost nothing. ``Server.start`` freezes the
start-up heap; collection is switched back on right after, once the server is ready. Until then the methods
that ``@dataclass`` generates come precompiled from ``obelisk.cli.dataclass_methods``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

CONFIG_OPTIONS = ("-c", "--config")


class NotFastPath(Exception):
    """The arguments are not a plain ``server run [-c FILE]``; typer parses them."""


def parse_server_run(args: Sequence[str]) -> Path | None:
    """The config path of ``server run``, ``server run -c FILE``, ``--config FILE`` or ``--config=FILE``.

    Raises ``NotFastPath`` for anything else, including values that typer might read differently (an empty
    path, or one that starts with ``-``), so that only unambiguous command lines bypass typer.
    """
    if len(args) < 2 or args[0] != "server" or args[1] != "run":
        raise NotFastPath
    rest = list(args[2:])
    if not rest:
        return None
    if len(rest) == 2 and rest[0] in CONFIG_OPTIONS:
        value = rest[1]
    elif len(rest) == 1 and rest[0].startswith("--config="):
        value = rest[0].removeprefix("--config=")
    else:
        raise NotFastPath
    if not value or value.startswith("-"):
        raise NotFastPath
    return Path(value)


def main() -> None:
    try:
        config = parse_server_run(sys.argv[1:])
    except NotFastPath:
        from obelisk.cli.main import main as typer_main

        typer_main()
        return
    sys.exit(_run_server(config))


def _run_server(config: Path | None) -> int:
    import gc

    from obelisk.cli import dataclass_methods

    gc.disable()
    methods = dataclass_methods.install()

    def ready() -> None:
        # Server.start froze the start-up heap, so the collector has nothing old to scan again.
        if methods is not None:
            methods.finish()
        gc.enable()

    try:
        from obelisk.cli.server_commands import run_server

        return run_server(config, on_ready=ready)
    except KeyboardInterrupt:
        # What click prints when Ctrl-C arrives before the server installed its signal handlers.
        print(file=sys.stderr)
        print("Aborted!", file=sys.stderr)
        return 1
    finally:
        if methods is not None:
            methods.uninstall()
