"""The UI's pure helpers: form examples, cursors, WIT highlighting, durations."""

from __future__ import annotations

import pytest

from obelisk.concepts.ids import ExecutionId
from obelisk.concepts.json_values import check_value
from obelisk.concepts.wit_types import (
    S32,
    STRING,
    U8,
    U64,
    Case,
    Field,
    WitEnum,
    WitFlags,
    WitList,
    WitOption,
    WitRecord,
    WitResult,
    WitTuple,
    WitType,
    WitVariant,
)
from obelisk.webui.cursors import BadCursor, decode_cursor, encode_cursor
from obelisk.webui.examples import example_value
from obelisk.webui.formatting import duration_text
from obelisk.webui.wit_highlight import ffqn_of, highlight_wit

POINT = WitRecord((Field("x", S32), Field("y", S32)), name="point")


@pytest.mark.parametrize(
    "wit_type",
    [
        U8,
        STRING,
        POINT,
        WitList(POINT),
        WitTuple((U64, STRING)),
        WitVariant((Case("circle", U64), Case("empty", None)), name="shape"),
        WitVariant((Case("none", None),), name="v"),
        WitEnum(("red", "green"), name="color"),
        WitFlags(("read", "write"), name="permissions"),
        WitOption(POINT),
        WitResult(U8, STRING),
        WitResult(None, None),
    ],
)
def test_every_example_passes_the_type_check(wit_type: WitType) -> None:
    value = example_value(wit_type)
    assert check_value(value, wit_type) == value


def test_cursor_round_trip_and_rejections() -> None:
    child = ExecutionId.generate().child(3)
    assert decode_cursor(encode_cursor(123, child)) == (123, child)
    for bad in ["", "123", "x-E_01J0000000000000000000000Z", "1-E_bad", "1-" + "E" * 500]:
        with pytest.raises(BadCursor):
            decode_cursor(bad)


def test_wit_links_know_the_package_version_and_escape_everything() -> None:
    assert ffqn_of("docs:adder@0.1.0", "add", "add") == "docs:adder/add@0.1.0.add"
    wit = "package docs:adder@0.1.0;\n\ninterface add {\n  /// <b>\n  add: func(a: u32) -> u32;\n}\n"
    seen: list[str] = []

    def link_for(ffqn: str) -> str | None:
        seen.append(ffqn)
        return '/submit/"x"'

    out = str(highlight_wit(wit, link_for))
    assert seen == ["docs:adder/add@0.1.0.add"]
    assert '<a class="fn" href="/submit/&#34;x&#34;"' in out
    assert "&lt;b&gt;" in out and "<b>" not in out


@pytest.mark.parametrize(
    ("micros", "text"),
    [(85, "85 µs"), (12_345, "12.3 ms"), (450_000, "450 ms"), (4_560_000, "4.56 s"), (182_000_000, "3 min 2 s")],
)
def test_durations_read_in_the_largest_short_unit(micros: int, text: str) -> None:
    assert duration_text(micros) == text
