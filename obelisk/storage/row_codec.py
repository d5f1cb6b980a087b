"""What the stored rows mean: the JSON text of events and responses, and rows decoded into the read models.

Every backend stores the same columns (its migrations create the same tables), so a row selected by any backend's
SQL is decoded here; the column order each decoder takes is the contract its SELECT keeps (see ``read_flow`` and
``write_flow`` for the statements that return them).
"""

from __future__ import annotations

import json
from typing import Any

from obelisk.concepts.events import (
    Created,
    ExecutionEvent,
    JoinSetResponseEvent,
    ParentRef,
    event_from_json,
    response_from_json,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.json_text import compact_json
from obelisk.storage.interface import ExecutionSummary, ExpiredDelay, ExpiredLock
from obelisk.storage.state_machine import pending_state_of


def dumps(value: Any) -> str:
    """The JSON text stored in the ``json`` columns: compact, as the codecs of ``obelisk.concepts.events`` give it."""
    return compact_json(value)


def created_event(text: str) -> Created:
    """The ``Created`` event from the JSON of an execution's version 0."""
    created = event_from_json(json.loads(text))
    assert isinstance(created, Created), created
    return created


def execution_event(found: tuple[Any, ...]) -> ExecutionEvent:
    """From ``version, created_at, json`` of ``execution_log``."""
    version, created_at, text = found
    return ExecutionEvent(version, created_at, event_from_json(json.loads(text)))


def response_event(found: tuple[Any, ...]) -> JoinSetResponseEvent:
    """From ``id, created_at, join_set_id, json`` of ``join_set_response``."""
    cursor, created_at, join_set_id, text = found
    return JoinSetResponseEvent(cursor, created_at, JoinSetId(join_set_id), response_from_json(json.loads(text)))


def parent_ref(parent_execution_id: str | None, parent_join_set_id: str) -> ParentRef | None:
    """From ``parent_execution_id, parent_join_set_id`` of ``execution_state`` (both set, or both NULL)."""
    if parent_execution_id is None:
        return None
    return ParentRef(ExecutionId(parent_execution_id), JoinSetId(parent_join_set_id))


def expired_lock(found: tuple[Any, ...]) -> ExpiredLock:
    """From ``execution_id, next_version, run_id, executor_id, pending_expires_finished, temporary_event_count,
    max_retries, retry_exp_backoff_us, parent_execution_id, parent_join_set_id, ffqn`` of ``execution_state``."""
    (eid, version, run_id, executor_id, expires, temporaries, max_retries, backoff, parent_id, parent_js, ffqn) = found
    return ExpiredLock(
        execution_id=ExecutionId(eid),
        version=version,
        run_id=RunId(run_id),
        executor_id=ExecutorId(executor_id),
        lock_expires_at=expires,
        temporary_event_count=temporaries,
        max_retries=max_retries,
        retry_exp_backoff_us=backoff,
        parent=parent_ref(parent_id, parent_js),
        ffqn=Ffqn.parse(ffqn),
    )


def expired_delay(found: tuple[Any, ...]) -> ExpiredDelay:
    """From ``execution_id, join_set_id, delay_id, expires_at`` of ``delay``."""
    eid, join_set_id, delay_id, expires_at = found
    return ExpiredDelay(ExecutionId(eid), JoinSetId(join_set_id), DelayId(delay_id), expires_at)


SUMMARY_COLUMNS = (
    "execution_id, ffqn, state, pending_expires_finished, join_set_id, join_set_closing, executor_id, run_id,"
    " result_kind, finished_at, created_at, scheduled_at, component_id, parent_execution_id, paused"
)
"""The columns of ``execution_state`` that ``summary`` takes, in its order."""


def summary(found: tuple[Any, ...]) -> ExecutionSummary:
    """From ``SUMMARY_COLUMNS`` of ``execution_state``."""
    (
        eid,
        ffqn,
        state,
        pef,
        js,
        closing,
        executor,
        run,
        kind,
        finished_at,
        created_at,
        scheduled_at,
        cid,
        parent,
        paused,
    ) = found
    return ExecutionSummary(
        execution_id=ExecutionId(eid),
        ffqn=Ffqn.parse(ffqn),
        pending_state=pending_state_of(state, pef, js, closing, executor, run, kind, finished_at, paused),
        created_at=created_at,
        scheduled_at=scheduled_at,
        component_id=cid,
        parent_execution_id=None if parent is None else ExecutionId(parent),
    )
