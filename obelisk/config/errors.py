"""Errors of the configuration subsystem.

Every problem found while reading the configuration is collected into one ``ConfigError`` so a user fixing a
config file sees all mistakes at once instead of one per server start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from obelisk.concepts.errors import ObeliskError


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake, located as precisely as the loader could manage.

    ``source`` is a file path, or a description such as ``environment variable OBELISK__api__port`` when the
    value did not come from a file.
    """

    message: str
    source: str | None = None
    line: int | None = None
    column: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.source is not None:
            where = self.source
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class ConfigError(ObeliskError):
    """The configuration cannot be used; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[ConfigProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem(problems)]
        self.problems: list[ConfigProblem] = list(problems)
        if len(self.problems) == 1:
            text = str(self.problems[0])
        else:
            text = f"{len(self.problems)} configuration problems:\n" + "\n".join(
                f"  {problem}" for problem in self.problems
            )
        super().__init__(text)


class MissingEnvVarError(ConfigError):
    """A component asks for a host environment variable (bare ``KEY`` in ``env_vars``) that is not set."""

    def __init__(self, variable: str, component: str | None) -> None:
        self.variable = variable
        self.component = component
        owner = f"component {component!r}" if component else "a component"
        super().__init__(
            [
                ConfigProblem(
                    f"environment variable {variable!r} is required by {owner} (env_vars entry {variable!r}) "
                    "but is not set on the host",
                    key=f"{component}.env_vars" if component else "env_vars",
                )
            ]
        )


class ConfigFileExistsError(ObeliskError, FileExistsError):
    """``generate-config`` never overwrites: a hand-edited config is worth more than a fresh sample."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"{path}: refusing to overwrite an existing file")
