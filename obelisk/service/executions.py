"""Submitting and observing executions: the one place where requests are validated before anything is written.

The gRPC API, the web UI and the engine's Python API all call this, so a parameter is type-checked the same way
whichever face it came through, and an unknown function is reported with the same candidates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from obelisk import tracing
from obelisk.concepts.clock import Clock
from obelisk.concepts.errors import ObeliskError, ParseError
from obelisk.concepts.events import (
    ExecutionEvent,
    Finished,
    FinishedState,
    JoinSetResponseEvent,
    PendingState,
    resolve_schedule,
)
from obelisk.concepts.ffqn import WEBHOOK_FFQN, Ffqn
from obelisk.concepts.guest_logs import LogPage
from obelisk.concepts.ids import DelayId, ExecutionId
from obelisk.concepts.json_values import check_params
from obelisk.concepts.results import FinishedResult
from obelisk.concepts.trace_context import TraceContext
from obelisk.concepts.wit_time import schedule_at_from_json
from obelisk.concepts.wit_types import FunctionExtension
from obelisk.registry import ComponentRegistry
from obelisk.service.listing import ListFilter, list_filtered
from obelisk.storage.interface import (
    ExecutionAlreadyExists,
    ExecutionLog,
    ExecutionQuery,
    ExecutionSummary,
    Storage,
)
from obelisk.storage.write_health import WriteHealth

FOLLOW_COALESCE_SECONDS = 0.02
CANCEL_REASON = "cancelled by an operator"
"""The reason of an execution cancelled through the API (its children's name it as their cancelled parent)."""


class NotFinished(ObeliskError):
    pass


class SubmitConflict(ObeliskError):
    """The execution id is taken by a different submission (another function or other params)."""


@dataclass(frozen=True, slots=True)
class Submitted:
    execution_id: ExecutionId
    created: bool
    """False when an identical submission with this id already existed (``Submit`` is idempotent)."""


class ExecutionService:
    def __init__(self, storage: Storage, registry: ComponentRegistry, clock: Clock) -> None:
        self._storage = storage
        self._registry = registry
        self._clock = clock

    async def submit(
        self, execution_id: ExecutionId, ffqn: Ffqn | str, params: Any, *, trace: TraceContext | None = None
    ) -> Submitted:
        """Type-check and create a top-level execution, pending now. ``trace``: the caller's trace context (a
        ``traceparent``), stored with the execution; while traces are on, one without gets a new trace.

        Raises ``ParseError`` (a malformed or child id), ``FunctionNotFound`` (with candidates), ``ValueTypeError``
        (naming the parameter and the expected WIT type) or ``SubmitConflict``; in each case nothing was written.
        """
        try:
            ExecutionId.parse_top_level(execution_id)
        except ParseError as error:
            raise ParseError(f"execution_id: {error}") from None
        exported = self._registry.find_export(ffqn)
        checked = check_params(params, exported.metadata)
        now = self._clock.now_us()
        scheduled_at = now
        if exported.extension is FunctionExtension.SCHEDULE:
            # ``fn-schedule(schedule-at, params...)`` creates an execution of ``fn`` at the requested time.
            scheduled_at = resolve_schedule(schedule_at_from_json(checked[0]), now)
            checked = checked[1:]
        tracer = tracing.active()
        if tracer is not None:
            trace = tracer.context_for_submission(trace)
        created = exported.created(checked, scheduled_at, trace=trace)
        try:
            await self._storage.create(execution_id, created, now)
        except ExecutionAlreadyExists:
            existing = (await self._storage.get(execution_id)).created
            if existing.ffqn != created.ffqn or existing.params != created.params:
                raise SubmitConflict(
                    f"execution {execution_id} already exists as {existing.ffqn} with params "
                    f"{existing.params}; it cannot be submitted again as {created.ffqn} with {created.params}"
                ) from None
            return Submitted(execution_id, created=False)
        return Submitted(execution_id, created=True)

    async def cancel(self, execution_id: ExecutionId) -> list[ExecutionId]:
        """Cancel an unfinished execution and its unfinished children (see ``Storage.cancel``); the executions
        cancelled, ``execution_id`` first. Raises ``ExecutionNotFound``, or ``AlreadyFinished`` when it finished:
        then nothing changed."""
        return await self._storage.cancel(execution_id, CANCEL_REASON, self._clock.now_us())

    async def cancel_delay(self, delay_id: DelayId) -> ExecutionId:
        """End a pending delay now (see ``Storage.cancel_delay``); the execution it belongs to. Raises
        ``DelayNotPending`` (nothing changed) if no such delay is pending."""
        return await self._storage.cancel_delay(delay_id, self._clock.now_us())

    @property
    def write_health(self) -> WriteHealth:
        """Whether the database takes writes now: a submission cannot be accepted while it does not."""
        return self._storage.write_health

    async def get(self, execution_id: ExecutionId) -> ExecutionLog:
        return await self._storage.get(execution_id)

    async def pending_state(self, execution_id: ExecutionId) -> PendingState:
        return await self._storage.get_pending_state(execution_id)

    async def summary(self, execution_id: ExecutionId) -> ExecutionSummary:
        """The execution's summary from its state row: one statement, where its whole log (``get``) is a read
        transaction of three and grows with every step. ``ExecutionNotFound`` for an unknown id."""
        return await self._storage.get_summary(execution_id)

    async def children(self, execution_id: ExecutionId) -> list[ExecutionSummary]:
        """The summaries of the execution's direct children in one read (the web UI's waterfall draws them all)."""
        return await self._storage.list_children(execution_id)

    async def last_event(self, execution_id: ExecutionId) -> ExecutionEvent:
        """The newest event of the execution's log (one statement; its ``Finished`` once finished)."""
        return await self._storage.get_last_event(execution_id)

    async def wait_for_result(self, execution_id: ExecutionId, timeout: float | None = None) -> FinishedResult:
        """Wait until the execution finishes and return its result; ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            async for _ in self.follow_status(execution_id):
                pass
            return await self.result(execution_id)

    async def result(self, execution_id: ExecutionId) -> FinishedResult:
        """The result of a finished execution (its last event); ``NotFinished`` otherwise."""
        status = await self._storage.get_status(execution_id)
        last = await self._storage.list_events(execution_id, status.next_version - 1, 1)
        if not last or not isinstance(last[0].event, Finished):
            raise NotFinished(f"execution {execution_id} is not finished: {status.pending_state}")
        return last[0].event.result

    async def list_executions(self, query: ExecutionQuery) -> list[ExecutionSummary]:
        return await self._storage.list_executions(query)

    async def list_filtered(self, list_filter: ListFilter, page: ExecutionQuery) -> list[ExecutionSummary]:
        """A page of the executions of a function scope in any of a set of states (``service/listing.py``)."""
        known = [f.metadata.ffqn for f in self._registry.exported_functions()] + [WEBHOOK_FFQN]
        return await list_filtered(self._storage.list_executions, known, list_filter, page, self._clock.now_us())

    async def list_events(
        self, execution_id: ExecutionId, version_from: int = 0, length: int = 100
    ) -> list[ExecutionEvent]:
        await self._storage.get_pending_state(execution_id)  # ExecutionNotFound for an unknown id
        return await self._storage.list_events(execution_id, version_from, length)

    async def list_logs(self, execution_id: ExecutionId, after: int = -1, length: int = 100) -> LogPage:
        """What the guest logged and printed (``obelisk.guest_log_sink``), oldest first, after the cursor."""
        return await self._storage.list_logs(execution_id, after, length)

    async def list_responses(
        self, execution_id: ExecutionId, cursor_from: int = 0, length: int = 100, including_cursor: bool = False
    ) -> list[JoinSetResponseEvent]:
        await self._storage.get_pending_state(execution_id)
        return await self._storage.list_responses(execution_id, cursor_from, length, including_cursor)

    async def follow_status(
        self,
        execution_id: ExecutionId,
        poll_seconds: float = 5.0,
        coalesce_seconds: float = FOLLOW_COALESCE_SECONDS,
        *,
        first_read: Callable[[], Awaitable[PendingState]] | None = None,
    ) -> AsyncIterator[PendingState]:
        """Yield the pending state now and after every change, until it is finished.

        Changes are pushed with their new status by the storage as they are committed (``watch_status``), so a
        follower reads the database once, not once per change; ``poll_seconds`` only bounds how long a change made
        by another process (sharing the database) can go unseen. Changes closer together than
        ``coalesce_seconds`` (a serial workflow makes hundreds a second) are reported as the latest of them.
        ``first_read``: the read that gives the state now, made once the watch is open (a caller that reads more
        than the status, e.g. the summary, makes it its one read); the status by default.
        """
        previous: PendingState | None = None
        with self._storage.watch_status(execution_id) as watch:  # opened before the read: no change is missed
            state = await (first_read() if first_read is not None else self._pending_state_now(execution_id))
            while True:
                if state != previous:
                    previous = state
                    yield previous
                if isinstance(previous, FinishedState):
                    return
                if await watch.wait(poll_seconds):
                    await asyncio.sleep(coalesce_seconds)  # changes close together collapse into the latest
                pushed = watch.take()
                # Nothing pushed (a timeout: a change by another process sharing the database is only seen by
                # reading; or the storage closed, and the read says so).
                status = pushed if pushed is not None else await self._storage.get_status(execution_id)
                state = status.pending_state

    async def _pending_state_now(self, execution_id: ExecutionId) -> PendingState:
        return (await self._storage.get_status(execution_id)).pending_state
