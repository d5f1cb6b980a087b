"""Client JSON: one parser for the API, the UI and the CLI, with errors that name the input."""

from __future__ import annotations

import sys

import pytest

from obelisk.service.json_input import MAX_JSON_DEPTH, JsonInputError, parse_json


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, sys.getrecursionlimit(), 100_000])
def test_deep_nesting_is_refused_as_input_not_a_recursion_error(depth: int) -> None:
    for text in (nested(depth), nested(depth).encode(), '{"a":' * depth + "1" + "}" * depth):
        with pytest.raises(JsonInputError) as raised:
            parse_json(text, "params of testing:fibo/fibo.fibo")
        assert str(raised.value) == (
            f"params of testing:fibo/fibo.fibo: nested deeper than {MAX_JSON_DEPTH} levels of JSON arrays and objects"
        )


def test_values_up_to_the_depth_and_brackets_inside_strings_are_fine() -> None:
    value = parse_json(nested(MAX_JSON_DEPTH), "p")
    for _ in range(MAX_JSON_DEPTH):
        assert isinstance(value, list) and len(value) == 1
        value = value[0]
    assert value == 1
    assert parse_json('["' + "[" * 1000 + '"]', "p") == ["[" * 1000]
    wide = "[" + ",".join(["[1]"] * 10_000) + "]"
    assert len(parse_json(wide, "p")) == 10_000


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[1,", "not valid JSON: Expecting value at column 4"),
        ('{\n"a":}', "not valid JSON: Expecting value at line 2, column 5"),
        (b"[\xff]", "not valid JSON: not UTF-8 text (invalid start byte at byte 1)"),
    ],
)
def test_malformed_json_says_where(text: str | bytes, reason: str) -> None:
    with pytest.raises(JsonInputError) as raised:
        parse_json(text, "PARAMS")
    assert raised.value.what == "PARAMS" and raised.value.reason == reason
