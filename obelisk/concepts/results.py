"""How an execution finished, and the result kinds the API reports.

A return value is kept as its JSON encoding (docs/compatibility.md#values): that is what is stored, sent over
gRPC and shown in the UI, and it is type-checked against the function's WIT result type when it is produced.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, assert_never

JsonValue = Any
"""A value that ``json.dumps`` accepts (None, bool, int, float, str, list, dict)."""


class ResultKind(enum.Enum):
    """The gRPC ``ResultKind`` enum, and the ``result_kind`` column of the state table."""

    OK = "Ok"
    TIMEOUT = "Timeout"
    NONDETERMINISM_DETECTED = "NondeterminismDetected"
    EXECUTION_FAILURE = "ExecutionFailure"
    FALLIBLE_ERROR = "FallibleError"
    CANCELLED = "Cancelled"


@dataclass(frozen=True, slots=True)
class ReturnValue:
    """The JSON of a function's return value; absent (``None`` in ``Ok.value``) when the function returns nothing."""

    json: JsonValue


@dataclass(frozen=True, slots=True)
class Ok:
    """Finished normally. A ``result::ok`` return is ``Ok``; a ``result::err`` return is ``FallibleError``."""

    value: ReturnValue | None

    @property
    def kind(self) -> ResultKind:
        return ResultKind.OK


@dataclass(frozen=True, slots=True)
class FallibleError:
    """The function returned ``result::err``; ``value`` is the whole ``{"err": ...}`` JSON."""

    value: ReturnValue

    @property
    def kind(self) -> ResultKind:
        return ResultKind.FALLIBLE_ERROR


@dataclass(frozen=True, slots=True)
class Timeout:
    @property
    def kind(self) -> ResultKind:
        return ResultKind.TIMEOUT


@dataclass(frozen=True, slots=True)
class NondeterminismDetected:
    reason: str

    @property
    def kind(self) -> ResultKind:
        return ResultKind.NONDETERMINISM_DETECTED


@dataclass(frozen=True, slots=True)
class ExecutionFailure:
    reason: str
    detail: str | None = None

    @property
    def kind(self) -> ResultKind:
        return ResultKind.EXECUTION_FAILURE


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Ended by an operator's cancel, or because the workflow that awaited it was cancelled (``reason`` says
    which). A result kind of its own: a cancel is nobody's failure, and lists and filters must tell it apart."""

    reason: str

    @property
    def kind(self) -> ResultKind:
        return ResultKind.CANCELLED


ExecutionError = Timeout | NondeterminismDetected | ExecutionFailure | Cancelled
"""An execution that ended without its function returning (a workflow sees its child's as ``execution-error``)."""
FinishedResult = Ok | FallibleError | ExecutionError


def classify_return(value: ReturnValue | None) -> Ok | FallibleError:
    """A top-level ``result::err`` is a fallible error; anything else is OK."""
    if value is not None and isinstance(value.json, dict) and set(value.json) == {"err"}:
        return FallibleError(value)
    return Ok(value)


def result_to_json(result: FinishedResult) -> dict[str, Any]:
    match result:
        case Ok(value):
            return {"ok": None if value is None else {"value": value.json}}
        case FallibleError(value):
            return {"fallible_error": {"value": value.json}}
        case Timeout():
            return {"timeout": None}
        case NondeterminismDetected(reason):
            return {"nondeterminism": {"reason": reason}}
        case ExecutionFailure(reason, detail):
            return {"execution_failure": {"reason": reason, "detail": detail}}
        case Cancelled(reason):
            return {"cancelled": {"reason": reason}}
        case _:
            assert_never(result)


def result_from_json(data: dict[str, Any]) -> FinishedResult:
    ((tag, body),) = data.items()
    match tag:
        case "ok":
            return Ok(None if body is None else ReturnValue(body["value"]))
        case "fallible_error":
            return FallibleError(ReturnValue(body["value"]))
        case "timeout":
            return Timeout()
        case "nondeterminism":
            return NondeterminismDetected(body["reason"])
        case "execution_failure":
            return ExecutionFailure(body["reason"], body.get("detail"))
        case "cancelled":
            return Cancelled(body["reason"])
    raise ValueError(f"unknown result tag {tag!r}")
