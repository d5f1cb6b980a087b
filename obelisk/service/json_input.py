"""Parsing JSON that a client sent (params from the API, a field of the UI's submit form, the CLI's argument).

One parser for every face, so hostile input gets the same answer everywhere: a ``JsonInputError`` that names the
input and says what is wrong, never a ``RecursionError`` from deeply nested arrays (Python's decoder recurses once
per level) that surfaces as an internal error. No WIT value needs more than a few levels, so depth is bounded well
below the interpreter's recursion limit, and a value that passes can be rendered and checked without recursing
that deep.

Imports nothing but ``json`` and our error base: the CLI uses it without loading the engine.
"""

from __future__ import annotations

import json
from typing import Any

from obelisk.concepts.errors import ObeliskError

MAX_JSON_DEPTH = 100
"""Levels of nested JSON arrays and objects a client value may have (the params array is the first)."""


class JsonInputError(ObeliskError):
    """Client JSON that cannot be used: not JSON, or nested deeper than ``MAX_JSON_DEPTH``."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


def parse_json(text: str | bytes, what: str) -> Any:
    """The value of ``text``; ``what`` names the input in the error (``params of testing:fibo/fibo.fibo``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise JsonInputError(what, _decode_error(error, error.doc)) from None
    except UnicodeDecodeError as error:
        raise JsonInputError(what, f"not valid JSON: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except RecursionError:
        raise JsonInputError(what, _too_deep()) from None
    # Counting brackets is cheap and rules out deep nesting for almost every input without a walk.
    if _bracket_count(text) > MAX_JSON_DEPTH and _depth_exceeds(value, MAX_JSON_DEPTH):
        raise JsonInputError(what, _too_deep())
    return value


def _decode_error(error: json.JSONDecodeError, text: str) -> str:
    where = f"line {error.lineno}, column {error.colno}" if "\n" in text.strip() else f"column {error.colno}"
    return f"not valid JSON: {error.msg} at {where}"


def _too_deep() -> str:
    return f"nested deeper than {MAX_JSON_DEPTH} levels of JSON arrays and objects"


def _bracket_count(text: str | bytes) -> int:
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{")
    return text.count("[") + text.count("{")


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` containers deep; iterative, so any depth is safe to check."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, (list, dict)) else []
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return False
