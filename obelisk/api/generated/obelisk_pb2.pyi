# mypy: ignore-errors
from google.protobuf import any_pb2 as _any_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResultKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OK: _ClassVar[ResultKind]
    TIMEOUT: _ClassVar[ResultKind]
    NONDETERMINISM_DETECTED: _ClassVar[ResultKind]
    EXECUTION_FAILURE: _ClassVar[ResultKind]
    FALLIBLE_ERROR: _ClassVar[ResultKind]
    CANCELLED: _ClassVar[ResultKind]

class LogLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_LEVEL_UNSPECIFIED: _ClassVar[LogLevel]
    LOG_LEVEL_TRACE: _ClassVar[LogLevel]
    LOG_LEVEL_DEBUG: _ClassVar[LogLevel]
    LOG_LEVEL_INFO: _ClassVar[LogLevel]
    LOG_LEVEL_WARN: _ClassVar[LogLevel]
    LOG_LEVEL_ERROR: _ClassVar[LogLevel]

class LogStreamType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_STREAM_TYPE_UNSPECIFIED: _ClassVar[LogStreamType]
    LOG_STREAM_TYPE_STDOUT: _ClassVar[LogStreamType]
    LOG_STREAM_TYPE_STDERR: _ClassVar[LogStreamType]

class ComponentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKFLOW: _ClassVar[ComponentType]
    ACTIVITY_WASM: _ClassVar[ComponentType]
    WEBHOOK_ENDPOINT: _ClassVar[ComponentType]

class FunctionExtension(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBMIT: _ClassVar[FunctionExtension]
    AWAIT_NEXT: _ClassVar[FunctionExtension]
    SCHEDULE: _ClassVar[FunctionExtension]
OK: ResultKind
TIMEOUT: ResultKind
NONDETERMINISM_DETECTED: ResultKind
EXECUTION_FAILURE: ResultKind
FALLIBLE_ERROR: ResultKind
CANCELLED: ResultKind
LOG_LEVEL_UNSPECIFIED: LogLevel
LOG_LEVEL_TRACE: LogLevel
LOG_LEVEL_DEBUG: LogLevel
LOG_LEVEL_INFO: LogLevel
LOG_LEVEL_WARN: LogLevel
LOG_LEVEL_ERROR: LogLevel
LOG_STREAM_TYPE_UNSPECIFIED: LogStreamType
LOG_STREAM_TYPE_STDOUT: LogStreamType
LOG_STREAM_TYPE_STDERR: LogStreamType
WORKFLOW: ComponentType
ACTIVITY_WASM: ComponentType
WEBHOOK_ENDPOINT: ComponentType
SUBMIT: FunctionExtension
AWAIT_NEXT: FunctionExtension
SCHEDULE: FunctionExtension

class ExecutionId(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RunId(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class JoinSetId(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DelayId(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ComponentId(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class FunctionName(_message.Message):
    __slots__ = ("interface_name", "function_name")
    INTERFACE_NAME_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    interface_name: str
    function_name: str
    def __init__(self, interface_name: _Optional[str] = ..., function_name: _Optional[str] = ...) -> None: ...

class GenerateExecutionIdRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GenerateExecutionIdResponse(_message.Message):
    __slots__ = ("execution_id",)
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    execution_id: ExecutionId
    def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("execution_id", "function_name", "params")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    execution_id: ExecutionId
    function_name: FunctionName
    params: _any_pb2.Any
    def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ..., function_name: _Optional[_Union[FunctionName, _Mapping]] = ..., params: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("execution_id",)
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    execution_id: ExecutionId
    def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("execution_id", "follow", "send_finished_status")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    SEND_FINISHED_STATUS_FIELD_NUMBER: _ClassVar[int]
    execution_id: ExecutionId
    follow: bool
    send_finished_status: bool
    def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ..., follow: bool = ..., send_finished_status: bool = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("summary", "current_status", "finished_status")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_STATUS_FIELD_NUMBER: _ClassVar[int]
    summary: ExecutionSummary
    current_status: ExecutionStatus
    finished_status: FinishedStatus
    def __init__(self, summary: _Optional[_Union[ExecutionSummary, _Mapping]] = ..., current_status: _Optional[_Union[ExecutionStatus, _Mapping]] = ..., finished_status: _Optional[_Union[FinishedStatus, _Mapping]] = ...) -> None: ...

class ExecutionSummary(_message.Message):
    __slots__ = ("execution_id", "function_name", "current_status", "created_at", "scheduled_at")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    execution_id: ExecutionId
    function_name: FunctionName
    current_status: ExecutionStatus
    created_at: _timestamp_pb2.Timestamp
    scheduled_at: _timestamp_pb2.Timestamp
    def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ..., function_name: _Optional[_Union[FunctionName, _Mapping]] = ..., current_status: _Optional[_Union[ExecutionStatus, _Mapping]] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., scheduled_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExecutionStatus(_message.Message):
    __slots__ = ("locked", "pending_at", "blocked_by_join_set", "finished", "paused")
    class Locked(_message.Message):
        __slots__ = ("run_id", "lock_expires_at")
        RUN_ID_FIELD_NUMBER: _ClassVar[int]
        LOCK_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
        run_id: RunId
        lock_expires_at: _timestamp_pb2.Timestamp
        def __init__(self, run_id: _Optional[_Union[RunId, _Mapping]] = ..., lock_expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
    class PendingAt(_message.Message):
        __slots__ = ("scheduled_at",)
        SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
        scheduled_at: _timestamp_pb2.Timestamp
        def __init__(self, scheduled_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
    class BlockedByJoinSet(_message.Message):
        __slots__ = ("join_set_id", "lock_expires_at", "closing")
        JOIN_SET_ID_FIELD_NUMBER: _ClassVar[int]
        LOCK_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
        CLOSING_FIELD_NUMBER: _ClassVar[int]
        join_set_id: JoinSetId
        lock_expires_at: _timestamp_pb2.Timestamp
        closing: bool
        def __init__(self, join_set_id: _Optional[_Union[JoinSetId, _Mapping]] = ..., lock_expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., closing: bool = ...) -> None: ...
    class Finished(_message.Message):
        __slots__ = ("finished_at", "result_kind")
        FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
        RESULT_KIND_FIELD_NUMBER: _ClassVar[int]
        finished_at: _timestamp_pb2.Timestamp
        result_kind: ResultKind
        def __init__(self, finished_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., result_kind: _Optional[_Union[ResultKind, str]] = ...) -> None: ...
    class Paused(_message.Message):
        __slots__ = ("locked", "pending_at", "blocked_by_join_set")
        LOCKED_FIELD_NUMBER: _ClassVar[int]
        PENDING_AT_FIELD_NUMBER: _ClassVar[int]
        BLOCKED_BY_JOIN_SET_FIELD_NUMBER: _ClassVar[int]
        locked: ExecutionStatus.Locked
        pending_at: ExecutionStatus.PendingAt
        blocked_by_join_set: ExecutionStatus.BlockedByJoinSet
        def __init__(self, locked: _Optional[_Union[ExecutionStatus.Locked, _Mapping]] = ..., pending_at: _Optional[_Union[ExecutionStatus.PendingAt, _Mapping]] = ..., blocked_by_join_set: _Optional[_Union[ExecutionStatus.BlockedByJoinSet, _Mapping]] = ...) -> None: ...
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    PENDING_AT_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_BY_JOIN_SET_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    locked: ExecutionStatus.Locked
    pending_at: ExecutionStatus.PendingAt
    blocked_by_join_set: ExecutionStatus.BlockedByJoinSet
    finished: ExecutionStatus.Finished
    paused: ExecutionStatus.Paused
    def __init__(self, locked: _Optional[_Union[ExecutionStatus.Locked, _Mapping]] = ..., pending_at: _Optional[_Union[ExecutionStatus.PendingAt, _Mapping]] = ..., blocked_by_join_set: _Optional[_Union[ExecutionStatus.BlockedByJoinSet, _Mapping]] = ..., finished: _Optional[_Union[ExecutionStatus.Finished, _Mapping]] = ..., paused: _Optional[_Union[ExecutionStatus.Paused, _Mapping]] = ...) -> None: ...

class FinishedStatus(_message.Message):
    __slots__ = ("created_at", "scheduled_at", "finished_at", "result_detail")
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    RESULT_DETAIL_FIELD_NUMBER: _ClassVar[int]
    created_at: _timestamp_pb2.Timestamp
    scheduled_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    result_detail: ResultDetail
    def __init__(self, created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., scheduled_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., result_detail: _Optional[_Union[ResultDetail, _Mapping]] = ...) -> None: ...

class ResultDetail(_message.Message):
    __slots__ = ("ok", "fallible_error", "timeout", "nondeterminism_detected", "execution_failure", "cancelled")
    class Ok(_message.Message):
        __slots__ = ("return_value",)
        RETURN_VALUE_FIELD_NUMBER: _ClassVar[int]
        return_value: _any_pb2.Any
        def __init__(self, return_value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...
    class FallibleError(_message.Message):
        __slots__ = ("return_value",)
        RETURN_VALUE_FIELD_NUMBER: _ClassVar[int]
        return_value: _any_pb2.Any
        def __init__(self, return_value: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...
    class Timeout(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    class NondeterminismDetected(_message.Message):
        __slots__ = ("reason",)
        REASON_FIELD_NUMBER: _ClassVar[int]
        reason: str
        def __init__(self, reason: _Optional[str] = ...) -> None: ...
    class ExecutionFailure(_message.Message):
        __slots__ = ("reason", "detail")
        REASON_FIELD_NUMBER: _ClassVar[int]
        DETAIL_FIELD_NUMBER: _ClassVar[int]
        reason: str
        detail: str
        def __init__(self, reason: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...
    class Cancelled(_message.Message):
        __slots__ = ("reason",)
        REASON_FIELD_NUMBER: _ClassVar[int]
        reason: str
        def __init__(self, reason: _Optional[str] = ...) -> None: ...
    OK_FIELD_NUMBER: _ClassVar[int]
    FALLIBLE_ERROR_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    NONDETERMINISM_DETECTED_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_FAILURE_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    ok: ResultDetail.Ok
    fallible_error: ResultDetail.FallibleError
    timeout: ResultDetail.Timeout
    nondeterminism_detected: ResultDetail.NondeterminismDetected
    execution_failure: ResultDetail.ExecutionFailure
    cancelled: ResultDetail.Cancelled
    def __init__(self, ok: _Optional[_Union[ResultDetail.Ok, _Mapping]] = ..., fallible_error: _Optional[_Union[ResultDetail.FallibleError, _Mapping]] = ..., timeout: _Optional[_Union[ResultDetail.Timeout, _Mapping]] = ..., nondeterminism_detected: _Optional[_Union[ResultDetail.NondeterminismDetected, _Mapping]] = ..., execution_failure: _Optional[_Union[ResultDetail.ExecutionFailure, _Mapping]] = ..., cancelled: _Optional[_Union[ResultDetail.Cancelled, _Mapping]] = ...) -> None: ...

class CancelExecutionRequest(_message.Message):
    __slots__ = ("execution_id",)
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    execution_id: ExecutionId
    def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ...) -> None: ...

class CancelExecutionResponse(_message.Message):
    __slots__ = ("outcome",)
    class CancelExecutionOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CANCEL_EXECUTION_OUTCOME_UNSPECIFIED: _ClassVar[CancelExecutionResponse.CancelExecutionOutcome]
        CANCEL_EXECUTION_OUTCOME_CANCELLATION_REQUESTED: _ClassVar[CancelExecutionResponse.CancelExecutionOutcome]
        CANCEL_EXECUTION_OUTCOME_ALREADY_FINISHED: _ClassVar[CancelExecutionResponse.CancelExecutionOutcome]
    CANCEL_EXECUTION_OUTCOME_UNSPECIFIED: CancelExecutionResponse.CancelExecutionOutcome
    CANCEL_EXECUTION_OUTCOME_CANCELLATION_REQUESTED: CancelExecutionResponse.CancelExecutionOutcome
    CANCEL_EXECUTION_OUTCOME_ALREADY_FINISHED: CancelExecutionResponse.CancelExecutionOutcome
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    outcome: CancelExecutionResponse.CancelExecutionOutcome
    def __init__(self, outcome: _Optional[_Union[CancelExecutionResponse.CancelExecutionOutcome, str]] = ...) -> None: ...

class PauseExecutionRequest(_message.Message):
    __slots__ = ("execution_id",)
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    execution_id: ExecutionId
    def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ...) -> None: ...

class PauseExecutionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnpauseExecutionRequest(_message.Message):
    __slots__ = ("execution_id",)
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    execution_id: ExecutionId
    def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ...) -> None: ...

class UnpauseExecutionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CancelDelayRequest(_message.Message):
    __slots__ = ("delay_id",)
    DELAY_ID_FIELD_NUMBER: _ClassVar[int]
    delay_id: DelayId
    def __init__(self, delay_id: _Optional[_Union[DelayId, _Mapping]] = ...) -> None: ...

class CancelDelayResponse(_message.Message):
    __slots__ = ("outcome",)
    class CancelDelayOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CANCEL_DELAY_OUTCOME_UNSPECIFIED: _ClassVar[CancelDelayResponse.CancelDelayOutcome]
        CANCEL_DELAY_OUTCOME_CANCELLED: _ClassVar[CancelDelayResponse.CancelDelayOutcome]
        CANCEL_DELAY_OUTCOME_ALREADY_FINISHED: _ClassVar[CancelDelayResponse.CancelDelayOutcome]
    CANCEL_DELAY_OUTCOME_UNSPECIFIED: CancelDelayResponse.CancelDelayOutcome
    CANCEL_DELAY_OUTCOME_CANCELLED: CancelDelayResponse.CancelDelayOutcome
    CANCEL_DELAY_OUTCOME_ALREADY_FINISHED: CancelDelayResponse.CancelDelayOutcome
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    outcome: CancelDelayResponse.CancelDelayOutcome
    def __init__(self, outcome: _Optional[_Union[CancelDelayResponse.CancelDelayOutcome, str]] = ...) -> None: ...

class ListExecutionsRequest(_message.Message):
    __slots__ = ("function_name", "top_level_only", "newer_than", "older_than", "function_filter", "state_filters")
    class ExecutionStateFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        EXECUTION_STATE_FILTER_UNSPECIFIED: _ClassVar[ListExecutionsRequest.ExecutionStateFilter]
        EXECUTION_STATE_FILTER_LOCKED: _ClassVar[ListExecutionsRequest.ExecutionStateFilter]
        EXECUTION_STATE_FILTER_PENDING: _ClassVar[ListExecutionsRequest.ExecutionStateFilter]
        EXECUTION_STATE_FILTER_SCHEDULED: _ClassVar[ListExecutionsRequest.ExecutionStateFilter]
        EXECUTION_STATE_FILTER_BLOCKED: _ClassVar[ListExecutionsRequest.ExecutionStateFilter]
        EXECUTION_STATE_FILTER_FINISHED: _ClassVar[ListExecutionsRequest.ExecutionStateFilter]
        EXECUTION_STATE_FILTER_FINISHED_OK: _ClassVar[ListExecutionsRequest.ExecutionStateFilter]
        EXECUTION_STATE_FILTER_FINISHED_ERROR: _ClassVar[ListExecutionsRequest.ExecutionStateFilter]
        EXECUTION_STATE_FILTER_FINISHED_EXECUTION_FAILURE: _ClassVar[ListExecutionsRequest.ExecutionStateFilter]
        EXECUTION_STATE_FILTER_PAUSED: _ClassVar[ListExecutionsRequest.ExecutionStateFilter]
    EXECUTION_STATE_FILTER_UNSPECIFIED: ListExecutionsRequest.ExecutionStateFilter
    EXECUTION_STATE_FILTER_LOCKED: ListExecutionsRequest.ExecutionStateFilter
    EXECUTION_STATE_FILTER_PENDING: ListExecutionsRequest.ExecutionStateFilter
    EXECUTION_STATE_FILTER_SCHEDULED: ListExecutionsRequest.ExecutionStateFilter
    EXECUTION_STATE_FILTER_BLOCKED: ListExecutionsRequest.ExecutionStateFilter
    EXECUTION_STATE_FILTER_FINISHED: ListExecutionsRequest.ExecutionStateFilter
    EXECUTION_STATE_FILTER_FINISHED_OK: ListExecutionsRequest.ExecutionStateFilter
    EXECUTION_STATE_FILTER_FINISHED_ERROR: ListExecutionsRequest.ExecutionStateFilter
    EXECUTION_STATE_FILTER_FINISHED_EXECUTION_FAILURE: ListExecutionsRequest.ExecutionStateFilter
    EXECUTION_STATE_FILTER_PAUSED: ListExecutionsRequest.ExecutionStateFilter
    class Cursor(_message.Message):
        __slots__ = ("execution_id", "created_at")
        EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
        CREATED_AT_FIELD_NUMBER: _ClassVar[int]
        execution_id: ExecutionId
        created_at: _timestamp_pb2.Timestamp
        def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
    class NewerThan(_message.Message):
        __slots__ = ("length", "cursor", "including_cursor")
        LENGTH_FIELD_NUMBER: _ClassVar[int]
        CURSOR_FIELD_NUMBER: _ClassVar[int]
        INCLUDING_CURSOR_FIELD_NUMBER: _ClassVar[int]
        length: int
        cursor: ListExecutionsRequest.Cursor
        including_cursor: bool
        def __init__(self, length: _Optional[int] = ..., cursor: _Optional[_Union[ListExecutionsRequest.Cursor, _Mapping]] = ..., including_cursor: bool = ...) -> None: ...
    class OlderThan(_message.Message):
        __slots__ = ("length", "cursor", "including_cursor")
        LENGTH_FIELD_NUMBER: _ClassVar[int]
        CURSOR_FIELD_NUMBER: _ClassVar[int]
        INCLUDING_CURSOR_FIELD_NUMBER: _ClassVar[int]
        length: int
        cursor: ListExecutionsRequest.Cursor
        including_cursor: bool
        def __init__(self, length: _Optional[int] = ..., cursor: _Optional[_Union[ListExecutionsRequest.Cursor, _Mapping]] = ..., including_cursor: bool = ...) -> None: ...
    class ExecutionFunctionFilter(_message.Message):
        __slots__ = ("package_name", "interface_name", "function_name")
        PACKAGE_NAME_FIELD_NUMBER: _ClassVar[int]
        INTERFACE_NAME_FIELD_NUMBER: _ClassVar[int]
        FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
        package_name: str
        interface_name: str
        function_name: str
        def __init__(self, package_name: _Optional[str] = ..., interface_name: _Optional[str] = ..., function_name: _Optional[str] = ...) -> None: ...
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    TOP_LEVEL_ONLY_FIELD_NUMBER: _ClassVar[int]
    NEWER_THAN_FIELD_NUMBER: _ClassVar[int]
    OLDER_THAN_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FILTER_FIELD_NUMBER: _ClassVar[int]
    STATE_FILTERS_FIELD_NUMBER: _ClassVar[int]
    function_name: FunctionName
    top_level_only: bool
    newer_than: ListExecutionsRequest.NewerThan
    older_than: ListExecutionsRequest.OlderThan
    function_filter: ListExecutionsRequest.ExecutionFunctionFilter
    state_filters: _containers.RepeatedScalarFieldContainer[ListExecutionsRequest.ExecutionStateFilter]
    def __init__(self, function_name: _Optional[_Union[FunctionName, _Mapping]] = ..., top_level_only: bool = ..., newer_than: _Optional[_Union[ListExecutionsRequest.NewerThan, _Mapping]] = ..., older_than: _Optional[_Union[ListExecutionsRequest.OlderThan, _Mapping]] = ..., function_filter: _Optional[_Union[ListExecutionsRequest.ExecutionFunctionFilter, _Mapping]] = ..., state_filters: _Optional[_Iterable[_Union[ListExecutionsRequest.ExecutionStateFilter, str]]] = ...) -> None: ...

class ListExecutionsResponse(_message.Message):
    __slots__ = ("executions",)
    EXECUTIONS_FIELD_NUMBER: _ClassVar[int]
    executions: _containers.RepeatedCompositeFieldContainer[ExecutionSummary]
    def __init__(self, executions: _Optional[_Iterable[_Union[ExecutionSummary, _Mapping]]] = ...) -> None: ...

class ListExecutionEventsRequest(_message.Message):
    __slots__ = ("execution_id", "version_from", "length")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FROM_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    execution_id: ExecutionId
    version_from: int
    length: int
    def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ..., version_from: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class ListExecutionEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[ExecutionEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[ExecutionEvent, _Mapping]]] = ...) -> None: ...

class ExecutionEvent(_message.Message):
    __slots__ = ("created_at", "version", "created", "locked", "unlocked", "failed", "timed_out", "finished", "history_variant", "paused", "unpaused")
    class Created(_message.Message):
        __slots__ = ("function_name", "params", "scheduled_at", "component_id", "scheduled_by")
        FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
        PARAMS_FIELD_NUMBER: _ClassVar[int]
        SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
        COMPONENT_ID_FIELD_NUMBER: _ClassVar[int]
        SCHEDULED_BY_FIELD_NUMBER: _ClassVar[int]
        function_name: FunctionName
        params: _any_pb2.Any
        scheduled_at: _timestamp_pb2.Timestamp
        component_id: ComponentId
        scheduled_by: ExecutionId
        def __init__(self, function_name: _Optional[_Union[FunctionName, _Mapping]] = ..., params: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., scheduled_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., component_id: _Optional[_Union[ComponentId, _Mapping]] = ..., scheduled_by: _Optional[_Union[ExecutionId, _Mapping]] = ...) -> None: ...
    class Locked(_message.Message):
        __slots__ = ("component_id", "lock_expires_at", "run_id")
        COMPONENT_ID_FIELD_NUMBER: _ClassVar[int]
        LOCK_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
        RUN_ID_FIELD_NUMBER: _ClassVar[int]
        component_id: ComponentId
        lock_expires_at: _timestamp_pb2.Timestamp
        run_id: str
        def __init__(self, component_id: _Optional[_Union[ComponentId, _Mapping]] = ..., lock_expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., run_id: _Optional[str] = ...) -> None: ...
    class Unlocked(_message.Message):
        __slots__ = ("backoff_expires_at", "reason")
        BACKOFF_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
        REASON_FIELD_NUMBER: _ClassVar[int]
        backoff_expires_at: _timestamp_pb2.Timestamp
        reason: str
        def __init__(self, backoff_expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...
    class TemporarilyFailed(_message.Message):
        __slots__ = ("reason", "detail", "backoff_expires_at")
        REASON_FIELD_NUMBER: _ClassVar[int]
        DETAIL_FIELD_NUMBER: _ClassVar[int]
        BACKOFF_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
        reason: str
        detail: str
        backoff_expires_at: _timestamp_pb2.Timestamp
        def __init__(self, reason: _Optional[str] = ..., detail: _Optional[str] = ..., backoff_expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
    class TemporarilyTimedOut(_message.Message):
        __slots__ = ("backoff_expires_at",)
        BACKOFF_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
        backoff_expires_at: _timestamp_pb2.Timestamp
        def __init__(self, backoff_expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
    class Finished(_message.Message):
        __slots__ = ("result_detail",)
        RESULT_DETAIL_FIELD_NUMBER: _ClassVar[int]
        result_detail: ResultDetail
        def __init__(self, result_detail: _Optional[_Union[ResultDetail, _Mapping]] = ...) -> None: ...
    class Paused(_message.Message):
        __slots__ = ("by",)
        BY_FIELD_NUMBER: _ClassVar[int]
        by: str
        def __init__(self, by: _Optional[str] = ...) -> None: ...
    class Unpaused(_message.Message):
        __slots__ = ("by",)
        BY_FIELD_NUMBER: _ClassVar[int]
        by: str
        def __init__(self, by: _Optional[str] = ...) -> None: ...
    class HistoryEvent(_message.Message):
        __slots__ = ("persist", "join_set_created", "join_set_request", "join_next", "schedule")
        class Persist(_message.Message):
            __slots__ = ("data",)
            DATA_FIELD_NUMBER: _ClassVar[int]
            data: _any_pb2.Any
            def __init__(self, data: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...
        class JoinSetCreated(_message.Message):
            __slots__ = ("join_set_id",)
            JOIN_SET_ID_FIELD_NUMBER: _ClassVar[int]
            join_set_id: JoinSetId
            def __init__(self, join_set_id: _Optional[_Union[JoinSetId, _Mapping]] = ...) -> None: ...
        class JoinSetRequest(_message.Message):
            __slots__ = ("join_set_id", "delay_request", "child_execution_request")
            class DelayRequest(_message.Message):
                __slots__ = ("delay_id", "expires_at")
                DELAY_ID_FIELD_NUMBER: _ClassVar[int]
                EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
                delay_id: DelayId
                expires_at: _timestamp_pb2.Timestamp
                def __init__(self, delay_id: _Optional[_Union[DelayId, _Mapping]] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
            class ChildExecutionRequest(_message.Message):
                __slots__ = ("child_execution_id",)
                CHILD_EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
                child_execution_id: ExecutionId
                def __init__(self, child_execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ...) -> None: ...
            JOIN_SET_ID_FIELD_NUMBER: _ClassVar[int]
            DELAY_REQUEST_FIELD_NUMBER: _ClassVar[int]
            CHILD_EXECUTION_REQUEST_FIELD_NUMBER: _ClassVar[int]
            join_set_id: JoinSetId
            delay_request: ExecutionEvent.HistoryEvent.JoinSetRequest.DelayRequest
            child_execution_request: ExecutionEvent.HistoryEvent.JoinSetRequest.ChildExecutionRequest
            def __init__(self, join_set_id: _Optional[_Union[JoinSetId, _Mapping]] = ..., delay_request: _Optional[_Union[ExecutionEvent.HistoryEvent.JoinSetRequest.DelayRequest, _Mapping]] = ..., child_execution_request: _Optional[_Union[ExecutionEvent.HistoryEvent.JoinSetRequest.ChildExecutionRequest, _Mapping]] = ...) -> None: ...
        class JoinNext(_message.Message):
            __slots__ = ("join_set_id", "run_expires_at", "closing")
            JOIN_SET_ID_FIELD_NUMBER: _ClassVar[int]
            RUN_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
            CLOSING_FIELD_NUMBER: _ClassVar[int]
            join_set_id: JoinSetId
            run_expires_at: _timestamp_pb2.Timestamp
            closing: bool
            def __init__(self, join_set_id: _Optional[_Union[JoinSetId, _Mapping]] = ..., run_expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., closing: bool = ...) -> None: ...
        class Schedule(_message.Message):
            __slots__ = ("execution_id", "scheduled_at")
            class ScheduledAt(_message.Message):
                __slots__ = ("now", "at")
                class Now(_message.Message):
                    __slots__ = ()
                    def __init__(self) -> None: ...
                class At(_message.Message):
                    __slots__ = ("at",)
                    AT_FIELD_NUMBER: _ClassVar[int]
                    at: _timestamp_pb2.Timestamp
                    def __init__(self, at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
                class In(_message.Message):
                    __slots__ = ()
                    IN_FIELD_NUMBER: _ClassVar[int]
                    def __init__(self, **kwargs) -> None: ...
                NOW_FIELD_NUMBER: _ClassVar[int]
                AT_FIELD_NUMBER: _ClassVar[int]
                IN_FIELD_NUMBER: _ClassVar[int]
                now: ExecutionEvent.HistoryEvent.Schedule.ScheduledAt.Now
                at: ExecutionEvent.HistoryEvent.Schedule.ScheduledAt.At
                def __init__(self, now: _Optional[_Union[ExecutionEvent.HistoryEvent.Schedule.ScheduledAt.Now, _Mapping]] = ..., at: _Optional[_Union[ExecutionEvent.HistoryEvent.Schedule.ScheduledAt.At, _Mapping]] = ..., **kwargs) -> None: ...
            EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
            SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
            execution_id: ExecutionId
            scheduled_at: ExecutionEvent.HistoryEvent.Schedule.ScheduledAt
            def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ..., scheduled_at: _Optional[_Union[ExecutionEvent.HistoryEvent.Schedule.ScheduledAt, _Mapping]] = ...) -> None: ...
        PERSIST_FIELD_NUMBER: _ClassVar[int]
        JOIN_SET_CREATED_FIELD_NUMBER: _ClassVar[int]
        JOIN_SET_REQUEST_FIELD_NUMBER: _ClassVar[int]
        JOIN_NEXT_FIELD_NUMBER: _ClassVar[int]
        SCHEDULE_FIELD_NUMBER: _ClassVar[int]
        persist: ExecutionEvent.HistoryEvent.Persist
        join_set_created: ExecutionEvent.HistoryEvent.JoinSetCreated
        join_set_request: ExecutionEvent.HistoryEvent.JoinSetRequest
        join_next: ExecutionEvent.HistoryEvent.JoinNext
        schedule: ExecutionEvent.HistoryEvent.Schedule
        def __init__(self, persist: _Optional[_Union[ExecutionEvent.HistoryEvent.Persist, _Mapping]] = ..., join_set_created: _Optional[_Union[ExecutionEvent.HistoryEvent.JoinSetCreated, _Mapping]] = ..., join_set_request: _Optional[_Union[ExecutionEvent.HistoryEvent.JoinSetRequest, _Mapping]] = ..., join_next: _Optional[_Union[ExecutionEvent.HistoryEvent.JoinNext, _Mapping]] = ..., schedule: _Optional[_Union[ExecutionEvent.HistoryEvent.Schedule, _Mapping]] = ...) -> None: ...
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    LOCKED_FIELD_NUMBER: _ClassVar[int]
    UNLOCKED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    HISTORY_VARIANT_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    UNPAUSED_FIELD_NUMBER: _ClassVar[int]
    created_at: _timestamp_pb2.Timestamp
    version: int
    created: ExecutionEvent.Created
    locked: ExecutionEvent.Locked
    unlocked: ExecutionEvent.Unlocked
    failed: ExecutionEvent.TemporarilyFailed
    timed_out: ExecutionEvent.TemporarilyTimedOut
    finished: ExecutionEvent.Finished
    history_variant: ExecutionEvent.HistoryEvent
    paused: ExecutionEvent.Paused
    unpaused: ExecutionEvent.Unpaused
    def __init__(self, created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., created: _Optional[_Union[ExecutionEvent.Created, _Mapping]] = ..., locked: _Optional[_Union[ExecutionEvent.Locked, _Mapping]] = ..., unlocked: _Optional[_Union[ExecutionEvent.Unlocked, _Mapping]] = ..., failed: _Optional[_Union[ExecutionEvent.TemporarilyFailed, _Mapping]] = ..., timed_out: _Optional[_Union[ExecutionEvent.TemporarilyTimedOut, _Mapping]] = ..., finished: _Optional[_Union[ExecutionEvent.Finished, _Mapping]] = ..., history_variant: _Optional[_Union[ExecutionEvent.HistoryEvent, _Mapping]] = ..., paused: _Optional[_Union[ExecutionEvent.Paused, _Mapping]] = ..., unpaused: _Optional[_Union[ExecutionEvent.Unpaused, _Mapping]] = ...) -> None: ...

class ListResponsesRequest(_message.Message):
    __slots__ = ("execution_id", "cursor_from", "length", "including_cursor")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FROM_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    INCLUDING_CURSOR_FIELD_NUMBER: _ClassVar[int]
    execution_id: ExecutionId
    cursor_from: int
    length: int
    including_cursor: bool
    def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ..., cursor_from: _Optional[int] = ..., length: _Optional[int] = ..., including_cursor: bool = ...) -> None: ...

class ListResponsesResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[ResponseWithCursor]
    def __init__(self, responses: _Optional[_Iterable[_Union[ResponseWithCursor, _Mapping]]] = ...) -> None: ...

class ResponseWithCursor(_message.Message):
    __slots__ = ("event", "cursor")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    event: JoinSetResponseEvent
    cursor: int
    def __init__(self, event: _Optional[_Union[JoinSetResponseEvent, _Mapping]] = ..., cursor: _Optional[int] = ...) -> None: ...

class JoinSetResponseEvent(_message.Message):
    __slots__ = ("created_at", "join_set_id", "delay_finished", "child_execution_finished")
    class DelayFinished(_message.Message):
        __slots__ = ("delay_id", "success")
        DELAY_ID_FIELD_NUMBER: _ClassVar[int]
        SUCCESS_FIELD_NUMBER: _ClassVar[int]
        delay_id: DelayId
        success: bool
        def __init__(self, delay_id: _Optional[_Union[DelayId, _Mapping]] = ..., success: bool = ...) -> None: ...
    class ChildExecutionFinished(_message.Message):
        __slots__ = ("child_execution_id", "result_detail")
        CHILD_EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
        RESULT_DETAIL_FIELD_NUMBER: _ClassVar[int]
        child_execution_id: ExecutionId
        result_detail: ResultDetail
        def __init__(self, child_execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ..., result_detail: _Optional[_Union[ResultDetail, _Mapping]] = ...) -> None: ...
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    JOIN_SET_ID_FIELD_NUMBER: _ClassVar[int]
    DELAY_FINISHED_FIELD_NUMBER: _ClassVar[int]
    CHILD_EXECUTION_FINISHED_FIELD_NUMBER: _ClassVar[int]
    created_at: _timestamp_pb2.Timestamp
    join_set_id: JoinSetId
    delay_finished: JoinSetResponseEvent.DelayFinished
    child_execution_finished: JoinSetResponseEvent.ChildExecutionFinished
    def __init__(self, created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., join_set_id: _Optional[_Union[JoinSetId, _Mapping]] = ..., delay_finished: _Optional[_Union[JoinSetResponseEvent.DelayFinished, _Mapping]] = ..., child_execution_finished: _Optional[_Union[JoinSetResponseEvent.ChildExecutionFinished, _Mapping]] = ...) -> None: ...

class ListLogsRequest(_message.Message):
    __slots__ = ("execution_id", "page_size", "page_token", "show_logs", "show_streams", "levels", "stream_types", "show_derived")
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHOW_LOGS_FIELD_NUMBER: _ClassVar[int]
    SHOW_STREAMS_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    STREAM_TYPES_FIELD_NUMBER: _ClassVar[int]
    SHOW_DERIVED_FIELD_NUMBER: _ClassVar[int]
    execution_id: ExecutionId
    page_size: int
    page_token: str
    show_logs: bool
    show_streams: bool
    levels: _containers.RepeatedScalarFieldContainer[LogLevel]
    stream_types: _containers.RepeatedScalarFieldContainer[LogStreamType]
    show_derived: bool
    def __init__(self, execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., show_logs: bool = ..., show_streams: bool = ..., levels: _Optional[_Iterable[_Union[LogLevel, str]]] = ..., stream_types: _Optional[_Iterable[_Union[LogStreamType, str]]] = ..., show_derived: bool = ...) -> None: ...

class ListLogsResponse(_message.Message):
    __slots__ = ("logs", "next_page_token", "prev_page_token", "dropped_count")
    class LogEntry(_message.Message):
        __slots__ = ("created_at", "log", "stream", "run_id", "execution_id")
        class LogVariant(_message.Message):
            __slots__ = ("level", "message")
            LEVEL_FIELD_NUMBER: _ClassVar[int]
            MESSAGE_FIELD_NUMBER: _ClassVar[int]
            level: LogLevel
            message: str
            def __init__(self, level: _Optional[_Union[LogLevel, str]] = ..., message: _Optional[str] = ...) -> None: ...
        class StreamVariant(_message.Message):
            __slots__ = ("payload", "stream_type")
            PAYLOAD_FIELD_NUMBER: _ClassVar[int]
            STREAM_TYPE_FIELD_NUMBER: _ClassVar[int]
            payload: bytes
            stream_type: LogStreamType
            def __init__(self, payload: _Optional[bytes] = ..., stream_type: _Optional[_Union[LogStreamType, str]] = ...) -> None: ...
        CREATED_AT_FIELD_NUMBER: _ClassVar[int]
        LOG_FIELD_NUMBER: _ClassVar[int]
        STREAM_FIELD_NUMBER: _ClassVar[int]
        RUN_ID_FIELD_NUMBER: _ClassVar[int]
        EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
        created_at: _timestamp_pb2.Timestamp
        log: ListLogsResponse.LogEntry.LogVariant
        stream: ListLogsResponse.LogEntry.StreamVariant
        run_id: RunId
        execution_id: ExecutionId
        def __init__(self, created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., log: _Optional[_Union[ListLogsResponse.LogEntry.LogVariant, _Mapping]] = ..., stream: _Optional[_Union[ListLogsResponse.LogEntry.StreamVariant, _Mapping]] = ..., run_id: _Optional[_Union[RunId, _Mapping]] = ..., execution_id: _Optional[_Union[ExecutionId, _Mapping]] = ...) -> None: ...
    LOGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PREV_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DROPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    logs: _containers.RepeatedCompositeFieldContainer[ListLogsResponse.LogEntry]
    next_page_token: str
    prev_page_token: str
    dropped_count: int
    def __init__(self, logs: _Optional[_Iterable[_Union[ListLogsResponse.LogEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., prev_page_token: _Optional[str] = ..., dropped_count: _Optional[int] = ...) -> None: ...

class ListComponentsRequest(_message.Message):
    __slots__ = ("function_name", "component_id", "extensions")
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    COMPONENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
    function_name: FunctionName
    component_id: ComponentId
    extensions: bool
    def __init__(self, function_name: _Optional[_Union[FunctionName, _Mapping]] = ..., component_id: _Optional[_Union[ComponentId, _Mapping]] = ..., extensions: bool = ...) -> None: ...

class ListComponentsResponse(_message.Message):
    __slots__ = ("components",)
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    components: _containers.RepeatedCompositeFieldContainer[Component]
    def __init__(self, components: _Optional[_Iterable[_Union[Component, _Mapping]]] = ...) -> None: ...

class Component(_message.Message):
    __slots__ = ("component_id", "digest", "name", "type", "exports", "imports")
    COMPONENT_ID_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPORTS_FIELD_NUMBER: _ClassVar[int]
    IMPORTS_FIELD_NUMBER: _ClassVar[int]
    component_id: ComponentId
    digest: str
    name: str
    type: ComponentType
    exports: _containers.RepeatedCompositeFieldContainer[FunctionDetail]
    imports: _containers.RepeatedCompositeFieldContainer[FunctionDetail]
    def __init__(self, component_id: _Optional[_Union[ComponentId, _Mapping]] = ..., digest: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[_Union[ComponentType, str]] = ..., exports: _Optional[_Iterable[_Union[FunctionDetail, _Mapping]]] = ..., imports: _Optional[_Iterable[_Union[FunctionDetail, _Mapping]]] = ...) -> None: ...

class FunctionDetail(_message.Message):
    __slots__ = ("function_name", "params", "return_type", "extension", "submittable")
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    RETURN_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXTENSION_FIELD_NUMBER: _ClassVar[int]
    SUBMITTABLE_FIELD_NUMBER: _ClassVar[int]
    function_name: FunctionName
    params: _containers.RepeatedCompositeFieldContainer[FunctionParameter]
    return_type: WitType
    extension: FunctionExtension
    submittable: bool
    def __init__(self, function_name: _Optional[_Union[FunctionName, _Mapping]] = ..., params: _Optional[_Iterable[_Union[FunctionParameter, _Mapping]]] = ..., return_type: _Optional[_Union[WitType, _Mapping]] = ..., extension: _Optional[_Union[FunctionExtension, str]] = ..., submittable: bool = ...) -> None: ...

class FunctionParameter(_message.Message):
    __slots__ = ("type", "name")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    type: WitType
    name: str
    def __init__(self, type: _Optional[_Union[WitType, _Mapping]] = ..., name: _Optional[str] = ...) -> None: ...

class WitType(_message.Message):
    __slots__ = ("wit_type", "type_wrapper")
    WIT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_WRAPPER_FIELD_NUMBER: _ClassVar[int]
    wit_type: str
    type_wrapper: str
    def __init__(self, wit_type: _Optional[str] = ..., type_wrapper: _Optional[str] = ...) -> None: ...

class GetWitRequest(_message.Message):
    __slots__ = ("component_id",)
    COMPONENT_ID_FIELD_NUMBER: _ClassVar[int]
    component_id: ComponentId
    def __init__(self, component_id: _Optional[_Union[ComponentId, _Mapping]] = ...) -> None: ...

class GetWitResponse(_message.Message):
    __slots__ = ("content",)
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    content: str
    def __init__(self, content: _Optional[str] = ...) -> None: ...
