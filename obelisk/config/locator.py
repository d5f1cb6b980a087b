"""Map a key path such as ``activity_wasm[1].exec.lock_expiry`` to the line of the TOML source declaring it.

``tomllib`` keeps no positions, so this is a small line scanner that understands just enough TOML (headers,
arrays of tables, dotted and quoted keys, multi-line strings and arrays) to find where each key is written.
Keys inside inline arrays are not indexed; a lookup then falls back to the nearest enclosing key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KeyPath = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class _ScanState:
    depth: int = 0  # open [ and { spanning lines
    open_multiline: str | None = None  # '"""' or "'''" while inside a multi-line string


@dataclass
class KeyIndex:
    """Positions (1-based line, column) of every key, table header and array-of-tables element."""

    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def find(self, path: KeyPath) -> tuple[int, int] | None:
        """Position of ``path``, or of its longest prefix that has one."""
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return None


def index_keys(source: str) -> KeyIndex:
    index = KeyIndex()
    state = _ScanState()
    aot_counts: dict[KeyPath, int] = {}  # resolved path of an array of tables -> index of its last element
    current: KeyPath = ()

    def resolve(parts: list[str]) -> KeyPath:
        out: list[str | int] = []
        for part in parts:
            out.append(part)
            if tuple(out) in aot_counts:
                out.append(aot_counts[tuple(out)])
        return tuple(out)

    def remember(path: KeyPath, pos: tuple[int, int], *, exact: bool) -> None:
        for end in range(1, len(path) + 1):
            prefix = path[:end]
            if prefix not in index.positions or (exact and end == len(path)):
                index.positions[prefix] = pos

    for lineno, line in enumerate(source.splitlines(), start=1):
        if state.open_multiline is not None or state.depth > 0:
            _scan_value(line, 0, state)
            continue
        stripped = line.lstrip()
        column = len(line) - len(stripped) + 1
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            parsed = _parse_key(stripped, 2)
            if parsed is None:
                continue
            parts, _ = parsed
            table = (*resolve(parts[:-1]), parts[-1])
            next_index = aot_counts.get(table, -1) + 1
            aot_counts[table] = next_index
            current = (*table, next_index)
            remember(current, (lineno, column), exact=True)
            continue
        if stripped.startswith("["):
            parsed = _parse_key(stripped, 1)
            if parsed is None:
                continue
            current = resolve(parsed[0])
            remember(current, (lineno, column), exact=True)
            continue
        parsed = _parse_key(stripped, 0)
        if parsed is None:
            continue
        parts, end = parsed
        rest = stripped[end:].lstrip()
        if not rest.startswith("="):
            continue
        remember((*current, *parts), (lineno, column), exact=True)
        _scan_value(stripped, len(stripped) - len(rest) + 1, state)
    return index


def _parse_key(text: str, pos: int) -> tuple[list[str], int] | None:
    """Parse a dotted key starting at ``pos``; return its parts and the position after it."""
    parts: list[str] = []
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos >= len(text):
            return None
        char = text[pos]
        if char in "\"'":
            end = pos + 1
            buf = ""
            while end < len(text) and text[end] != char:
                if char == '"' and text[end] == "\\" and end + 1 < len(text):
                    buf += text[end + 1]
                    end += 2
                    continue
                buf += text[end]
                end += 1
            if end >= len(text):
                return None
            parts.append(buf)
            pos = end + 1
        else:
            match = _BARE.match(text, pos)
            if match is None:
                return None
            parts.append(match.group(0))
            pos = match.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


def _scan_value(text: str, pos: int, state: _ScanState) -> None:
    """Track brackets and multi-line strings so keys inside them are not mistaken for top-level keys."""
    while pos < len(text):
        if state.open_multiline is not None:
            close = text.find(state.open_multiline, pos)
            if close < 0:
                return
            pos = close + 3
            state.open_multiline = None
            continue
        char = text[pos]
        if char == "#":
            return
        if text.startswith('"""', pos) or text.startswith("'''", pos):
            state.open_multiline = text[pos : pos + 3]
            pos += 3
            continue
        if char in "\"'":
            pos += 1
            while pos < len(text) and text[pos] != char:
                pos += 2 if char == '"' and text[pos] == "\\" else 1
            pos += 1
            continue
        if char in "[{":
            state.depth += 1
        elif char in "]}":
            state.depth = max(0, state.depth - 1)
        pos += 1
