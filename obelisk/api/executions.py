"""``ExecutionRepository``: submitting, observing and listing executions over gRPC, via ``ExecutionService``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from obelisk.api import convert, logs
from obelisk.api.errors import InvalidRequest, streaming, unary
from obelisk.api.generated import obelisk_pb2 as pb
from obelisk.api.generated import obelisk_pb2_grpc as pb_grpc
from obelisk.concepts.errors import ParseError
from obelisk.concepts.events import ExecutionEvent, Finished, FinishedState, PendingState
from obelisk.concepts.ids import DelayId, ExecutionId
from obelisk.concepts.trace_context import TRACEPARENT, incoming_traceparent
from obelisk.service.executions import ExecutionService
from obelisk.service.json_input import parse_json
from obelisk.service.listing import FunctionScope, ListFilter, ScopeKind, StateFilter
from obelisk.storage.interface import (
    AlreadyFinished,
    DelayNotPending,
    ExecutionQuery,
    ExecutionSummary,
    ListDirection,
)

DEFAULT_PAGE = 20
MAX_PAGE = 1000
DEFAULT_EVENTS_PAGE = 100

_LOWEST_ID = ExecutionId("")
_HIGHEST_ID = ExecutionId("\U0010ffff")
"""Tie-breakers for a cursor given only as a time: every execution id sorts between these two."""


def _execution_id(message: pb.ExecutionId, field: str) -> ExecutionId:
    if not message.id:
        raise InvalidRequest(f"{field} is required")
    try:
        return ExecutionId.parse(message.id)
    except ParseError as error:
        raise InvalidRequest(f"{field}: {error}") from None


def _metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == key and isinstance(value, str):
            return value
    return None


def _page_length(requested: int, default: int) -> int:
    return min(requested or default, MAX_PAGE)


def _finished_status(summary: ExecutionSummary, last: ExecutionEvent) -> pb.FinishedStatus | None:
    if not isinstance(last.event, Finished):
        return None
    return pb.FinishedStatus(
        created_at=convert.timestamp(summary.created_at),
        scheduled_at=convert.timestamp(summary.scheduled_at),
        finished_at=convert.timestamp(last.created_at),
        result_detail=convert.result_detail(last.event.result),
    )


_SCOPES = {
    "package_name": ScopeKind.PACKAGE,
    "interface_name": ScopeKind.INTERFACE,
    "function_name": ScopeKind.FUNCTION,
}

_STATE_FILTERS = {
    pb.ListExecutionsRequest.ExecutionStateFilter.Value(f"EXECUTION_STATE_FILTER_{state.name}"): state
    for state in StateFilter
}
"""The original's ``ExecutionStateFilter`` values: each member of ``StateFilter`` is named after one."""


def _list_filter(request: pb.ListExecutionsRequest) -> ListFilter:
    """``function_name`` (exact) or ``function_filter`` (a scope), ``state_filters`` and ``top_level_only``."""
    scope: FunctionScope | None = None
    which = request.function_filter.WhichOneof("scope")
    if request.HasField("function_name"):
        if which is not None:
            raise InvalidRequest("give function_name or function_filter, not both")
        scope = FunctionScope.of(ScopeKind.FUNCTION, convert.ffqn_text(request.function_name))
    elif which is not None:
        scope = FunctionScope.of(_SCOPES[which], getattr(request.function_filter, which))
    states: set[StateFilter] = set()
    for value in request.state_filters:
        state = _STATE_FILTERS.get(value)
        if state is None:
            raise InvalidRequest(
                f"state_filters: {value} is not supported here; expected one of "
                + ", ".join(pb.ListExecutionsRequest.ExecutionStateFilter.Name(v) for v in _STATE_FILTERS)
            )
        states.add(state)
    return ListFilter(scope=scope, states=frozenset(states), top_level_only=request.top_level_only)


class ExecutionRepository(pb_grpc.ExecutionRepositoryServicer):
    def __init__(self, executions: ExecutionService) -> None:
        self._executions = executions

    @unary
    async def GenerateExecutionId(
        self, request: pb.GenerateExecutionIdRequest, context: grpc.aio.ServicerContext
    ) -> pb.GenerateExecutionIdResponse:
        return pb.GenerateExecutionIdResponse(execution_id=pb.ExecutionId(id=ExecutionId.generate()))

    @unary
    async def CancelExecution(
        self, request: pb.CancelExecutionRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelExecutionResponse:
        """A finished execution is an answer, not an error (as in the original): the outcome says nothing changed."""
        execution_id = _execution_id(request.execution_id, "execution_id")
        outcomes = pb.CancelExecutionResponse
        try:
            await self._executions.cancel(execution_id)
        except AlreadyFinished:
            return outcomes(outcome=outcomes.CANCEL_EXECUTION_OUTCOME_ALREADY_FINISHED)
        return outcomes(outcome=outcomes.CANCEL_EXECUTION_OUTCOME_CANCELLATION_REQUESTED)

    @unary
    async def CancelDelay(
        self, request: pb.CancelDelayRequest, context: grpc.aio.ServicerContext
    ) -> pb.CancelDelayResponse:
        if not request.HasField("delay_id"):
            raise InvalidRequest("delay_id is required")
        try:
            delay_id = DelayId.parse(request.delay_id.id)
        except ParseError as error:
            raise ParseError(f"delay_id: {error}") from None
        outcomes = pb.CancelDelayResponse
        try:
            await self._executions.cancel_delay(delay_id)
        except DelayNotPending:
            return outcomes(outcome=outcomes.CANCEL_DELAY_OUTCOME_ALREADY_FINISHED)
        return outcomes(outcome=outcomes.CANCEL_DELAY_OUTCOME_CANCELLED)

    @unary
    async def Submit(self, request: pb.SubmitRequest, context: grpc.aio.ServicerContext) -> pb.SubmitResponse:
        execution_id = _execution_id(request.execution_id, "execution_id")
        if not request.HasField("function_name"):
            raise InvalidRequest("function_name is required")
        ffqn = convert.ffqn_text(request.function_name)
        params = parse_json(request.params.value or b"[]", f"params of {ffqn}")
        trace = incoming_traceparent(_metadata_value(context, TRACEPARENT))
        submitted = await self._executions.submit(execution_id, ffqn, params, trace=trace)
        return pb.SubmitResponse(execution_id=pb.ExecutionId(id=submitted.execution_id))

    @streaming
    async def GetStatus(
        self, request: pb.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GetStatusResponse]:
        execution_id = _execution_id(request.execution_id, "execution_id")
        # Not the whole log: its first event and state now, its last event at the end (a long workflow's log is
        # thousands of rows; a one-step workflow's follower makes 4 one-statement reads instead of 2 transactions).
        if not request.follow:
            summary = await self._executions.summary(execution_id)
            yield pb.GetStatusResponse(summary=convert.execution_summary(summary))
            state = summary.pending_state
        else:
            # The summary is the follow's first read, made once its watch is open: one read, no change missed.
            read: list[ExecutionSummary] = []

            async def read_summary() -> PendingState:
                read.append(await self._executions.summary(execution_id))
                return read[0].pending_state

            state = None
            async for changed in self._executions.follow_status(execution_id, first_read=read_summary):
                if state is None:
                    summary = read[0]
                    yield pb.GetStatusResponse(summary=convert.execution_summary(summary))
                elif changed != state:
                    yield pb.GetStatusResponse(current_status=convert.execution_status(changed))
                state = changed
        if request.send_finished_status and isinstance(state, FinishedState):
            finished = _finished_status(summary, await self._executions.last_event(execution_id))
            if finished is not None:
                yield pb.GetStatusResponse(finished_status=finished)

    @unary
    async def ListExecutions(
        self, request: pb.ListExecutionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListExecutionsResponse:
        list_filter = _list_filter(request)
        page = await self._page(request)
        summaries = await self._executions.list_filtered(list_filter, page)
        # The API answers newest first whichever way it pages (sorting a page is cheap and backend-independent).
        summaries.sort(key=lambda s: (s.created_at, s.execution_id), reverse=True)
        return pb.ListExecutionsResponse(executions=[convert.execution_summary(s) for s in summaries])

    async def _page(self, request: pb.ListExecutionsRequest) -> ExecutionQuery:
        which = request.WhichOneof("pagination")
        page = request.newer_than if which == "newer_than" else request.older_than
        direction = ListDirection.NEWER if which == "newer_than" else ListDirection.OLDER
        cursor: tuple[int, ExecutionId] | None = None
        including = page.including_cursor
        match page.cursor.WhichOneof("cursor"):
            case "execution_id":
                cursor_id = _execution_id(page.cursor.execution_id, "cursor.execution_id")
                log = await self._executions.get(cursor_id)
                cursor = (log.events[0].created_at, cursor_id)
            case "created_at":
                # Only a time: pick the id bound that includes or excludes every execution created then.
                newer = direction is ListDirection.NEWER
                tie = _LOWEST_ID if newer == including else _HIGHEST_ID
                cursor = (convert.micros_of(page.cursor.created_at, "cursor.created_at"), tie)
        return ExecutionQuery(
            cursor=cursor,
            direction=direction,
            including_cursor=including,
            length=_page_length(page.length, DEFAULT_PAGE),
        )

    @unary
    async def ListExecutionEvents(
        self, request: pb.ListExecutionEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListExecutionEventsResponse:
        execution_id = _execution_id(request.execution_id, "execution_id")
        events = await self._executions.list_events(
            execution_id, request.version_from, _page_length(request.length, DEFAULT_EVENTS_PAGE)
        )
        return pb.ListExecutionEventsResponse(events=[convert.execution_event(e) for e in events])

    @unary
    async def ListResponses(
        self, request: pb.ListResponsesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListResponsesResponse:
        execution_id = _execution_id(request.execution_id, "execution_id")
        responses = await self._executions.list_responses(
            execution_id,
            request.cursor_from,
            _page_length(request.length, DEFAULT_EVENTS_PAGE),
            request.including_cursor,
        )
        return pb.ListResponsesResponse(responses=[convert.response_with_cursor(r) for r in responses])

    @unary
    async def ListLogs(self, request: pb.ListLogsRequest, context: grpc.aio.ServicerContext) -> pb.ListLogsResponse:
        execution_id = _execution_id(request.execution_id, "execution_id")
        after = logs.cursor_of(request.page_token)
        log_filter = logs.LogFilter.of(request)
        page = await self._executions.list_logs(execution_id, after, logs.page_size(request.page_size))
        last = page.last_cursor
        return pb.ListLogsResponse(
            logs=[logs.entry(stored) for stored in page.lines if log_filter.admits(stored)],
            next_page_token=request.page_token if last is None else str(last),
            dropped_count=page.dropped,
        )
