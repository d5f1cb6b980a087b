"""``compact_json``: the text ``json.dumps(value, separators=(",", ":"))`` gives, from an encoder made once."""

from __future__ import annotations

import json

import pytest

from obelisk.concepts.json_text import compact_json

VALUES: list[object] = [
    {"Locked": {"component_id": "fibo_activity:0123", "lock_expires_at": 1733212345678901, "retry": {"max": 5}}},
    {"a": [1, 2.5, -0.0, 1e100, 0.1, 1 / 3, None, True, False], "b": {}, "c": []},
    {"é": 'ü\u2028\x00"\\/\t', "emoji": "\U0001f600"},
    {1: "an int key", 2.5: "a float key", None: "a None key", False: "a bool key"},
    2**80,
    -(2**70),
    float("nan"),
    float("inf"),
    float("-inf"),
    "only a string",
    [[[[]]]],
    None,
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_text_is_json_dumps_compact(value: object) -> None:
    assert compact_json(value) == json.dumps(value, separators=(",", ":"))


def test_an_unencodable_value_raises_the_type_error_json_dumps_raises() -> None:
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        compact_json({"a": {1, 2}})


def test_one_encoder_serves_threads_at_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    values = [{"n": n, "s": "x" * (n % 50), "l": list(range(n % 7))} for n in range(2_000)]
    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(compact_json, values))
    assert texts == [json.dumps(v, separators=(",", ":")) for v in values]
