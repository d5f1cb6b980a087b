"""The ``level`` of ``[log.stdout]`` and ``[log.file]``: the original's filter syntax, read for Python's loggers.

The original takes a ``tracing`` filter such as ``info,app=trace``: a default level, then ``target=level``
directives for parts of the program. Here a target is a Python logger name and covers the loggers below it
(``obelisk.storage`` covers ``obelisk.storage.sqlite``); the longest matching target wins. ``app``, the target of
the guests' ``obelisk:log`` calls in the original, names their logger here (``obelisk.guest``), so the default
``info,app=trace`` means what it meant there: the engine at info, the guests at every level. ``::`` in a target
is read as ``.`` (``obelisk::server`` is ``obelisk.server``). The original's span filters (``target[span]=level``)
have nothing to match here and are refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

TRACE = 5
"""Below ``logging.DEBUG``: ``obelisk:log`` has a level more than Python's logging."""
OFF = logging.CRITICAL + 10
"""Above every level a record can have: nothing passes."""
GUEST_LOGGER = "obelisk.guest"
"""Where guests' ``obelisk:log`` calls and workflows' output are logged."""

LEVELS: dict[str, int] = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "off": OFF,
}
_TARGET_ALIASES = {"app": GUEST_LOGGER}


@dataclass(frozen=True, slots=True)
class LevelFilter:
    """A default threshold and per-logger thresholds, as parsed from a ``level`` string."""

    default: int
    targets: tuple[tuple[str, int], ...] = ()
    """``(logger name, threshold)``, in the order written; a later directive for the same name wins."""

    def threshold(self, logger_name: str) -> int:
        """The lowest level a record of ``logger_name`` needs to pass: that of the longest target covering it."""
        best_length, best = -1, self.default
        for name, level in self.targets:
            if len(name) >= best_length and (logger_name == name or logger_name.startswith(name + ".")):
                best_length, best = len(name), level
        return best


def parse_level_filter(text: str) -> LevelFilter:
    """Parse ``info,app=trace``; ``ValueError`` with a message for the user on anything else."""
    default = logging.INFO
    targets: list[tuple[str, int]] = []
    for raw in text.split(","):
        directive = raw.strip()
        if not directive:
            continue
        if "[" in directive or "{" in directive:
            raise ValueError(
                f'"{directive}": span filters ([...]) are not supported; use "level" or "target=level" directives'
            )
        target, sep, level_text = directive.partition("=")
        target = target.strip()
        if not sep:
            if target.lower() in LEVELS:
                default = LEVELS[target.lower()]
                continue
            # A bare target enables every level of that target, as in the original.
            level_text = "trace"
        level = LEVELS.get(level_text.strip().lower())
        if level is None:
            raise ValueError(f'"{directive}": unknown level "{level_text.strip()}"; expected one of {_level_names()}')
        if not target:
            raise ValueError(f'"{directive}": a directive needs a target before "="')
        name = _TARGET_ALIASES.get(target, target.replace("::", "."))
        targets.append((name, level))
    return LevelFilter(default, tuple(targets))


def validate_level_filter(text: str) -> str:
    """Refuse what ``parse_level_filter`` cannot read; keep the text as written (it is what gets rendered back)."""
    parse_level_filter(text)
    return text


def _level_names() -> str:
    return ", ".join(name for name in LEVELS if name != "warning")
