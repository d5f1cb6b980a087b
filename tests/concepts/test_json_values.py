import pytest

from obelisk.concepts.json_values import ParamCountError, ValueTypeError, check_params, check_value
from obelisk.concepts.wit_types import (
    BOOL,
    CHAR,
    F32,
    F64,
    S8,
    S64,
    STRING,
    U8,
    U32,
    U64,
    Case,
    Field,
    FunctionMetadata,
    WitBorrow,
    WitEnum,
    WitFlags,
    WitList,
    WitOption,
    WitOwn,
    WitRecord,
    WitResult,
    WitTuple,
    WitType,
    WitVariant,
)

DURATION = WitVariant((Case("seconds", U64), Case("minutes", U32)), name="duration")
DATETIME = WitRecord((Field("seconds", U64), Field("nanoseconds", U32)), name="datetime")
SCHEDULE_AT = WitVariant((Case("now", None), Case("at", DATETIME), Case("in", DURATION)), name="schedule-at")
ITEM = WitRecord((Field("field-x", WitList(U32)), Field("label", STRING)))


@pytest.mark.parametrize(
    ("value", "t"),
    [
        (True, BOOL),
        (255, U8),
        (-128, S8),
        (2**64 - 1, U64),
        (-(2**63), S64),
        (1.5, F64),
        (3, F32),
        ("é", CHAR),
        ("🦀", CHAR),
        ("any text", STRING),
        ([1, 2], WitList(U8)),
        ([1, "a"], WitTuple((U8, STRING))),
        ({"seconds": 1, "nanoseconds": 2}, DATETIME),
        ("now", SCHEDULE_AT),
        ({"in": {"seconds": 10}}, SCHEDULE_AT),
        ({"at": {"seconds": 1737000000, "nanoseconds": 0}}, SCHEDULE_AT),
        ("red", WitEnum(("red", "green"))),
        (["write", "read"], WitFlags(("read", "write", "exec"))),
        ([], WitFlags(("read",))),
        (None, WitOption(U8)),
        (7, WitOption(U8)),
        ({"ok": None}, WitResult(None, None)),
        ({"err": None}, WitResult(None, None)),
        ({"ok": "x"}, WitResult(STRING, U32)),
        ({"err": 3}, WitResult(STRING, U32)),
    ],
)
def test_accepts_valid_values(value: object, t: WitType) -> None:
    assert check_value(value, t) == value


def test_normalizes_integral_floats_and_null_payload_cases() -> None:
    assert check_value(3.0, U8) == 3
    assert isinstance(check_value(3.0, U8), int)
    assert check_value({"now": None}, SCHEDULE_AT) == "now"


@pytest.mark.parametrize(
    ("value", "t", "fragment"),
    [
        (True, U8, "expected u8, got true (a bool is not an integer)"),
        (1.5, U32, "expected u32, got 1.5 (not an integer)"),
        (256, U8, "expected u8, got 256 (out of range 0..255)"),
        (-1, U64, "out of range 0..18446744073709551615"),
        (-129, S8, "out of range -128..127"),
        ("1", U8, 'expected u8, got "1"'),
        (1, BOOL, "expected bool, got 1"),
        (False, F64, "expected f64, got false"),
        (1e39, F32, "out of range for f32"),
        ("ab", CHAR, "exactly one Unicode code point"),
        ("\ud800", STRING, "lone surrogate"),
        (None, STRING, "expected string, got null"),
        ({"seconds": 1}, DATETIME, "missing field(s) nanoseconds"),
        ({"seconds": 1, "nanoseconds": 0, "zone": 1}, DATETIME, "unknown field(s) zone"),
        ([1, 2], DATETIME, "a record is written as a JSON object"),
        ("later", SCHEDULE_AT, "unknown case, expected one of: now, at, in"),
        ("in", SCHEDULE_AT, 'case in needs a payload: {"in": ...}'),
        ({"now": 1}, SCHEDULE_AT, "case now has no payload"),
        ({"in": 1, "at": 2}, SCHEDULE_AT, 'a variant is written as "case" or {"case": payload}'),
        ("purple", WitEnum(("red",)), "unknown case, expected one of: red"),
        (["read", "read"], WitFlags(("read",)), "flag read given twice"),
        (["fly"], WitFlags(("read",)), 'unknown flag "fly", known: read'),
        ("read", WitFlags(("read",)), "expected flags { read }"),
        ([1], WitTuple((U8, U8)), "a tuple of 2 elements, 1 given"),
        ({"ok": 1}, WitResult(None, STRING), 'ok has no payload, write {"ok": null}'),
        ({"value": 1}, WitResult(U8, STRING), '{"ok": value} or {"err": value}'),
        ("ok", WitResult(None, None), "expected result, got"),
        (1, WitOwn(), "resource handles cannot be given as JSON"),
        (1, WitBorrow(), "resource handles cannot be given as JSON"),
    ],
)
def test_rejects_with_reason(value: object, t: WitType, fragment: str) -> None:
    with pytest.raises(ValueTypeError) as e:
        check_value(value, t)
    assert fragment in str(e.value)
    assert str(e.value).startswith("value")


def test_nested_error_names_the_path_and_the_inner_type() -> None:
    with pytest.raises(ValueTypeError) as e:
        check_value({"in": {"seconds": -5}}, SCHEDULE_AT, "at")
    assert str(e.value) == "at.in.seconds: expected u64, got -5 (out of range 0..18446744073709551615)"
    assert e.value.path == "at.in.seconds"
    assert e.value.expected == "u64"
    assert e.value.given == "-5"


FN = FunctionMetadata.of("testing:x/y.run", [("n", U8), ("iterations", WitList(ITEM))], WitOption(U64))


def test_check_params_reports_parameter_name_index_and_path() -> None:
    ok = [1, [{"field-x": [1, 2, 3], "label": "a"}]]
    assert check_params(ok, FN) == ok
    bad = [1, [{"field-x": [1, 2, "three"], "label": "a"}]]
    with pytest.raises(ValueTypeError) as e:
        check_params(bad, FN)
    message = str(e.value)
    assert message == ('parameters of testing:x/y.run: params[1] (iterations)[0].field-x[2]: expected u32, got "three"')


def test_check_params_wrong_count_names_counts_and_signature() -> None:
    with pytest.raises(ParamCountError) as e:
        check_params([1, [], 3], FN)
    message = str(e.value)
    assert "expected 2 parameter(s), 3 given" in message
    assert "func(n: u8, iterations: list<record { field-x: list<u32>, label: string }>) -> option<u64>" in message


def test_check_params_requires_an_array() -> None:
    with pytest.raises(ValueTypeError, match="expected a JSON array of 2 value"):
        check_params({"n": 1}, FN)


def test_long_given_values_are_shortened() -> None:
    with pytest.raises(ValueTypeError) as e:
        check_value("x" * 500, U8)
    assert e.value.given is not None
    assert len(e.value.given) <= 80
    assert e.value.given.endswith("...")
