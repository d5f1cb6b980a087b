"""Render configuration data back to TOML (the stdlib reads TOML but cannot write it).

Used to show the effective configuration and to prove that a loaded config survives a write/read cycle.
Only what ``ObeliskConfig`` produces is supported: tables, arrays of tables at the root, scalars, arrays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from obelisk.config.models import ObeliskConfig

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_INLINE_MAX_KEYS = 2


def config_to_toml(config: ObeliskConfig) -> str:
    """The effective configuration as TOML; absent optional keys are omitted."""
    return render_toml(config.model_dump(mode="json", exclude_none=True))


def render_toml(data: Mapping[str, Any]) -> str:
    lines: list[str] = []
    _emit_table(lines, (), data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _emit_table(lines: list[str], prefix: tuple[str, ...], data: Mapping[str, Any]) -> None:
    subtables: list[tuple[str, Mapping[str, Any]]] = []
    arrays_of_tables: list[tuple[str, Sequence[Mapping[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, Mapping) and not _inline(value):
            subtables.append((key, value))
        elif not prefix and _is_table_list(value):
            arrays_of_tables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, table in subtables:
        path = (*prefix, key)
        lines += ["", f"[{'.'.join(_key(p) for p in path)}]"]
        _emit_table(lines, path, table)
    for key, items in arrays_of_tables:
        for item in items:
            path = (*prefix, key)
            lines += ["", f"[[{'.'.join(_key(p) for p in path)}]]"]
            _emit_table(lines, path, item)


def _inline(value: Mapping[str, Any]) -> bool:
    """Small leaf tables (durations, ``location``) read better inline: ``lock_expiry = {secs = 1}``."""
    return len(value) <= _INLINE_MAX_KEYS and not any(isinstance(v, Mapping | list) for v in value.values())


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} as TOML")
