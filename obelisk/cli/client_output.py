"""How ``obelisk client`` shows API messages: human lines or JSON lines.

Human lines are the original CLI's (docs/compatibility.md#cli); JSON lines are this project's
(docs/architecture.md#cli).

Works on the protobuf messages only (no engine imports), so the client stays fast to start. Its matches are over
the names of oneof fields, which mypy cannot check: tests/cli convert every event, state and result type through
the server's conversion and check that each is shown by its own case. What follows a match stands for an unset
oneof, or one of a newer server that this client does not know: a placeholder rather than a failure.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from obelisk.api.client import ffqn_of
from obelisk.api.generated import obelisk_pb2 as pb


def rfc3339(ts: Any) -> str:
    micros = int(ts.seconds) * 1_000_000 + int(ts.nanos) // 1000
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def micros(ts: Any) -> int:
    return int(ts.seconds) * 1_000_000 + int(ts.nanos) // 1000


def human_duration(us: int) -> str:
    """Like the original's Rust ``Duration`` debug form: ``850µs``, ``12.345ms``, ``1.5s``."""
    if us < 1000:
        return f"{us}µs"
    if us < 1_000_000:
        return f"{us / 1000:.3f}".rstrip("0").rstrip(".") + "ms"
    return f"{us / 1_000_000:.3f}".rstrip("0").rstrip(".") + "s"


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _any_json(message: Any) -> Any:
    return json.loads(message.value) if message.value else None


# ---------------------------------------------------------------------------------------------- status
RESULT_WORDS: dict[int, str] = {
    pb.OK: "OK",
    pb.FALLIBLE_ERROR: "Err",
    pb.TIMEOUT: "Timeout",
    pb.EXECUTION_FAILURE: "Execution failure",
    pb.NONDETERMINISM_DETECTED: "Nondeterminism detected",
    pb.CANCELLED: "Cancelled",
}
"""How a result kind reads wherever it is shown: ``Execution finished: Err: ...`` and ``Finished: Err`` alike."""


def status_word(status: pb.ExecutionStatus) -> str | None:
    """The one-word state of the original CLI; None for ``Finished`` (the result is shown instead). A paused
    execution reads ``Paused (Pending)`` and the like: the state it keeps meanwhile in brackets."""
    match status.WhichOneof("status"):
        case "locked" | "pending_at" | "blocked_by_join_set" as which:
            return _active_word(which, status)
        case "paused":
            inner = _active_word(status.paused.WhichOneof("state"), status.paused)
            return "Paused" if inner is None else f"Paused ({inner})"
        case "finished":
            return None
    return None


def _active_word(which: str | None, holder: Any) -> str | None:
    """The word of an unfinished state, ``holder`` being an ``ExecutionStatus`` or its ``Paused``."""
    match which:
        case "locked":
            return "Locked"
        case "pending_at":
            return "Pending"
        case "blocked_by_join_set":
            return "BlockedByJoinSetClosing" if holder.blocked_by_join_set.closing else "BlockedByJoinSet"
    return None


def status_json(status: pb.ExecutionStatus) -> dict[str, Any]:
    match status.WhichOneof("status"):
        case "locked" | "pending_at" | "blocked_by_join_set" as which:
            return _active_json(which, status)
        case "paused":
            return {"state": "Paused", "paused": _active_json(status.paused.WhichOneof("state"), status.paused)}
        case "finished":
            return {
                "state": "Finished",
                "finished_at": rfc3339(status.finished.finished_at),
                "result_kind": pb.ResultKind.Name(status.finished.result_kind),
            }
    return {"state": None}


def _active_json(which: str | None, holder: Any) -> dict[str, Any]:
    match which:
        case "locked":
            return {
                "state": "Locked",
                "run_id": holder.locked.run_id.id,
                "lock_expires_at": rfc3339(holder.locked.lock_expires_at),
            }
        case "pending_at":
            return {"state": "Pending", "scheduled_at": rfc3339(holder.pending_at.scheduled_at)}
        case "blocked_by_join_set":
            blocked = holder.blocked_by_join_set
            return {
                "state": "BlockedByJoinSet",
                "join_set_id": blocked.join_set_id.id,
                "lock_expires_at": rfc3339(blocked.lock_expires_at),
                "closing": blocked.closing,
            }
    return {"state": None}


def status_text(status: pb.ExecutionStatus) -> str:
    """The state column of a listing: the word ``get`` prints, or ``Finished: `` and the result's word."""
    word = status_word(status)
    if word is not None:
        return word
    kind = status.finished.result_kind
    return "Finished: " + RESULT_WORDS.get(kind, f"result kind {kind}")


def finished_ok(detail: pb.ResultDetail) -> bool:
    return bool(detail.WhichOneof("value") == "ok")


# ---------------------------------------------------------------------------------------------- results
def result_json(detail: pb.ResultDetail) -> dict[str, Any]:
    """``{"ok": v}`` | ``{"err": v}`` | ``{"execution_failure": {...}}`` | ``{"timeout": null}`` | ..."""
    match detail.WhichOneof("value"):
        case "ok":
            return {"ok": _any_json(detail.ok.return_value) if detail.ok.HasField("return_value") else None}
        case "fallible_error":
            value = _any_json(detail.fallible_error.return_value)
            return {"err": value["err"] if isinstance(value, dict) and set(value) == {"err"} else value}
        case "timeout":
            return {"timeout": None}
        case "nondeterminism_detected":
            return {"nondeterminism": {"reason": detail.nondeterminism_detected.reason}}
        case "execution_failure":
            failure = detail.execution_failure
            return {
                "execution_failure": {
                    "reason": failure.reason,
                    "detail": failure.detail if failure.HasField("detail") else None,
                }
            }
        case "cancelled":
            return {"cancelled": {"reason": detail.cancelled.reason}}
    return {"unknown": None}


def result_text(detail: pb.ResultDetail) -> str:
    match detail.WhichOneof("value"):
        case "ok":
            if not detail.ok.HasField("return_value"):
                return f"{RESULT_WORDS[pb.OK]}: (no return value)"
            return f"{RESULT_WORDS[pb.OK]}: {dumps(_any_json(detail.ok.return_value))}"
        case "fallible_error":
            return f"{RESULT_WORDS[pb.FALLIBLE_ERROR]}: {dumps(result_json(detail)['err'])}"
        case "timeout":
            return RESULT_WORDS[pb.TIMEOUT]
        case "nondeterminism_detected":
            return f"{RESULT_WORDS[pb.NONDETERMINISM_DETECTED]}: {detail.nondeterminism_detected.reason}"
        case "execution_failure":
            failure = detail.execution_failure
            text = f"{RESULT_WORDS[pb.EXECUTION_FAILURE]}: {failure.reason}"
            if failure.HasField("detail"):
                text += f"\ndetail: {failure.detail}"
            return text
        case "cancelled":
            return f"{RESULT_WORDS[pb.CANCELLED]}: {detail.cancelled.reason}"
    return "unknown result"


def finished_text(finished: pb.FinishedStatus) -> str:
    took = human_duration(micros(finished.finished_at) - micros(finished.created_at))
    return f"Execution finished: {result_text(finished.result_detail)}\n\nExecution took {took}."


# ---------------------------------------------------------------------------------------------- listings
def summary_json(summary: pb.ExecutionSummary) -> dict[str, Any]:
    return {
        "execution_id": summary.execution_id.id,
        "ffqn": ffqn_of(summary.function_name),
        "created_at": rfc3339(summary.created_at),
        "scheduled_at": rfc3339(summary.scheduled_at),
        "status": status_json(summary.current_status),
    }


def summary_line(summary: pb.ExecutionSummary) -> str:
    return "\t".join(
        (
            summary.execution_id.id,
            ffqn_of(summary.function_name),
            status_text(summary.current_status),
            rfc3339(summary.created_at),
        )
    )


def answers(events: list[pb.ExecutionEvent], responses: list[pb.ResponseWithCursor]) -> dict[int, int]:
    """Which response (its index in ``responses``) answered each ``JoinNext`` (by version): the n-th
    ``JoinNext`` of a join set consumes the n-th response of that join set in arrival order, as the web UI's
    timeline pairs them."""
    by_join_set: dict[str, list[int]] = {}
    for index, response in enumerate(responses):
        by_join_set.setdefault(response.event.join_set_id.id, []).append(index)
    consumed: dict[str, int] = {}
    paired: dict[int, int] = {}
    for event in events:
        if event.WhichOneof("event") != "history_variant" or event.history_variant.WhichOneof("event") != "join_next":
            continue
        join_set_id = event.history_variant.join_next.join_set_id.id
        nth = consumed.get(join_set_id, 0)
        consumed[join_set_id] = nth + 1
        available = by_join_set.get(join_set_id, [])
        if nth < len(available):
            paired[event.version] = available[nth]
    return paired


def response_json(response: pb.JoinSetResponseEvent, start: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "join_set_id": response.join_set_id.id,
        "created_at": rfc3339(response.created_at),
        "after": human_duration(micros(response.created_at) - micros(start)),
    }
    match response.WhichOneof("response"):
        case "child_execution_finished":
            child = response.child_execution_finished
            return body | {
                "child_execution_id": child.child_execution_id.id,
                "result": result_json(child.result_detail),
            }
        case "delay_finished":
            finished = response.delay_finished
            return body | {
                "delay_id": finished.delay_id.id,
                "expired": finished.success,
                "cancelled": not finished.success,
            }
    return body


def response_text(response: pb.JoinSetResponseEvent, start: Any) -> str:
    after = human_duration(micros(response.created_at) - micros(start))
    match response.WhichOneof("response"):
        case "child_execution_finished":
            child = response.child_execution_finished
            result = result_text(child.result_detail).replace("\n", " ")
            return f"child {child.child_execution_id.id} {result} (at +{after})"
        case "delay_finished":
            ended = "expired" if response.delay_finished.success else "cancelled"
            return f"delay {response.delay_finished.delay_id.id} {ended} (at +{after})"
    return f"response (at +{after})"


def event_json(event: pb.ExecutionEvent) -> dict[str, Any]:
    kind = event.WhichOneof("event")
    head: dict[str, Any] = {"version": event.version, "created_at": rfc3339(event.created_at)}
    match kind:
        case "created":
            created = event.created
            return head | {
                "type": "Created",
                "ffqn": ffqn_of(created.function_name),
                "params": _any_json(created.params),
                "scheduled_at": rfc3339(created.scheduled_at),
                "component_id": created.component_id.id,
                "scheduled_by": created.scheduled_by.id if created.HasField("scheduled_by") else None,
            }
        case "locked":
            return head | {
                "type": "Locked",
                "component_id": event.locked.component_id.id,
                "run_id": event.locked.run_id,
                "lock_expires_at": rfc3339(event.locked.lock_expires_at),
            }
        case "unlocked":
            return head | {
                "type": "Unlocked",
                "reason": event.unlocked.reason,
                "backoff_expires_at": rfc3339(event.unlocked.backoff_expires_at),
            }
        case "failed":
            return head | {
                "type": "TemporarilyFailed",
                "reason": event.failed.reason,
                "detail": event.failed.detail if event.failed.HasField("detail") else None,
                "backoff_expires_at": rfc3339(event.failed.backoff_expires_at),
            }
        case "timed_out":
            return head | {
                "type": "TemporarilyTimedOut",
                "backoff_expires_at": rfc3339(event.timed_out.backoff_expires_at),
            }
        case "finished":
            return head | {"type": "Finished", "result": result_json(event.finished.result_detail)}
        case "paused":
            return head | {"type": "Paused", "by": event.paused.by}
        case "unpaused":
            return head | {"type": "Unpaused", "by": event.unpaused.by}
        case "history_variant":
            return head | _history_json(event.history_variant)
    return head | {"type": kind}


def _history_json(history: pb.ExecutionEvent.HistoryEvent) -> dict[str, Any]:
    match history.WhichOneof("event"):
        case "join_set_created":
            return {"type": "JoinSetCreated", "join_set_id": history.join_set_created.join_set_id.id}
        case "join_set_request":
            request = history.join_set_request
            body: dict[str, Any] = {"type": "JoinSetRequest", "join_set_id": request.join_set_id.id}
            match request.WhichOneof("join_set_request"):
                case "delay_request":
                    body["delay_id"] = request.delay_request.delay_id.id
                    body["expires_at"] = rfc3339(request.delay_request.expires_at)
                case "child_execution_request":
                    body["child_execution_id"] = request.child_execution_request.child_execution_id.id
            return body
        case "join_next":
            return {
                "type": "JoinNext",
                "join_set_id": history.join_next.join_set_id.id,
                "closing": history.join_next.closing,
            }
        case "schedule":
            return {"type": "Schedule", "execution_id": history.schedule.execution_id.id}
        case "persist":
            return {"type": "Persist", "data": _any_json(history.persist.data)}
    return {"type": "HistoryEvent"}


def event_line(event: pb.ExecutionEvent, response: pb.JoinSetResponseEvent | None = None, start: Any = None) -> str:
    """One tab-separated line; a ``JoinNext`` answered by ``response`` ends with ``-> child E_... OK: 55 (at +T)``
    (``start``: the execution's creation time)."""
    body = event_json(event)
    version, created_at, kind = body.pop("version"), body.pop("created_at"), body.pop("type")
    if kind == "Finished":
        detail = result_text(event.finished.result_detail).replace("\n", " ")
    else:
        detail = " ".join(f"{k}={dumps(v) if not isinstance(v, str) else v}" for k, v in body.items() if v is not None)
    if response is not None:
        detail += f" -> {response_text(response, start if start is not None else event.created_at)}"
    return f"{version}\t{created_at}\t{kind}" + (f"\t{detail}" if detail else "")


def response_line(response: pb.JoinSetResponseEvent, start: Any) -> str:
    """An arrived response that no ``JoinNext`` consumed yet: ``-`` in the version column."""
    return f"-\t{rfc3339(response.created_at)}\tResponse\tjoin_set_id={response.join_set_id.id} -> " + response_text(
        response, start
    )


# ---------------------------------------------------------------------------------------------- components
def signature(function: pb.FunctionDetail) -> str:
    params = ", ".join(f"{p.name}: {p.type.wit_type}" for p in function.params)
    result = f" -> {function.return_type.wit_type}" if function.HasField("return_type") else ""
    return f"func({params}){result}"


def function_json(function: pb.FunctionDetail) -> dict[str, Any]:
    return {
        "ffqn": ffqn_of(function.function_name),
        "signature": signature(function),
        "submittable": function.submittable,
        "extension": pb.FunctionExtension.Name(function.extension).lower().replace("_", "-")
        if function.HasField("extension")
        else None,
    }


def component_json(component: pb.Component, *, imports: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": component.name,
        "component_id": component.component_id.id,
        "type": pb.ComponentType.Name(component.type).lower(),
        "digest": component.digest,
        "exports": [function_json(f) for f in component.exports],
    }
    if imports:
        document["imports"] = [function_json(f) for f in component.imports]
    return document


def component_lines(component: pb.Component, *, imports: bool) -> list[str]:
    """``name\tid``, then ``Exports:`` and (with ``imports``) ``Imports:``, each left out when it has none."""
    lines = [f"{component.name}\t{component.component_id.id}"]
    sections = [("Exports:", component.exports)] + ([("Imports:", component.imports)] if imports else [])
    for header, functions in sections:
        if functions:
            lines.append(header)
            lines += [f"\t{ffqn_of(f.function_name)} : {signature(f)}" for f in functions]
    return lines


# ---------------------------------------------------------------------------------------------- guest logs
def log_kind(entry: pb.ListLogsResponse.LogEntry) -> str:
    """``stdout``/``stderr`` for an output line, the level (``trace`` .. ``error``) for an ``obelisk:log`` call."""
    if entry.WhichOneof("entry") == "stream":
        return "stderr" if entry.stream.stream_type == pb.LOG_STREAM_TYPE_STDERR else "stdout"
    name: str = pb.LogLevel.Name(entry.log.level)
    return name.removeprefix("LOG_LEVEL_").lower()


def log_text(entry: pb.ListLogsResponse.LogEntry) -> str:
    if entry.WhichOneof("entry") == "stream":
        return entry.stream.payload.decode("utf-8", errors="replace")
    return entry.log.message


def log_line(entry: pb.ListLogsResponse.LogEntry) -> str:
    """``<time> <run or -> <kind> <text>``, the kind padded so that the texts line up."""
    run = entry.run_id.id if entry.HasField("run_id") else "-"
    return f"{rfc3339(entry.created_at)} {run} {log_kind(entry):<6} {log_text(entry)}"


def log_json(entry: pb.ListLogsResponse.LogEntry) -> dict[str, Any]:
    return {
        "created_at": rfc3339(entry.created_at),
        "execution_id": entry.execution_id.id,
        "run_id": entry.run_id.id if entry.HasField("run_id") else None,
        "kind": log_kind(entry),
        "message": log_text(entry),
    }
