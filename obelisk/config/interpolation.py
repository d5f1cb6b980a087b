"""``${NAME}`` in string values: the three directory prefixes, or else an environment variable.

A secret such as a database password stays out of ``obelisk.toml`` this way (``password =
"${OBELISK_DB_PASSWORD}"``), as with the original. ``${DATA_DIR}``, ``${CACHE_DIR}`` and ``${CONFIG_DIR}`` keep
the meaning they have at the start of a path (``obelisk.config.paths``); ``$${`` is a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from obelisk.config.paths import KNOWN_PREFIXES, ConfigDirs

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}?")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MissingVariable(ValueError):
    """A ``${NAME}`` whose environment variable is not set; the message names the variable."""

    def __init__(self, name: str) -> None:
        super().__init__(f"environment variable {name} is not set (referenced as ${{{name}}})")
        self.name = name


def interpolate(
    text: str,
    env: Mapping[str, str],
    dirs: ConfigDirs,
    *,
    on_missing: Callable[[str], str] | None = None,
) -> str:
    """``text`` with every ``${NAME}`` replaced; raises ``ValueError`` for a malformed reference and
    ``MissingVariable`` for an unset variable, unless ``on_missing`` supplies a stand-in for it."""

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${"
        name = match.group(1)
        if not whole.endswith("}"):
            raise ValueError(f'unterminated "${{" in "{text}" (write "$${{" for a literal "${{")')
        if not _NAME.match(name):
            raise ValueError(f'"${{{name}}}" in "{text}" is not a variable name (letters, digits, underscores)')
        if name in KNOWN_PREFIXES:
            return str(dirs.lookup(name))
        if name in env:
            return env[name]
        if on_missing is not None:
            return on_missing(name)
        raise MissingVariable(name)

    return _REFERENCE.sub(replace, text)
