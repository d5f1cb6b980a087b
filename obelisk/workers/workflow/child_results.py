"""What a workflow sees of a child's result (docs/compatibility.md#child-results).

A direct call returns the child's value (a ``result::err`` value too) and fails the parent when the child ended with
an execution error; ``-await-next`` returns ``ok((execution-id, value))`` or ``err((execution-id, error))`` and
lets the workflow decide.
"""

from __future__ import annotations

from typing import Any, assert_never

from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.events import ChildExecutionFinished, JoinSetResponseEvent
from obelisk.concepts.results import (
    Cancelled,
    ExecutionError,
    ExecutionFailure,
    FallibleError,
    FinishedResult,
    NondeterminismDetected,
    Ok,
    Timeout,
)


class ChildExecutionError(ObeliskError):
    """A directly called child finished with an execution error; the parent fails with it."""

    def __init__(self, reason: str, detail: str | None) -> None:
        super().__init__(f"child finished with an execution error: {reason}")
        self.reason = reason
        self.detail = detail

    def as_failure(self) -> ExecutionFailure:
        return ExecutionFailure(str(self), self.detail)


def cancelled_failure_reason(reason: str) -> str:
    """The guest contract's ``execution-error`` has no cancelled case: a cancelled child reaches its parent as a
    ``permanent-failure`` whose message starts with ``cancelled``, so that the contract stays the original's."""
    return f"cancelled: {reason}"


def _child(response: JoinSetResponseEvent) -> ChildExecutionFinished:
    if not isinstance(response.response, ChildExecutionFinished):
        raise ObeliskError(f"expected a child's result in join set {response.join_set_id}, got a delay")
    return response.response


def direct_call_value(response: JoinSetResponseEvent) -> Any:
    """The JSON value a direct call returns; raises ``ChildExecutionError`` for an execution error."""
    return direct_call_result(_child(response).result)


def direct_call_result(result: FinishedResult) -> Any:
    """What a direct call of a child that finished with ``result`` returns (a workflow's or a webhook's)."""
    match result:
        case Ok(value):
            return None if value is None else value.json
        case FallibleError(value):
            return value.json
        case Timeout():
            raise ChildExecutionError("permanent timeout", None)
        case NondeterminismDetected(reason):
            raise ChildExecutionError("nondeterminism detected", reason)
        case ExecutionFailure(reason, detail):
            raise ChildExecutionError(reason, detail)
        case Cancelled(reason):
            raise ChildExecutionError(cancelled_failure_reason(reason), None)
        case _:
            assert_never(result)


def execution_error_json(error: ExecutionError) -> Any:
    """The ``execution-error`` a workflow sees; the results a function returned (``Ok``, ``FallibleError``) are
    not errors of the execution."""
    match error:
        case Timeout():
            return "permanent-timeout"
        case NondeterminismDetected():
            return "nondeterminism"
        case ExecutionFailure(reason, _):
            return {"permanent-failure": reason}
        case Cancelled(reason):
            return {"permanent-failure": cancelled_failure_reason(reason)}
        case _:
            assert_never(error)


def await_next_json(response: JoinSetResponseEvent, *, has_value: bool) -> Any:
    """The JSON of ``result<tuple<execution-id, T>, tuple<execution-id, execution-error>>`` (or
    ``result<execution-id, ...>`` when the function returns nothing)."""
    finished = _child(response)
    execution_id = {"id": str(finished.child_execution_id)}
    result = finished.result
    match result:
        case Ok(value) | FallibleError(value):
            if not has_value:
                return {"ok": execution_id}
            return {"ok": [execution_id, None if value is None else value.json]}
        case Timeout() | NondeterminismDetected() | ExecutionFailure() | Cancelled():
            return {"err": [execution_id, execution_error_json(result)]}
        case _:
            assert_never(result)
