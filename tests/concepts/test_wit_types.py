import json

import pytest

from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.wit_types import (
    BOOL,
    CHAR,
    F64,
    S32,
    STRING,
    U8,
    U32,
    U64,
    Case,
    Field,
    FunctionExtension,
    FunctionMetadata,
    ResourceRef,
    TypeWrapperError,
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
    from_type_wrapper_json,
)

POINT = WitRecord((Field("x", S32), Field("y", S32)), name="point")
SHAPE = WitVariant((Case("circle", F64), Case("rect", POINT), Case("empty", None)), name="shape")
JOIN_SET = ResourceRef("obelisk:types/execution", "join-set-id")


@pytest.mark.parametrize(
    ("t", "wit"),
    [
        (WitList(U8), "list<u8>"),
        (WitResult(STRING, STRING), "result<string, string>"),
        (WitResult(None, None), "result"),
        (WitResult(U64, None), "result<u64>"),
        (WitResult(None, STRING), "result<_, string>"),
        (WitRecord((Field("a", U8), Field("b", STRING))), "record { a: u8, b: string }"),
        (POINT, "point"),
        (WitList(SHAPE), "list<shape>"),
        (WitVariant((Case("a", U8), Case("b", None))), "variant { a(u8), b }"),
        (WitEnum(("red", "green")), "enum { red, green }"),
        (WitFlags(("read", "write")), "flags { read, write }"),
        (WitOption(WitTuple((U32, CHAR))), "option<tuple<u32, char>>"),
        (WitOwn(JOIN_SET), "join-set-id"),
        (WitBorrow(JOIN_SET), "borrow<join-set-id>"),
        (WitOwn(), "own<resource>"),
    ],
)
def test_to_wit(t: WitType, wit: str) -> None:
    assert t.to_wit() == wit


def test_definition_of_named_types() -> None:
    assert POINT.definition() == "record point { x: s32, y: s32 }"
    assert SHAPE.definition() == "variant shape { circle(f64), rect(point), empty }"


def test_type_wrapper_json_matches_the_original_encoding() -> None:
    t = WitRecord(
        (
            Field("shape", SHAPE),
            Field("r", WitResult(U64, None)),
            Field("e", WitEnum(("a", "b"))),
            Field("f", WitFlags(("x",))),
            Field("l", WitList(WitOption(BOOL))),
            Field("t", WitTuple((U8, STRING))),
            Field("h", WitBorrow(JOIN_SET)),
        )
    )
    assert t.to_type_wrapper_json() == {
        "record": {
            "shape": {"variant": {"circle": "f64", "rect": {"record": {"x": "s32", "y": "s32"}}, "empty": None}},
            "r": {"result": {"ok": "u64", "err": None}},
            "e": {"enum": ["a", "b"]},
            "f": {"flags": ["x"]},
            "l": {"list": {"option": "bool"}},
            "t": {"tuple": ["u8", "string"]},
            "h": "borrow",
        }
    }
    # Round trip through JSON text: equal structurally (names are not part of a TypeWrapper).
    parsed = from_type_wrapper_json(json.loads(json.dumps(t.to_type_wrapper_json())))
    assert parsed == t
    assert parsed.to_type_wrapper_json() == t.to_type_wrapper_json()
    assert WitType.from_type_wrapper_json("own") == WitOwn()


def test_type_wrapper_result_keys_may_be_omitted() -> None:
    assert from_type_wrapper_json({"result": {}}) == WitResult(None, None)
    assert from_type_wrapper_json({"result": {"err": "string"}}) == WitResult(None, STRING)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ("u128", "$"),
        ({"list": "nope"}, "$.list"),
        ({"record": {"a": {"tuple": "x"}}}, "$.record.a.tuple"),
        ({"set": "u8"}, "$"),
        ({"list": "u8", "option": "u8"}, "$"),
        ({"result": {"ok": "u8", "value": "u8"}}, "$.result"),
    ],
)
def test_bad_type_wrapper_names_the_spot(data: object, where: str) -> None:
    with pytest.raises(TypeWrapperError) as e:
        from_type_wrapper_json(data)
    assert f" {where} " in str(e.value)


def test_equality_is_structural_and_ignores_names() -> None:
    anonymous = WitRecord((Field("x", S32), Field("y", S32)))
    assert anonymous == POINT
    assert hash(anonymous) == hash(POINT)
    assert WitOwn(JOIN_SET) == WitOwn()
    assert WitRecord((Field("y", S32), Field("x", S32))) != POINT  # field order and names are structure
    assert WitRecord((Field("x", S32), Field("y", U32))) != POINT
    assert WitOwn() != WitBorrow()  # type: ignore[comparison-overlap]
    assert WitResult(U8, None) != WitResult(None, U8)


def test_function_signature_and_matching() -> None:
    fiboa = FunctionMetadata.of(
        "testing:fibo-workflow/workflow.fiboa", [("n", U8), ("iterations", U32)], U64, submittable=True
    )
    assert fiboa.to_wit_signature() == "func(n: u8, iterations: u32) -> u64"
    assert str(fiboa) == "testing:fibo-workflow/workflow.fiboa: func(n: u8, iterations: u32) -> u64"
    assert fiboa.ffqn == Ffqn.parse("testing:fibo-workflow/workflow.fiboa")
    assert fiboa.params[1].name == "iterations"
    assert fiboa.param_types == (U8, U32)

    renamed = FunctionMetadata.of(fiboa.ffqn, [("a", U8), ("b", U32)], U64)
    assert fiboa.signature_matches(renamed)
    assert not fiboa.signature_matches(FunctionMetadata.of(fiboa.ffqn, [("n", U8)], U64))
    assert not fiboa.signature_matches(FunctionMetadata.of(fiboa.ffqn, [("n", U8), ("i", U64)], U64))
    assert not fiboa.signature_matches(FunctionMetadata.of(fiboa.ffqn, [("n", U8), ("i", U32)], None))

    nothing = FunctionMetadata.of("docs:adder/add@0.1.0.noop", [], None)
    assert nothing.to_wit_signature() == "func()"
    assert nothing.ffqn.ifc_fqn == "docs:adder/add@0.1.0"


def test_function_extension_from_name() -> None:
    assert FunctionExtension.of_function_name("fibo-submit") is FunctionExtension.SUBMIT
    assert FunctionExtension.of_function_name("fibo-await-next") is FunctionExtension.AWAIT_NEXT
    assert FunctionExtension.of_function_name("fibo-schedule") is FunctionExtension.SCHEDULE
    assert FunctionExtension.of_function_name("fibo") is None
    assert FunctionExtension.of_function_name("-submit") is None
