"""Help text in the usual command-line style, whichever typer renders it.

Recent typer releases print each parameter's Python type in the help (``--json <bool>``, ``--limit <int>``) and
wrap required arguments in braces in the usage line (``submit {ffqn} {params}``); the options here carry metavars
that say what a value is (``URL``, ``N``, ``FFQN``), so the type is noise and the braces read as literal syntax.
``install`` makes the help show the metavar alone and the usage line ``FFQN PARAMS`` (``[NAME]`` when optional),
as click and older typer releases do. Releases without these hooks are left as they are (they print metavars
already). ``tests/cli/test_cli_scripts.py`` walks every command's help, so a typer that renames the hooks fails there.
"""

from __future__ import annotations

from typing import Any


def _metavar_only(self: Any, ctx: Any = None) -> str | None:
    metavar: str | None = self.metavar
    return metavar


def _nothing(self: Any, ctx: Any = None) -> None:
    """An argument's name column shows its metavar already."""
    return None


def _usage_name(self: Any) -> str:
    name: str = self.metavar or (self.name or "").upper()
    if not self.required:
        name = f"[{name}]"
    if self.nargs != 1:
        name += "..."
    return name


def install() -> None:
    from typer import core

    if hasattr(core.TyperOption, "display_type_rich"):
        core.TyperOption.display_type_rich = _metavar_only  # type: ignore[method-assign]
    if hasattr(core.TyperArgument, "display_type_rich"):
        core.TyperArgument.display_type_rich = _nothing  # type: ignore[method-assign]
    if hasattr(core.TyperArgument, "_usage_display_name"):
        core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
