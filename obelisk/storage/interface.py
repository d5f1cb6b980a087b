"""The storage interface: the only way the engine reaches the database.

Everything a caller needs to be atomic is one ``write`` of an ordered batch of operations (create executions,
append version-checked events, deliver join-set responses), so the rules (a child's ``Created`` with
its parent's request, a child's ``Finished`` with its parent's response) hold for any backend. A PostgreSQL
backend implements this same class.
"""

from __future__ import annotations

import abc
import concurrent.futures
import contextlib
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from obelisk.concepts.errors import ObeliskError
from obelisk.concepts.events import (
    Created,
    Event,
    ExecutionEvent,
    JoinSetResponseBody,
    JoinSetResponseEvent,
    ParentRef,
    PendingState,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.guest_logs import LogLine, LogPage
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import ResultKind
from obelisk.storage.notifications import StatusWatch

if TYPE_CHECKING:
    from obelisk.storage.group_commit import CommitObserver
    from obelisk.storage.state_machine import ExecutionRow
    from obelisk.storage.write_health import WriteHealth


# ---------------------------------------------------------------------------------------------- errors
class StorageError(ObeliskError):
    pass


class StorageFault(StorageError):
    """The database could not do what was asked for a reason of its own (disk full, read-only, locked, an I/O
    error), not because of what was asked: nothing was written, and the same write may succeed later. Callers
    keep what they meant to write and retry it after a pause, and never charge the fault to an execution.

    Each backend maps its error codes to the two kinds below (SQLite: by ``sqlite3.Error.sqlite_errorcode``);
    a fault it cannot tell apart stays a plain ``StorageFault``."""


class StorageFull(StorageFault):
    """No space: the disk, or the database's size limit, is full (SQLite ``SQLITE_FULL``). Freeing space heals it."""


class StorageUnavailable(StorageFault):
    """The database cannot be opened or written: read-only, locked by another connection for longer than the busy
    timeout, or an I/O error (SQLite ``READONLY``, ``BUSY``, ``LOCKED``, ``IOERR``, ``CANTOPEN``, ``PERM``).

    After an I/O error during a commit the outcome is not certain: a restart's recovery may find the transaction
    written after all (as after a crash), which version-checked appends tolerate."""


class StorageClosed(StorageError):
    def __init__(self, database: str) -> None:
        super().__init__(f"storage {database} is closed")


class ExecutionNotFound(StorageError):
    def __init__(self, execution_id: ExecutionId) -> None:
        super().__init__(f"execution {execution_id} not found")
        self.execution_id = execution_id


class ExecutionAlreadyExists(StorageError):
    def __init__(self, execution_id: ExecutionId) -> None:
        super().__init__(f"execution {execution_id} already exists")
        self.execution_id = execution_id


class VersionMismatch(StorageError):
    """An append carried a stale version: someone else moved the execution on. Nothing was written."""

    def __init__(self, execution_id: ExecutionId, expected: int, actual: int) -> None:
        super().__init__(f"version mismatch on {execution_id}: appended at version {expected}, log is at {actual}")
        self.execution_id = execution_id
        self.expected = expected
        self.actual = actual


class AlreadyFinished(StorageError):
    def __init__(self, execution_id: ExecutionId) -> None:
        super().__init__(f"execution {execution_id} is already finished")
        self.execution_id = execution_id


class AlreadyPaused(StorageError):
    """A pause of an execution that is paused already: nothing was written."""

    def __init__(self, execution_id: ExecutionId) -> None:
        super().__init__(f"execution {execution_id} is already paused")
        self.execution_id = execution_id


class NotPaused(StorageError):
    """A resume of an execution that is not paused (or has finished): nothing was written."""

    def __init__(self, execution_id: ExecutionId, finished: bool) -> None:
        what = "has finished" if finished else "is not paused"
        super().__init__(f"execution {execution_id} {what}: only a paused execution can be resumed")
        self.execution_id = execution_id
        self.finished = finished


class DelayNotPending(StorageError):
    """A cancel of a delay that is not pending: it expired or was cancelled already (or never existed)."""

    def __init__(self, delay_id: DelayId) -> None:
        super().__init__(f"delay {delay_id} is not pending: it expired or was cancelled already, or does not exist")
        self.delay_id = delay_id


class IllegalStateTransition(StorageError):
    """E.g. ``Locked`` appended while the execution is blocked by a join set or locked by another run."""


# ---------------------------------------------------------------------------------------------- write operations
@dataclass(frozen=True, slots=True)
class CreateExecution:
    execution_id: ExecutionId
    created: Created


@dataclass(frozen=True, slots=True)
class AppendEvents:
    """Append ``events`` at ``version``, which must equal the execution's next version."""

    execution_id: ExecutionId
    version: int
    events: Sequence[Event]


@dataclass(frozen=True, slots=True)
class DeliverResponse:
    """Append a join-set response to a workflow execution; unblocks it if it waits on that join set."""

    execution_id: ExecutionId
    join_set_id: JoinSetId
    response: JoinSetResponseBody
    created_at: int | None = None
    """When the response came to be, if not at this write: a workflow that ran a child inline consumed the result
    before the write, and its replays must see the same time on the workflow clock."""


WriteOp = CreateExecution | AppendEvents | DeliverResponse


# ---------------------------------------------------------------------------------------------- read models
@dataclass(frozen=True, slots=True)
class LockedExecution:
    """What a worker needs to run one locked execution."""

    execution_id: ExecutionId
    run_id: RunId
    version: int
    """The next version to append at (the ``Locked`` event is already written)."""
    created: Created
    lock_expires_at: int
    temporary_event_count: int
    """Retries consumed so far (``TemporarilyFailed`` and ``TemporarilyTimedOut`` events)."""
    history: list[ExecutionEvent]
    """The history events (join sets, requests, join-nexts, schedules) in version order, for replay."""
    responses: list[JoinSetResponseEvent]
    """All join-set responses of this execution in arrival order."""
    timeouts_in_a_row: int = 0
    """Runs that timed out since the execution last recorded progress (see ``obelisk.concepts.failed_runs``)."""

    @property
    def ffqn(self) -> Ffqn:
        return self.created.ffqn

    @property
    def parent(self) -> ParentRef | None:
        return self.created.parent


@dataclass(frozen=True, slots=True)
class ExecutionLog:
    execution_id: ExecutionId
    events: list[ExecutionEvent]
    responses: list[JoinSetResponseEvent]
    pending_state: PendingState

    @property
    def created(self) -> Created:
        event = self.events[0].event
        assert isinstance(event, Created)
        return event

    @property
    def next_version(self) -> int:
        return len(self.events)


@dataclass(frozen=True, slots=True)
class ExecutionStatus:
    """The pending state, read together with how many events and responses the execution has: the count is what
    ``wait_for_change`` takes, so a follower can wait for the next change without reading the whole log."""

    pending_state: PendingState
    change_count: int
    next_version: int
    operator_versions: int = 0
    """Operator events (``Paused``/``Unpaused``) since the run holding the execution locked it: a run that missed
    a pause (paused and resumed before it looked) still learns of it."""


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    execution_id: ExecutionId
    ffqn: Ffqn
    pending_state: PendingState
    created_at: int
    scheduled_at: int
    component_id: str
    parent_execution_id: ExecutionId | None = None


@dataclass(frozen=True, slots=True)
class ExpiredLock:
    execution_id: ExecutionId
    version: int
    run_id: RunId
    executor_id: ExecutorId
    lock_expires_at: int
    temporary_event_count: int
    max_retries: int
    retry_exp_backoff_us: int
    parent: ParentRef | None
    ffqn: Ffqn
    blocked_by_join_set: bool = False
    """True when the run was awaiting a response (a workflow past its lock): that is an interrupt, not a timeout."""


@dataclass(frozen=True, slots=True)
class HeldLock:
    """An execution an executor holds: a run or attempt in progress (``running``), or a workflow run that waits in
    place for a response (``BlockedByJoinSet``, or ``PendingAt`` once it arrived, with the run still the owner)."""

    execution_id: ExecutionId
    version: int
    running: bool
    parent: ParentRef | None
    crashes_in_a_row: int
    """``Unlocked`` events marked ``after_crash`` since the execution's last event that was neither such an
    ``Unlocked`` nor a ``Locked``: how many times in a row a server died while running it without any progress."""


@dataclass(frozen=True, slots=True)
class ExpiredDelay:
    execution_id: ExecutionId
    join_set_id: JoinSetId
    delay_id: DelayId
    expires_at: int


class ListDirection(enum.Enum):
    OLDER = "older"
    NEWER = "newer"


@dataclass(frozen=True, slots=True)
class ExecutionQuery:
    """A page of executions, newest first. The cursor is an execution's ``created_at`` plus its id (for ties)."""

    ffqn: Ffqn | None = None
    result_kind: ResultKind | None = None
    state: str | None = None
    """One of ``PendingAt``, ``Locked``, ``BlockedByJoinSet``, ``Finished`` or None for all."""
    paused: bool | None = None
    """Only paused executions (True), only the others (False), or both (None)."""
    cursor: tuple[int, ExecutionId] | None = None
    direction: ListDirection = ListDirection.OLDER
    including_cursor: bool = False
    length: int = 20
    top_level_only: bool = False


@dataclass(frozen=True, slots=True)
class StorageGauges:
    """What the metrics read from the database when they are scraped: true after a restart, and with several servers
    on one database, of the whole database."""

    executions: dict[tuple[str, str], int]
    """``(ffqn, state)`` -> how many executions are in that pending state (``PendingAt``, ``Locked``, ...), or are
    ``Paused`` (whatever their state beside)."""
    due: dict[str, int]
    """FFQN -> executions ``PendingAt`` a time already passed: due, and not locked by any executor yet."""
    size_bytes: int
    """The database's size: the SQLite file's pages, or PostgreSQL's ``pg_database_size``."""


@dataclass(slots=True)
class StorageStats:
    commits: int = 0
    operations: int = 0
    extra: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- the interface
class Storage(abc.ABC):
    """Execution storage. All methods are coroutines on the server's event loop."""

    on_finished: Callable[[Sequence[ExecutionRow]], None] | None = None
    """Called on the event loop after each commit that touched finished executions, with their rows as the commit
    left them (traces export the execution spans: ``obelisk.tracing.spans``). ``None`` (traces off): nothing is
    computed for it."""

    @abc.abstractmethod
    async def write(self, ops: Sequence[WriteOp], now: int) -> None:
        """Apply ``ops`` in order in one transaction: all or nothing.

        Raises ``VersionMismatch``, ``AlreadyFinished``, ``ExecutionAlreadyExists``, ``ExecutionNotFound`` or
        ``IllegalStateTransition``; then nothing was written.
        """

    @abc.abstractmethod
    def write_from_thread(self, ops: Sequence[WriteOp], now: int) -> concurrent.futures.Future[None]:
        """``write`` called from a thread other than the event loop's (a workflow run's), returning at once: the
        future is done once committed, or failed as ``write`` would raise. Writes started from one thread are
        applied in the order they were started. Needs no hop through the event loop while writes are committing."""

    async def create(self, execution_id: ExecutionId, created: Created, now: int) -> None:
        await self.write([CreateExecution(execution_id, created)], now)

    async def append(self, execution_id: ExecutionId, version: int, events: Sequence[Event], now: int) -> int:
        """Returns the next version."""
        await self.write([AppendEvents(execution_id, version, events)], now)
        return version + len(events)

    @abc.abstractmethod
    async def cancel(self, execution_id: ExecutionId, reason: str, now: int) -> list[ExecutionId]:
        """Finish an unfinished execution as ``Cancelled(reason)``, deliver that result to its parent, and cancel its
        unfinished children (and theirs) the same way, in one transaction. Returns the executions cancelled, the
        given one first. Raises ``ExecutionNotFound``, or ``AlreadyFinished`` (nothing written) for a finished one."""

    @abc.abstractmethod
    async def pause(self, execution_id: ExecutionId, by: str, now: int) -> None:
        """Pause an unfinished execution: ``Paused(by)`` is appended and no new run or attempt locks it until
        ``unpause``; its state stays as it is (an attempt running now may still finish). Raises
        ``ExecutionNotFound``, ``AlreadyFinished`` or ``AlreadyPaused`` (nothing written)."""

    @abc.abstractmethod
    async def unpause(self, execution_id: ExecutionId, by: str, now: int) -> None:
        """Resume a paused execution: ``Unpaused(by)`` is appended and it is due where its state says. Raises
        ``ExecutionNotFound`` or ``NotPaused`` (nothing written)."""

    @abc.abstractmethod
    async def cancel_delay(self, delay_id: DelayId, now: int) -> ExecutionId:
        """End a pending delay now: its execution gets the ``DelayFinished`` response (marked ``cancelled``) as at its
        expiry, so a sleeping workflow wakes. Returns that execution; ``DelayNotPending`` (nothing written) if the
        delay is not pending."""

    @abc.abstractmethod
    async def lock_pending(
        self,
        *,
        ffqns: Sequence[Ffqn],
        batch_size: int,
        now: int,
        executor_id: ExecutorId,
        component_id: str,
        lock_expires_at: int,
    ) -> list[LockedExecution]:
        """Lock up to ``batch_size`` executions of ``ffqns`` that are ``PendingAt`` a time ``<= now``, oldest first."""

    @abc.abstractmethod
    async def get(self, execution_id: ExecutionId) -> ExecutionLog: ...

    @abc.abstractmethod
    async def get_pending_state(self, execution_id: ExecutionId) -> PendingState: ...

    @abc.abstractmethod
    async def get_status(self, execution_id: ExecutionId) -> ExecutionStatus: ...

    @abc.abstractmethod
    async def get_summary(self, execution_id: ExecutionId) -> ExecutionSummary:
        """What a listing shows of the execution, read from its state row alone."""

    @abc.abstractmethod
    async def list_children(self, parent_id: ExecutionId) -> list[ExecutionSummary]:
        """The summaries of ``parent_id``'s direct children (ids ``<parent_id>.<n>``), in no particular order:
        one read however many there are (the execution page draws them all; ``get_summary`` each would be one
        round trip per child)."""

    @abc.abstractmethod
    async def get_last_event(self, execution_id: ExecutionId) -> ExecutionEvent:
        """The newest event of the execution's log (its ``Finished`` once finished)."""

    @abc.abstractmethod
    async def get_expired_timers(self, now: int) -> list[ExpiredLock | ExpiredDelay]:
        """Locks (and join-set waits) whose expiry is ``<= now``, and delays that are due."""

    @abc.abstractmethod
    async def held_locks(self, executor_id: ExecutorId, now: int) -> list[HeldLock]:
        """Every execution ``executor_id`` holds at ``now``, in any state: its locks, and the runs that wait in
        place until a lock expiry still ahead (a server releases them all when it stops and when it starts)."""

    @abc.abstractmethod
    async def wait_for_pending(self, ffqns: Sequence[Ffqn], timeout: float) -> None:
        """Return when an execution of ``ffqns`` may have become pending, or after ``timeout`` seconds."""

    @abc.abstractmethod
    def watch_status(
        self, execution_id: ExecutionId
    ) -> contextlib.AbstractContextManager[StatusWatch[ExecutionStatus]]:
        """While open, every change of the execution committed by this process is pushed to the watch with the
        execution's new status. Open it before reading the status, so that no change falls in between. Changes
        made by other processes sharing the database are pushed too where the backend can hear of them
        (PostgreSQL: LISTEN/NOTIFY), and not on SQLite (poll for those)."""

    @abc.abstractmethod
    async def wait_for_change(self, execution_id: ExecutionId, known_version: int, timeout: float) -> None:
        """Return when the execution's log or responses changed since the caller looked, or after ``timeout``.

        ``known_version`` is the caller's count of events plus responses; a change already made returns at once.
        """

    @abc.abstractmethod
    async def list_executions(self, query: ExecutionQuery) -> list[ExecutionSummary]: ...

    @abc.abstractmethod
    async def list_events(self, execution_id: ExecutionId, version_from: int, length: int) -> list[ExecutionEvent]: ...

    @abc.abstractmethod
    async def list_responses(
        self, execution_id: ExecutionId, cursor_from: int, length: int, including_cursor: bool
    ) -> list[JoinSetResponseEvent]: ...

    # ------------------------------------------------------------------------------------------ guest logs
    @abc.abstractmethod
    async def append_logs(self, lines: Sequence[LogLine], dropped: Mapping[ExecutionId, int], keep: int) -> None:
        """Store ``lines`` (in order) in one transaction of their own, never together with an execution's events,
        and add ``dropped`` (lines the caller could not hand over) to each execution's dropped count. Afterwards an
        execution keeps at most its newest ``keep`` lines: the oldest are deleted and counted as dropped."""

    @abc.abstractmethod
    async def list_logs(self, execution_id: ExecutionId, after: int, length: int) -> LogPage:
        """Up to ``length`` stored lines of the execution with a cursor greater than ``after`` (-1: from the first),
        oldest first, and the execution's dropped count. Raises ``ExecutionNotFound`` for an unknown execution."""

    # ------------------------------------------------------------------------------------------ metrics
    @abc.abstractmethod
    async def gauges(self, now: int) -> StorageGauges:
        """Counts by state and the due backlog, with one grouped query each, and the database size."""

    @abc.abstractmethod
    def observe_commits(self, observer: CommitObserver | None) -> None:
        """Tell ``observer`` what each commit of this process changed and how long it took (after the commit)."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @property
    @abc.abstractmethod
    def stats(self) -> StorageStats: ...

    @property
    @abc.abstractmethod
    def write_health(self) -> WriteHealth:
        """Whether writes work now (``StorageFault`` of the last failed write until one commits a change)."""
