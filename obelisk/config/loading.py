"""Find, parse, merge and validate ``obelisk.toml``; report every problem with its file and line.

Order of precedence (later wins): ``/etc/obelisk/obelisk.toml``, ``${CONFIG_DIR}/obelisk.toml``,
``./obelisk.toml``, then ``OBELISK__a__b=value`` environment variables. Tables are merged key by key; arrays
(``[[activity_wasm]]`` …) are replaced as a whole, as in the original.

Environment overrides are applied by this module rather than by pydantic-settings: their values are parsed as
TOML values, and problems they cause must be reported against the variable, which needs provenance that a
settings source does not keep.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from obelisk.config.durations import describe_value
from obelisk.config.errors import ConfigError, ConfigProblem
from obelisk.config.locator import KeyIndex, KeyPath, index_keys
from obelisk.config.models import (
    COMPONENT_KINDS,
    CONTEXT_KEY,
    ObeliskConfig,
    SqliteBackend,
    ValidationContext,
    cross_field_problems,
    format_key_path,
)
from obelisk.config.outbound_http import outbound_http_warnings
from obelisk.config.paths import ConfigDirs
from obelisk.config.unsupported import unsupported_warnings

ENV_PREFIX = "OBELISK__"
ENV_SEPARATOR = "__"
SYSTEM_CONFIG = Path("/etc/obelisk/obelisk.toml")
CONFIG_FILE_NAME = "obelisk.toml"

# Keys holding paths; relative values are anchored at the directory of the file that declared them.
# "*" matches every element of an array of tables.
PATH_KEYS: tuple[tuple[str, ...], ...] = (
    ("sqlite", "file"),
    ("database", "sqlite", "directory"),
    ("data_directory",),
    ("wasm_cache_directory",),
    ("codegen_cache", "directory"),
    ("log", "file", "directory"),
    ("api", "tls_cert_file"),
    ("api", "tls_key_file"),
    ("api", "tls_client_ca_file"),
    ("webui", "tls_cert_file"),
    ("webui", "tls_key_file"),
    *((kind, "*", "location", "path") for kind in COMPONENT_KINDS),
)

_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


@dataclass(frozen=True)
class ConfigSource:
    """One parsed file, kept to locate problems in it after merging."""

    path: Path
    data: dict[str, Any]
    keys: KeyIndex


@dataclass(frozen=True)
class LoadedConfig:
    config: ObeliskConfig
    sources: tuple[Path, ...]
    env_overrides: tuple[str, ...]
    dirs: ConfigDirs
    missing_env_vars: tuple[str, ...] = ()
    """``key: NAME`` for each ``${NAME}`` that was not set, with ``ignore_missing_env_vars`` only (else an error)."""
    warnings: tuple[ConfigProblem, ...] = ()
    """Keys that load but do nothing yet (``obelisk.config.unsupported``), located like problems; the server logs
    them at start-up and ``server verify`` prints them."""

    def ensure_dirs(self) -> None:
        """Create the directories the server writes to; the loader itself never touches the disk."""
        config = self.config
        backend = config.backend
        if isinstance(backend, SqliteBackend):
            backend.file.parent.mkdir(parents=True, exist_ok=True)
        elif config.data_directory is not None:  # the server's identity, with PostgreSQL
            config.data_directory.mkdir(parents=True, exist_ok=True)
        config.wasm_cache_directory.mkdir(parents=True, exist_ok=True)
        if config.codegen_cache.enabled:
            config.codegen_cache.directory.mkdir(parents=True, exist_ok=True)
        if config.log.file is not None and config.log.file.enabled:
            config.log.file.directory.mkdir(parents=True, exist_ok=True)


def default_search_paths(env: Mapping[str, str] = os.environ, cwd: Path | None = None) -> list[Path]:
    paths = [SYSTEM_CONFIG]
    config_dir = ConfigDirs.from_env(env).config_dir
    if config_dir is not None:
        paths.append(config_dir / CONFIG_FILE_NAME)
    paths.append((cwd or Path.cwd()) / CONFIG_FILE_NAME)
    return paths


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] = os.environ,
    *,
    search_paths: Sequence[Path] | None = None,
    cwd: Path | None = None,
    ignore_missing_env_vars: bool = False,
) -> LoadedConfig:
    """Load the configuration; raise ``ConfigError`` listing every problem found.

    With ``path`` only that file is read. Otherwise every existing file of ``search_paths`` (default:
    ``default_search_paths(env)``) is merged, and at least one must exist. ``${NAME}`` in the values that take it
    is read from ``env``; an unset one is an error unless ``ignore_missing_env_vars`` (``server verify -i``).
    """
    cwd = cwd or Path.cwd()
    if path is not None:
        if not (cwd / path).is_file():
            raise ConfigError([ConfigProblem("configuration file not found", source=str(path))])
        candidates = [path]
    else:
        tried = list(search_paths) if search_paths is not None else default_search_paths(env, cwd)
        candidates = [p for p in tried if (cwd / p).is_file()]
        if not candidates:
            listing = ", ".join(str(p) for p in tried)
            raise ConfigError(
                f"no configuration file found; tried: {listing} "
                "(create one with `obelisk server generate-config` or pass --config)"
            )

    problems: list[ConfigProblem] = []
    sources: list[ConfigSource] = []
    for candidate in candidates:
        source = _read_source(candidate, cwd, problems)
        if source is not None:
            sources.append(source)
    if problems:
        raise ConfigError(problems)

    merged: dict[str, Any] = {}
    for source in sources:
        merged = deep_merge(merged, source.data)
    env_paths = _apply_env_overrides(merged, env, problems)
    if problems:
        raise ConfigError(problems)

    dirs = ConfigDirs.from_env(env)
    context = ValidationContext(
        dirs=dirs,
        cwd=cwd,
        home=env.get("HOME"),
        skip_cross_checks=True,
        env=env,
        ignore_missing_env_vars=ignore_missing_env_vars,
    )
    try:
        config = ObeliskConfig.model_validate(merged, context={CONTEXT_KEY: context})
    except ValidationError as err:
        for detail in err.errors(include_url=False):
            loc = tuple(p for p in detail["loc"] if isinstance(p, str | int))
            problems.append(_locate(loc, _describe_error(detail), sources, env_paths))
        problems.sort(key=lambda p: (p.source or "", p.line or 0))
        raise ConfigError(problems) from None
    for loc, message in cross_field_problems(config):
        problems.append(_locate(loc, message, sources, env_paths))
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(
        config=config,
        sources=tuple(s.path for s in sources),
        env_overrides=tuple(env_paths.values()),
        dirs=dirs,
        missing_env_vars=tuple(context.missing_env_vars),
        warnings=tuple(
            _locate(loc, message, sources, env_paths)
            for loc, message in [*unsupported_warnings(config), *outbound_http_warnings(config.outbound_http)]
        ),
    )


# ---------------------------------------------------------------------------------------------- reading


def _read_source(path: Path, cwd: Path, problems: list[ConfigProblem]) -> ConfigSource | None:
    full = cwd / path
    try:
        text = full.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        problems.append(ConfigProblem(f"cannot read configuration file: {err}", source=str(path)))
        return None
    return _parse_source(text, path, full.parent, problems)


def _parse_source(text: str, path: Path, base_dir: Path, problems: list[ConfigProblem]) -> ConfigSource | None:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        match = _SYNTAX_POSITION.search(message)
        line = column = None
        if match:
            line, column = int(match.group(1)), int(match.group(2))
            message = message[: match.start()]
        problems.append(ConfigProblem(f"TOML syntax error: {message}", source=str(path), line=line, column=column))
        return None
    for pattern in PATH_KEYS:
        _anchor_paths(data, pattern, base_dir)
    return ConfigSource(path=path, data=data, keys=index_keys(text))


def _anchor_paths(node: Any, pattern: tuple[str, ...], base_dir: Path) -> None:
    """Make relative path values absolute against ``base_dir``; prefixed and ``~`` values are left alone."""
    if not pattern:
        return
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if isinstance(node, list):
            for item in node:
                _anchor_paths(item, rest, base_dir)
        return
    if not isinstance(node, dict) or head not in node:
        return
    if rest:
        _anchor_paths(node[head], rest, base_dir)
        return
    value = node[head]
    if isinstance(value, str) and value and not value.startswith(("${", "~")) and not Path(value).is_absolute():
        node[head] = str(base_dir / value)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (arrays included) in ``override`` replaces the old one."""
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


# ---------------------------------------------------------------------------------------------- environment


def parse_env_value(text: str) -> Any:
    """A TOML value when the text is one (``5``, ``true``, ``{secs = 2}``, ``["a"]``), else the raw string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _apply_env_overrides(
    merged: dict[str, Any], env: Mapping[str, str], problems: list[ConfigProblem]
) -> dict[KeyPath, str]:
    applied: dict[KeyPath, str] = {}
    for name in sorted(env):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        raw_parts = name[len(ENV_PREFIX) :].split(ENV_SEPARATOR)
        source = f"environment variable {name}"
        if not all(raw_parts):
            problems.append(ConfigProblem(f"empty key segment; expected {ENV_PREFIX}a__b", source=source))
            continue
        parts = [p.lower() for p in raw_parts]
        try:
            path = _set_path(merged, parts, parse_env_value(env[name]))
        except ValueError as err:
            problems.append(ConfigProblem(str(err), source=source, key=".".join(parts)))
            continue
        applied[path] = name
    return applied


def _set_path(root: dict[str, Any], parts: list[str], value: Any) -> KeyPath:
    """Set ``value`` at ``parts``, creating tables; a numeric part indexes an existing array of tables."""
    node: Any = root
    path: list[str | int] = []
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(
                    f'{format_key_path(tuple(path))} has {len(node)} element(s); "{part}" is not a valid index'
                )
            index = int(part)
            path.append(index)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            raise ValueError(f"{format_key_path(tuple(path))} is not a table, cannot set {part!r} in it")
        path.append(part)
        if last:
            node[part] = value
        else:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif isinstance(child, Mapping) and not isinstance(child, dict):
                child = node[part] = dict(child)
            node = child
    return tuple(path)


# ---------------------------------------------------------------------------------------------- problems


def _locate(
    loc: KeyPath, message: str, sources: Sequence[ConfigSource], env_paths: Mapping[KeyPath, str]
) -> ConfigProblem:
    key = format_key_path(loc) or None
    for env_path, name in env_paths.items():
        if loc[: len(env_path)] == env_path:
            return ConfigProblem(message, source=f"environment variable {name}", key=key)
    best: ConfigSource | None = None
    best_depth = -1
    for source in sources:  # later files win ties, like they win the merge
        depth = _defined_depth(source.data, loc)
        if depth >= best_depth:
            best, best_depth = source, depth
    if best is None:
        return ConfigProblem(message, key=key)
    position = best.keys.find(loc) if best_depth > 0 else None
    return ConfigProblem(message, source=str(best.path), line=position[0] if position else None, key=key)


def _defined_depth(data: Any, loc: KeyPath) -> int:
    depth = 0
    node = data
    for part in loc:
        found = (isinstance(part, int) and isinstance(node, list) and part < len(node)) or (
            isinstance(part, str) and isinstance(node, dict) and part in node
        )
        if not found:
            break
        node = node[part]
        depth += 1
    return depth


_TYPE_NAMES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
    "string_type": "a string",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "path_type": "a path string",
    "float_type": "a number",
}


def _describe_error(detail: ErrorDetails) -> str:
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    got = f", got {describe_value(detail['input'])}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing required key"
    if kind in _TYPE_NAMES:
        return f"expected {_TYPE_NAMES[kind]}{got}"
    if kind == "literal_error":
        return f"expected {str(ctx.get('expected', '')).replace(chr(39), chr(34))}{got}"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == "^[A-Za-z0-9_]+$":
        return f"a name may contain only letters, digits and underscores{got}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}{got}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}{got}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return f"{detail['msg']}{got}"
