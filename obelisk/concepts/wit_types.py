"""An immutable model of WIT value types and of exported/imported function signatures.

wasmtime's own type objects are FFI handles bound to an Engine; this model is plain data, so it can be stored,
compared, hashed and sent over the API without a live engine. Equality is *structural*: names of named types,
resource names and parameter names are carried for rendering only and never take part in ``==``/``hash``
(an import matches an export when the types agree, whatever they are called on each side; wasmtime compares
types the same way).

The JSON form of a type is the original Obelisk's ``TypeWrapper`` (snake_case tags, docs/compatibility.md#values),
so API clients of the original can read ``FunctionDetail.return_type.type_wrapper`` unchanged.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from obelisk.concepts.errors import ParseError
from obelisk.concepts.ffqn import Ffqn


class TypeWrapperError(ParseError):
    """A ``TypeWrapper`` JSON document does not describe a WIT type."""


class WitType(ABC):
    """Base of every WIT type; concrete classes are frozen dataclasses."""

    __slots__ = ()

    @abstractmethod
    def to_wit(self) -> str:
        """WIT text as it appears in a signature: a named type prints its name, an anonymous one its shape."""

    @abstractmethod
    def to_type_wrapper_json(self) -> Any:
        """The original's ``TypeWrapper`` as JSON-ready Python data (str or dict)."""

    @staticmethod
    def from_type_wrapper_json(data: object) -> WitType:
        return from_type_wrapper_json(data)

    def __str__(self) -> str:
        return self.to_wit()


class PrimitiveKind(enum.Enum):
    BOOL = "bool"
    U8 = "u8"
    U16 = "u16"
    U32 = "u32"
    U64 = "u64"
    S8 = "s8"
    S16 = "s16"
    S32 = "s32"
    S64 = "s64"
    F32 = "f32"
    F64 = "f64"
    CHAR = "char"
    STRING = "string"


INTEGER_RANGES: dict[PrimitiveKind, tuple[int, int]] = {
    PrimitiveKind.U8: (0, 2**8 - 1),
    PrimitiveKind.U16: (0, 2**16 - 1),
    PrimitiveKind.U32: (0, 2**32 - 1),
    PrimitiveKind.U64: (0, 2**64 - 1),
    PrimitiveKind.S8: (-(2**7), 2**7 - 1),
    PrimitiveKind.S16: (-(2**15), 2**15 - 1),
    PrimitiveKind.S32: (-(2**31), 2**31 - 1),
    PrimitiveKind.S64: (-(2**63), 2**63 - 1),
}


@dataclass(frozen=True, slots=True)
class WitPrimitive(WitType):
    kind: PrimitiveKind

    @property
    def is_integer(self) -> bool:
        return self.kind in INTEGER_RANGES

    @property
    def is_float(self) -> bool:
        return self.kind in (PrimitiveKind.F32, PrimitiveKind.F64)

    def to_wit(self) -> str:
        return self.kind.value

    def to_type_wrapper_json(self) -> Any:
        return self.kind.value


BOOL = WitPrimitive(PrimitiveKind.BOOL)
U8 = WitPrimitive(PrimitiveKind.U8)
U16 = WitPrimitive(PrimitiveKind.U16)
U32 = WitPrimitive(PrimitiveKind.U32)
U64 = WitPrimitive(PrimitiveKind.U64)
S8 = WitPrimitive(PrimitiveKind.S8)
S16 = WitPrimitive(PrimitiveKind.S16)
S32 = WitPrimitive(PrimitiveKind.S32)
S64 = WitPrimitive(PrimitiveKind.S64)
F32 = WitPrimitive(PrimitiveKind.F32)
F64 = WitPrimitive(PrimitiveKind.F64)
CHAR = WitPrimitive(PrimitiveKind.CHAR)
STRING = WitPrimitive(PrimitiveKind.STRING)


@dataclass(frozen=True, slots=True)
class WitList(WitType):
    element: WitType

    def to_wit(self) -> str:
        return f"list<{self.element.to_wit()}>"

    def to_type_wrapper_json(self) -> Any:
        return {"list": self.element.to_type_wrapper_json()}


@dataclass(frozen=True, slots=True)
class WitTuple(WitType):
    elements: tuple[WitType, ...]

    def to_wit(self) -> str:
        return "tuple<" + ", ".join(e.to_wit() for e in self.elements) + ">"

    def to_type_wrapper_json(self) -> Any:
        return {"tuple": [e.to_type_wrapper_json() for e in self.elements]}


class Field(NamedTuple):
    name: str
    type: WitType


class Case(NamedTuple):
    name: str
    payload: WitType | None


@dataclass(frozen=True, slots=True)
class WitRecord(WitType):
    fields: tuple[Field, ...]
    name: str | None = field(default=None, compare=False)

    def to_wit(self) -> str:
        return self.name or "record " + self._body()

    def definition(self) -> str:
        """``record point { x: s32, y: s32 }``: how the type is declared inside an interface."""
        return f"record {self.name or '_'} {self._body()}"

    def _body(self) -> str:
        return "{ " + ", ".join(f"{f.name}: {f.type.to_wit()}" for f in self.fields) + " }"

    def to_type_wrapper_json(self) -> Any:
        return {"record": {f.name: f.type.to_type_wrapper_json() for f in self.fields}}


@dataclass(frozen=True, slots=True)
class WitVariant(WitType):
    cases: tuple[Case, ...]
    name: str | None = field(default=None, compare=False)

    def case(self, name: str) -> Case | None:
        return next((c for c in self.cases if c.name == name), None)

    def to_wit(self) -> str:
        return self.name or "variant " + self._body()

    def definition(self) -> str:
        return f"variant {self.name or '_'} {self._body()}"

    def _body(self) -> str:
        parts = (c.name if c.payload is None else f"{c.name}({c.payload.to_wit()})" for c in self.cases)
        return "{ " + ", ".join(parts) + " }"

    def to_type_wrapper_json(self) -> Any:
        return {
            "variant": {c.name: None if c.payload is None else c.payload.to_type_wrapper_json() for c in self.cases}
        }


@dataclass(frozen=True, slots=True)
class WitEnum(WitType):
    cases: tuple[str, ...]
    name: str | None = field(default=None, compare=False)

    def to_wit(self) -> str:
        return self.name or "enum " + self._body()

    def definition(self) -> str:
        return f"enum {self.name or '_'} {self._body()}"

    def _body(self) -> str:
        return "{ " + ", ".join(self.cases) + " }"

    def to_type_wrapper_json(self) -> Any:
        return {"enum": list(self.cases)}


@dataclass(frozen=True, slots=True)
class WitFlags(WitType):
    names: tuple[str, ...]
    name: str | None = field(default=None, compare=False)

    def to_wit(self) -> str:
        return self.name or "flags " + self._body()

    def definition(self) -> str:
        return f"flags {self.name or '_'} {self._body()}"

    def _body(self) -> str:
        return "{ " + ", ".join(self.names) + " }"

    def to_type_wrapper_json(self) -> Any:
        return {"flags": list(self.names)}


@dataclass(frozen=True, slots=True)
class WitOption(WitType):
    payload: WitType

    def to_wit(self) -> str:
        return f"option<{self.payload.to_wit()}>"

    def to_type_wrapper_json(self) -> Any:
        return {"option": self.payload.to_type_wrapper_json()}


@dataclass(frozen=True, slots=True)
class WitResult(WitType):
    ok: WitType | None
    err: WitType | None

    def to_wit(self) -> str:
        if self.ok is None and self.err is None:
            return "result"
        if self.err is None:
            assert self.ok is not None
            return f"result<{self.ok.to_wit()}>"
        ok = "_" if self.ok is None else self.ok.to_wit()
        return f"result<{ok}, {self.err.to_wit()}>"

    def to_type_wrapper_json(self) -> Any:
        return {
            "result": {
                "ok": None if self.ok is None else self.ok.to_type_wrapper_json(),
                "err": None if self.err is None else self.err.to_type_wrapper_json(),
            }
        }


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """Where a resource type is defined: ``obelisk:types/execution`` + ``join-set-id``."""

    interface: str
    name: str

    def __str__(self) -> str:
        return f"{self.interface}.{self.name}"


@dataclass(frozen=True, slots=True)
class WitOwn(WitType):
    resource: ResourceRef | None = field(default=None, compare=False)

    def to_wit(self) -> str:
        return self.resource.name if self.resource else "own<resource>"

    def to_type_wrapper_json(self) -> Any:
        return "own"


@dataclass(frozen=True, slots=True)
class WitBorrow(WitType):
    resource: ResourceRef | None = field(default=None, compare=False)

    def to_wit(self) -> str:
        return f"borrow<{self.resource.name if self.resource else 'resource'}>"

    def to_type_wrapper_json(self) -> Any:
        return "borrow"


NamedWitType = WitRecord | WitVariant | WitEnum | WitFlags


def with_name(t: WitType, name: str | None) -> WitType:
    """Attach a display name to a record/variant/enum/flags; other kinds have no name slot and pass through."""
    if isinstance(t, WitRecord | WitVariant | WitEnum | WitFlags):
        return replace(t, name=name)
    return t


# --- TypeWrapper JSON -> WitType ------------------------------------------------------------------------------

_PRIMITIVES_BY_NAME = {k.value: WitPrimitive(k) for k in PrimitiveKind}


def from_type_wrapper_json(data: object) -> WitType:
    """Parse the original's ``TypeWrapper`` JSON (already decoded with ``json.loads``)."""
    return _from_tw(data, "$")


def _from_tw(data: object, where: str) -> WitType:
    if isinstance(data, str):
        if data in _PRIMITIVES_BY_NAME:
            return _PRIMITIVES_BY_NAME[data]
        if data == "own":
            return WitOwn()
        if data == "borrow":
            return WitBorrow()
        raise TypeWrapperError(f"unknown type {data!r} at {where} of a TypeWrapper")
    if not isinstance(data, dict) or len(data) != 1:
        raise TypeWrapperError(f"expected a type name or a one-key object at {where} of a TypeWrapper, got {data!r}")
    ((tag, body),) = data.items()
    at = f"{where}.{tag}"
    if tag == "list":
        return WitList(_from_tw(body, at))
    if tag == "option":
        return WitOption(_from_tw(body, at))
    if tag == "tuple":
        return WitTuple(tuple(_from_tw(e, f"{at}[{i}]") for i, e in enumerate(_expect_list(body, at))))
    if tag == "record":
        return WitRecord(tuple(Field(k, _from_tw(v, f"{at}.{k}")) for k, v in _expect_dict(body, at).items()))
    if tag == "variant":
        return WitVariant(
            tuple(Case(k, None if v is None else _from_tw(v, f"{at}.{k}")) for k, v in _expect_dict(body, at).items())
        )
    if tag == "enum":
        return WitEnum(_expect_names(body, at))
    if tag == "flags":
        return WitFlags(_expect_names(body, at))
    if tag == "result":
        parts = _expect_dict(body, at)
        unknown = set(parts) - {"ok", "err"}
        if unknown:
            raise TypeWrapperError(f"unknown keys {sorted(unknown)} at {at} of a TypeWrapper")
        ok, err = parts.get("ok"), parts.get("err")
        return WitResult(
            None if ok is None else _from_tw(ok, f"{at}.ok"),
            None if err is None else _from_tw(err, f"{at}.err"),
        )
    raise TypeWrapperError(f"unknown type tag {tag!r} at {where} of a TypeWrapper")


def _expect_list(body: object, at: str) -> list[object]:
    if not isinstance(body, list):
        raise TypeWrapperError(f"expected an array at {at} of a TypeWrapper, got {body!r}")
    return body


def _expect_dict(body: object, at: str) -> dict[str, object]:
    if not isinstance(body, dict):
        raise TypeWrapperError(f"expected an object at {at} of a TypeWrapper, got {body!r}")
    return body


def _expect_names(body: object, at: str) -> tuple[str, ...]:
    names = _expect_list(body, at)
    if not all(isinstance(n, str) for n in names):
        raise TypeWrapperError(f"expected an array of names at {at} of a TypeWrapper, got {body!r}")
    return tuple(str(n) for n in names)


# --- functions --------------------------------------------------------------------------------------------------


class FunctionExtension(enum.Enum):
    """Which host-synthesized ``-obelisk-ext`` function this is (docs/compatibility.md#extension-functions)."""

    SUBMIT = "submit"
    AWAIT_NEXT = "await-next"
    SCHEDULE = "schedule"

    @property
    def suffix(self) -> str:
        return f"-{self.value}"

    @classmethod
    def of_function_name(cls, function_name: str) -> FunctionExtension | None:
        """The extension a function name ends with, if any (``fibo-await-next`` -> AWAIT_NEXT)."""
        for ext in cls:
            if function_name.endswith(ext.suffix) and len(function_name) > len(ext.suffix):
                return ext
        return None


class Param(NamedTuple):
    name: str
    type: WitType


@dataclass(frozen=True, slots=True)
class FunctionMetadata:
    """A function a component exports or imports, with its WIT signature."""

    ffqn: Ffqn
    params: tuple[Param, ...]
    result: WitType | None
    extension: FunctionExtension | None = None
    submittable: bool = False

    @classmethod
    def of(
        cls,
        ffqn: Ffqn | str,
        params: Iterable[tuple[str, WitType]],
        result: WitType | None,
        *,
        extension: FunctionExtension | None = None,
        submittable: bool = False,
    ) -> FunctionMetadata:
        parsed = Ffqn.parse(ffqn) if isinstance(ffqn, str) else ffqn
        return cls(parsed, tuple(Param(n, t) for n, t in params), result, extension, submittable)

    @property
    def param_types(self) -> tuple[WitType, ...]:
        return tuple(p.type for p in self.params)

    def signature_matches(self, other: FunctionMetadata) -> bool:
        """Same parameter and result types, ignoring every name (how an import is matched to an export)."""
        return self.param_types == other.param_types and self.result == other.result

    def to_wit_signature(self) -> str:
        params = ", ".join(f"{p.name}: {p.type.to_wit()}" for p in self.params)
        result = "" if self.result is None else f" -> {self.result.to_wit()}"
        return f"func({params}){result}"

    def __str__(self) -> str:
        return f"{self.ffqn}: {self.to_wit_signature()}"
