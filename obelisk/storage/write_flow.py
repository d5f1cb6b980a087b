"""Every write of the storage, the same on every backend, over the backend's SQL (``WriteStatements``).

A write job (one caller's ``write`` or ``lock_pending``) runs here in order: load each state row it touches once,
let ``state_machine`` move it over the events, responses and creations, insert what the rules allow, store each
row once at the end, and note the ``Effects`` to announce after the commit. The functions are synchronous and
run on the backend's write thread, inside the transaction (and the savepoint per job) that ``group_commit`` opened,
so each job is all-or-nothing without managing transactions itself; a whole job in one synchronous function costs
one thread hop per transaction instead of one per statement.

A backend's ``writes.py`` only runs statements: how a state row is locked against other writers, how a duplicate
is recognised (a unique key's error, or ``ON CONFLICT DO NOTHING`` and a row count), how due rows are chosen.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, Protocol, assert_never

from obelisk.concepts.events import (
    ChildExecutionFinished,
    ChildExecutionRequest,
    Created,
    DelayFinished,
    Event,
    Finished,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    Locked,
    Paused,
    Schedule,
    TemporarilyFailed,
    TemporarilyTimedOut,
    Unlocked,
    Unpaused,
    event_kind,
    event_to_json,
    response_to_json,
)
from obelisk.concepts.failed_runs import NO_FAILED_RUNS
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import DelayId, ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.storage import row_codec, state_machine
from obelisk.storage.interface import (
    AlreadyFinished,
    AppendEvents,
    CreateExecution,
    DelayNotPending,
    DeliverResponse,
    ExecutionAlreadyExists,
    ExecutionNotFound,
    IllegalStateTransition,
    LockedExecution,
    VersionMismatch,
    WriteOp,
)
from obelisk.storage.read_flow import ReadStatements, Rows, failed_runs_in_a_row
from obelisk.storage.row_cache import RowCache, StaleRow
from obelisk.storage.state_machine import CreateDelay, DelayChange, DropAllDelays, DropDelay, Effects, ExecutionRow

MUTABLE_COLUMNS = (
    "next_version",
    "response_count",
    "state",
    "pending_expires_finished",
    "join_set_id",
    "join_set_closing",
    "executor_id",
    "run_id",
    "temporary_event_count",
    "result_kind",
    "finished_at",
    "pending_delays",
    "matched_responses",
    "paused",
    "operator_versions",
)
"""The columns of ``execution_state`` the rules change, in the order of ``mutable_values``."""
INSERT_COLUMNS = (
    "execution_id",
    "ffqn",
    "created_at",
    "scheduled_at",
    "max_retries",
    "retry_exp_backoff_us",
    "parent_execution_id",
    "parent_join_set_id",
    "component_id",
    *MUTABLE_COLUMNS,
)
"""The columns of a new state row, in the order ``insert_state`` receives them."""
EVENT_COLUMNS = ("execution_id", "version", "created_at", "event_type", "json", "join_set_id")
"""The columns of a new log row, in the order ``insert_events`` receives them."""
RESPONSE_COLUMNS = ("execution_id", "join_set_id", "created_at", "json", "child_execution_id", "delay_id")
"""The columns of a new response, in the order ``insert_response`` receives them."""


class WriteStatements(ReadStatements, Protocol):
    """A backend's write statements on its write connection, within the transaction of the job's group."""

    known_rows: RowCache
    """The rows this writer last wrote (``row_cache``): a job takes them from here instead of reading them."""

    def state_row_for_update(self, execution_id: ExecutionId) -> tuple[Any, ...] | None:
        """As ``state_row``, the row then held against other writers until the transaction ends (where other
        writers can exist), so that its version is checked on what will be overwritten."""

    def state_rows_for_update(self, execution_ids: list[ExecutionId]) -> list[tuple[Any, ...]]:
        """As ``state_row_for_update`` for several executions in one statement: ``execution_id`` and
        ``ROW_COLUMNS`` of each that exists, in no particular order. Where other writers exist, the rows are locked
        in id order (a child's id extends its parent's, so an execution before its descendants), the one order
        every multi-row lock of a backend takes."""

    def insert_state(self, values: tuple[Any, ...]) -> bool:
        """A new state row: ``INSERT_COLUMNS``; ``False``, writing nothing, if the execution exists (racing
        creations: the second waits for the first to commit, then gets ``False``)."""

    def update_states(self, updates: list[tuple[ExecutionId, tuple[Any, ...], tuple[Any, ...]]]) -> bool:
        """For each ``(execution_id, values, loaded)``: write ``values`` (``MUTABLE_COLUMNS``), which differ from
        ``loaded``, the row's values as read or known; only where the row still has ``loaded``'s ``next_version``
        and ``response_count``. ``False`` if some row had not (a known row had changed; the job then fails, and
        what was written rolls back with it). In as few statements as the backend can without costing more index
        writes (a job that finishes a workflow and its last child writes both rows in one)."""

    def insert_events(self, rows: list[tuple[Any, ...]]) -> None:
        """Log rows: ``EVENT_COLUMNS`` each; at least one. As few statements as the backend can (a job's events,
        of several executions, come in one call)."""

    def nth_response_time(self, execution_id: ExecutionId, join_set_id: str, earlier_in_batch: int) -> int | None:
        """``created_at`` of the response of ``join_set_id`` that its next ``JoinNext`` consumes: the (k+1)-th in
        arrival order, k being the ``JoinNext`` events on it in the log plus ``earlier_in_batch``; ``None`` if
        it has not arrived (see ``state_machine.ResponseLookup``)."""

    def insert_response(self, values: tuple[Any, ...]) -> bool:
        """A response: ``RESPONSE_COLUMNS``; ``False``, writing nothing, if the same one was delivered before (the
        unique keys on ``child_execution_id`` and ``delay_id``)."""

    def insert_delay(self, execution_id: ExecutionId, join_set_id: str, delay_id: str, expires_at: int) -> bool:
        """``False``, writing nothing, if the execution has that delay already."""

    def delete_delay(self, execution_id: ExecutionId, join_set_id: str, delay_id: str) -> None: ...

    def delete_delays_of(self, execution_id: ExecutionId) -> None: ...

    def lock_due(self, ffqns: list[str], now: int, batch_size: int) -> list[tuple[Any, ...]]:
        """The ``PendingAt`` rows of ``ffqns`` due at ``now``, oldest first (``pending_expires_finished``, then
        ``execution_id``) over all of them, at most ``batch_size``: each ``execution_id``, ``ROW_COLUMNS`` and the
        JSON of its ``Created`` event. Where other writers exist, they are held as by ``state_row_for_update``, and
        rows another writer holds are skipped rather than waited for."""

    def history(self, execution_id: ExecutionId) -> Rows:
        """``version, created_at, json`` of the events in ``HISTORY_EVENT_TYPES``, in version order."""


# ---------------------------------------------------------------------------------------------- state rows
mutable_values: Callable[[ExecutionRow], tuple[Any, ...]] = operator.attrgetter(*MUTABLE_COLUMNS)
"""The row's values in ``MUTABLE_COLUMNS`` order (the columns are named as ``ExecutionRow``'s fields)."""


class _StoredRow:
    """An execution's state row in this job: the rules' ``ExecutionRow`` plus what it takes to write it back.

    ``loaded`` holds the column values as read, so that ``store`` writes only when (and, on SQLite, only what)
    changed; ``None`` means created by this job and not inserted yet (``insert`` holds its immutable columns).
    ``known``: taken from the writer's ``known_rows``, not read, so checked when written (``row_cache``)."""

    __slots__ = ("insert", "known", "loaded", "row")

    def __init__(
        self, row: ExecutionRow, loaded: tuple[Any, ...] | None, insert: tuple[Any, ...] = (), known: bool = False
    ) -> None:
        self.row = row
        self.loaded = loaded
        self.insert = insert
        self.known = known

    def store(
        self, db: WriteStatements, updates: list[tuple[ExecutionId, tuple[Any, ...], tuple[Any, ...]]]
    ) -> tuple[Any, ...]:
        """Insert the row now, or note its update in ``updates`` (written together by ``StateRows.store``)."""
        current = mutable_values(self.row)
        if self.loaded is None:
            if not db.insert_state((*self.insert, *current)):
                raise ExecutionAlreadyExists(self.row.execution_id)
        elif current != self.loaded:
            updates.append((self.row.execution_id, current, self.loaded))
        elif self.known:
            # Unchanged, yet the job's outcome may rest on it (an append of no events checks the version).
            found = db.state_row_for_update(self.row.execution_id)
            if found is None or tuple(found[1:]) != self.loaded:
                db.known_rows.forget(self.row.execution_id)  # the job's next run reads it
                raise StaleRow(self.row.execution_id)
        self.loaded = current
        self.known = False
        return current


class StateRows:
    """The ``execution_state`` rows one write job touches: each read (and held) at most once and written once, at
    the end; and the job's log rows, inserted together after the state rows (one statement for the whole job).

    A serial workflow step touches its parent twice (the child's response, then the parent's next events) and
    creates a child it locks at once; reading and writing each row once per job instead of once per operation
    saves statements, and a child inserted already ``Locked`` never rewrites the indexes of a ``PendingAt`` row.
    It is also the ``ResponseLookup`` the rules ask about join-set responses.

    A creation's duplicate is refused by the state row's primary key when the rows are stored (the log's row at
    version 0 follows it in the same job), so the ``Created`` event goes out with the job's other events.
    """

    __slots__ = ("_events", "_join_nexts", "_rows", "db", "use_known")

    def __init__(self, db: WriteStatements, *, use_known: bool = True) -> None:
        self.db = db
        self.use_known = use_known
        """Take rows from ``db.known_rows`` (the hot path); off where a refusal must come from a read row."""
        self._rows: dict[ExecutionId, _StoredRow] = {}
        self._events: list[tuple[Any, ...]] = []
        self._join_nexts: dict[tuple[ExecutionId, str], int] = {}
        """``JoinNext`` events per execution and join set among ``_events``: not in the log yet, but counted by
        the next ``JoinNext`` lookup of the same job."""

    def get(self, execution_id: ExecutionId) -> ExecutionRow:
        stored = self._rows.get(execution_id)
        if stored is None:
            known = self.db.known_rows.get(execution_id) if self.use_known else None
            found = self.db.state_row_for_update(execution_id) if known is None else known
            if found is None:
                raise ExecutionNotFound(execution_id)
            row = ExecutionRow(execution_id, *found)
            stored = self._rows[execution_id] = _StoredRow(row, mutable_values(row), known=known is not None)
        return stored.row

    def preload(self, execution_ids: list[ExecutionId]) -> None:
        """Take the rows of ``execution_ids`` from the writer's known rows if it knows them all; otherwise read (and
        hold) them all in one statement, ahead of the operations that need them (a serial step touches its finished
        child and its parent), which costs no more than reading the unknown one. Held in one statement, the rows
        are locked in the one order every multi-row lock takes, not in the order the operations name them. A row
        that does not exist is left to ``get``."""
        db = self.db
        known_rows: list[ExecutionRow] = []
        for execution_id in execution_ids:
            known = db.known_rows.get(execution_id) if self.use_known else None
            if known is None:
                break
            known_rows.append(ExecutionRow(execution_id, *known))
        else:
            for row in known_rows:
                self._rows[row.execution_id] = _StoredRow(row, mutable_values(row), known=True)
            return
        if len(execution_ids) > 1:
            for found in db.state_rows_for_update(execution_ids):
                row = ExecutionRow(ExecutionId(found[0]), *found[1:])
                self._rows[row.execution_id] = _StoredRow(row, mutable_values(row))

    def first_known(self) -> ExecutionId | None:
        """An execution whose row this job took from the writer's known rows (not read), if any."""
        return next((execution_id for execution_id, stored in self._rows.items() if stored.known), None)

    def add_locked(self, row: ExecutionRow) -> None:
        """A row this job already read and holds (``lock_pending``)."""
        self._rows[row.execution_id] = _StoredRow(row, mutable_values(row))

    def add_created(self, row: ExecutionRow, insert: tuple[Any, ...]) -> None:
        if row.execution_id in self._rows:  # read from the database or created earlier in this job
            raise ExecutionAlreadyExists(row.execution_id)
        self._rows[row.execution_id] = _StoredRow(row, None, insert)

    def add_events(self, rows: list[tuple[Any, ...]]) -> None:
        """Log rows (``EVENT_COLUMNS``) to insert with the job's other events."""
        self._events.extend(rows)
        for execution_id, _, _, kind, _, join_set_id in rows:
            if kind == "JoinNext":
                key = (execution_id, join_set_id)
                self._join_nexts[key] = self._join_nexts.get(key, 0) + 1

    def flush_events(self) -> None:
        """Insert the log rows noted so far (a read of the log within the job must see them)."""
        if self._events:
            self.db.insert_events(self._events)
            self._events = []
            self._join_nexts.clear()

    def store(self) -> None:
        updates: list[tuple[ExecutionId, tuple[Any, ...], tuple[Any, ...]]] = []
        stored_values = [(stored.row, stored.store(self.db, updates)) for stored in self._rows.values()]
        if updates and not self.db.update_states(updates):
            for execution_id, _, _ in updates:
                self.db.known_rows.forget(execution_id)  # the job's next run reads them
            raise StaleRow(updates[0][0])
        self.flush_events()
        stage = self.db.known_rows.stage
        for row, values in stored_values:
            # A finished row is rarely written again: not worth keeping.
            stage(row.execution_id, None if row.state == state_machine.FINISHED else (row.ffqn, *values))

    def response_for_join_next(self, execution_id: ExecutionId, join_set_id: str, earlier_in_batch: int) -> int | None:
        earlier_in_job = self._join_nexts.get((execution_id, join_set_id), 0)
        return self.db.nth_response_time(execution_id, join_set_id, earlier_in_job + earlier_in_batch)


# ---------------------------------------------------------------------------------------------- writes
def apply_ops(db: WriteStatements, ops: Sequence[WriteOp], now: int, effects: Effects) -> None:
    rows = StateRows(db)
    existing = _existing_rows_touched(ops)
    if existing:
        rows.preload(existing)
    try:
        for op in ops:
            match op:
                case AppendEvents(execution_id, version, events):
                    append_events(rows, execution_id, version, events, now, effects)
                case CreateExecution(execution_id, created):
                    create_execution(rows, execution_id, created, now, effects)
                case DeliverResponse():
                    deliver_response(rows, op, now, effects)
                case _:
                    assert_never(op)
    except (VersionMismatch, AlreadyFinished, IllegalStateTransition) as refusal:
        known = rows.first_known()
        if known is not None:
            # Refused on a row the writer knew rather than read: it may have changed since. Run again, reading.
            db.known_rows.clear()
            raise StaleRow(known) from refusal
        raise
    rows.store()


def _existing_rows_touched(ops: Sequence[WriteOp]) -> list[ExecutionId]:
    """The executions whose rows ``ops`` read before creating them (if they create them at all), in order."""
    created: set[ExecutionId] = set()
    touched: dict[ExecutionId, None] = {}
    for op in ops:
        match op:
            case CreateExecution(execution_id):
                created.add(execution_id)
            case AppendEvents(execution_id) | DeliverResponse(execution_id) if execution_id not in created:
                touched[execution_id] = None
            case AppendEvents() | DeliverResponse():
                pass
            case _:
                assert_never(op)
    return list(touched)


def create_execution(rows: StateRows, execution_id: ExecutionId, created: Created, now: int, effects: Effects) -> None:
    parent = created.parent
    # The state row's primary key is what refuses a second creation, when the job's rows are stored
    # (``StateRows.store``): the row is inserted then, already in the state the rest of the job leaves it in.
    row = state_machine.new_execution(execution_id, created)
    rows.add_created(
        row,
        (
            execution_id,
            row.ffqn,
            now,
            created.scheduled_at,
            created.max_retries,
            created.retry_exp_backoff_us,
            None if parent is None else parent.execution_id,
            None if parent is None else parent.join_set_id,
            created.component_id,
        ),
    )
    rows.add_events([(execution_id, 0, now, "Created", row_codec.dumps(event_to_json(created)), None)])
    effects.note_created(row, now)


def append_events(
    rows: StateRows,
    execution_id: ExecutionId,
    version: int,
    events: Sequence[Event],
    now: int,
    effects: Effects,
) -> ExecutionRow:
    """Append ``events`` at ``version``; the state row is written when the job's ``rows`` are stored."""
    row = rows.get(execution_id)
    start = row.next_version  # ``version`` itself unless an operator's pause or resume came in between
    was_finished = row.state == state_machine.FINISHED
    delay_changes = state_machine.append(row, version, events, now, rows)
    if events:
        dumps = row_codec.dumps
        log_rows = [
            (execution_id, at, now, event_kind(event), dumps(event_to_json(event)), _join_set_of(event))
            for at, event in enumerate(events, start=start)
        ]
        rows.add_events(log_rows)
        if isinstance(events[-1], Finished):
            effects.finished_events[execution_id] = (log_rows[-1][1], now, log_rows[-1][4])
    _apply_delay_changes(rows.db, execution_id, delay_changes)
    effects.note_changed(row, now)
    if not was_finished and row.state == state_machine.FINISHED:
        effects.note_finished(row)
    return row


def _join_set_of(event: Event) -> str | None:
    """The join set an event is indexed by (``JoinNext`` counting reads it)."""
    match event:
        case JoinSetCreated(join_set_id) | JoinSetRequest(join_set_id) | JoinNext(join_set_id):
            return join_set_id
        case (
            Created()
            | Locked()
            | Unlocked()
            | TemporarilyFailed()
            | TemporarilyTimedOut()
            | Finished()
            | Paused()
            | Unpaused()
            | Schedule()
        ):
            return None
        case _:
            assert_never(event)


def _apply_delay_changes(db: WriteStatements, execution_id: ExecutionId, changes: Sequence[DelayChange]) -> None:
    for change in changes:
        match change:
            case CreateDelay(join_set_id, delay_id, expires_at):
                if not db.insert_delay(execution_id, join_set_id, delay_id, expires_at):
                    raise IllegalStateTransition(
                        f"execution {execution_id} already requested delay {delay_id} in join set {join_set_id}"
                    )
            case DropDelay(join_set_id, delay_id):
                db.delete_delay(execution_id, join_set_id, delay_id)
            case DropAllDelays():
                db.delete_delays_of(execution_id)
            case _:
                assert_never(change)


def deliver_response(rows: StateRows, op: DeliverResponse, now: int, effects: Effects) -> None:
    row = rows.get(op.execution_id)  # held first: responses to one execution are stored in commit order
    response = op.response
    child_id: ExecutionId | None = None
    delay_id: DelayId | None = None
    match response:
        case ChildExecutionFinished(child_execution_id=child_execution_id):
            child_id = child_execution_id
        case DelayFinished(delay_id=finished_delay):
            delay_id = finished_delay
        case _:
            assert_never(response)
    inserted = rows.db.insert_response(
        (
            op.execution_id,
            op.join_set_id,
            now if op.created_at is None else op.created_at,
            row_codec.dumps(response_to_json(response)),
            child_id,
            delay_id,
        )
    )
    if not inserted:  # already delivered: a second delivery is a no-op
        effects.duplicate_responses += 1
        return
    _apply_delay_changes(rows.db, op.execution_id, state_machine.accept_response(row, op.join_set_id, response))
    effects.note_changed(row, now)


def lock_pending(
    db: WriteStatements,
    ffqns: Sequence[Ffqn],
    batch_size: int,
    now: int,
    executor_id: ExecutorId,
    component_id: str,
    lock_expires_at: int,
    effects: Effects,
) -> list[LockedExecution]:
    if batch_size <= 0:
        return []
    locked: list[LockedExecution] = []
    rows = StateRows(db)
    for found in db.lock_due([str(ffqn) for ffqn in ffqns], now, batch_size):
        execution_id = ExecutionId(found[0])
        row = ExecutionRow(execution_id, *found[1:-1])
        rows.add_locked(row)
        created = row_codec.created_event(found[-1])
        # A first lock (only Created written, no response yet) has no history to read: three statements saved on
        # the most common lock of all.
        fresh = row.next_version == 1 and row.response_count == 0
        run_id = RunId.generate()
        append_events(
            rows,
            execution_id,
            row.next_version,
            [Locked(component_id, executor_id, run_id, lock_expires_at)],
            now,
            effects,
        )
        if not fresh:
            rows.flush_events()  # the history and the failed runs are read with this lock's event
        history = [] if fresh else [row_codec.execution_event(r) for r in db.history(execution_id)]
        failed_runs = NO_FAILED_RUNS if fresh else failed_runs_in_a_row(db, execution_id, row.next_version)
        responses = [] if fresh else [row_codec.response_event(r) for r in db.all_responses(execution_id)]
        locked.append(
            LockedExecution(
                execution_id=execution_id,
                run_id=run_id,
                version=row.next_version,
                created=created,
                lock_expires_at=lock_expires_at,
                temporary_event_count=row.temporary_event_count,
                history=history,
                responses=responses,
                timeouts_in_a_row=failed_runs.timeouts,
            )
        )
    rows.store()
    return locked


# ---------------------------------------------------------------------------------------------- cancel
def cancel_execution(
    db: WriteStatements, execution_id: ExecutionId, reason: str, now: int, effects: Effects
) -> list[ExecutionId]:
    """Cancel ``execution_id`` and, breadth first, its unfinished children: each finishes as ``Cancelled`` and its
    parent gets the result as a response, as any child's end. The children are the ones its log requested (no
    index on the parent column is needed), read only for executions that were cancelled. Returns who was
    cancelled, ``execution_id`` first; ``AlreadyFinished`` (nothing written) if it had finished.

    Rows are locked top-down, the order of every multi-row lock (an execution before its descendants): the
    execution's parent, which gets its result, and the execution in one statement, then each child as the walk
    reaches it. The execution's lock keeps new children from being added under it meanwhile."""
    rows = StateRows(db, use_known=False)
    parent_id = execution_id.parent_id
    if parent_id is not None:
        rows.preload([parent_id, execution_id])
    cancelled: list[ExecutionId] = []
    queue: list[tuple[ExecutionId, str]] = [(execution_id, reason)]
    while queue:
        current, why = queue.pop(0)
        row = rows.get(current)
        if row.state == state_machine.FINISHED:
            if current == execution_id:
                raise AlreadyFinished(current)
            continue  # a child that finished on its own keeps its result
        version = row.next_version
        finished, delay_changes = state_machine.cancel(row, why, now, rows)
        db.insert_events(
            [(current, version, now, event_kind(finished), row_codec.dumps(event_to_json(finished)), None)]
        )
        _apply_delay_changes(db, current, delay_changes)
        effects.note_changed(row, now)
        effects.note_finished(row)
        cancelled.append(current)
        created = row_codec.execution_event(next(iter(db.events(current, 0, 1)))).event
        assert isinstance(created, Created)
        if created.parent is not None:
            response = ChildExecutionFinished(current, finished.result)
            deliver_response(
                rows, DeliverResponse(created.parent.execution_id, created.parent.join_set_id, response), now, effects
            )
        for version_row in db.history(current):
            event = row_codec.execution_event(version_row).event
            if isinstance(event, JoinSetRequest) and isinstance(event.request, ChildExecutionRequest):
                queue.append((event.request.child_execution_id, f"its parent {current} was cancelled"))
    rows.store()
    return cancelled


# ---------------------------------------------------------------------------------------------- pause
def pause_execution(db: WriteStatements, execution_id: ExecutionId, by: str, now: int, effects: Effects) -> None:
    """``Paused`` at the execution's next version (``state_machine.pause`` refuses a finished or paused one, and
    nothing is written then). One state row and one log row: a run holding the execution hears of it through the
    status its watch gets with this commit.

    The row is read, never taken from the writer's known rows: another server may have paused or resumed the
    execution since this one last wrote it, and a refusal must come from the row as it is."""
    rows = StateRows(db, use_known=False)
    row = rows.get(execution_id)
    version, event = state_machine.pause(row, by)
    _operator_write(rows, row, version, event, now, effects)


def unpause_execution(db: WriteStatements, execution_id: ExecutionId, by: str, now: int, effects: Effects) -> None:
    """``Unpaused`` at the execution's next version (``state_machine.unpause`` refuses one that is not paused);
    the commit wakes the executors if it is due now. The row is read, as for ``pause_execution``."""
    rows = StateRows(db, use_known=False)
    row = rows.get(execution_id)
    version, event = state_machine.unpause(row, by)
    _operator_write(rows, row, version, event, now, effects)


def _operator_write(
    rows: StateRows, row: ExecutionRow, version: int, event: Paused | Unpaused, now: int, effects: Effects
) -> None:
    rows.add_events([(row.execution_id, version, now, event_kind(event), row_codec.dumps(event_to_json(event)), None)])
    effects.note_changed(row, now)
    rows.store()


def cancel_delay(db: WriteStatements, delay_id: DelayId, now: int, effects: Effects) -> ExecutionId:
    """Deliver a pending delay's response now, marked cancelled; the response drops the delay as at its expiry.
    ``DelayNotPending`` if the delay table has no such delay."""
    found = db.delay_owner(delay_id)
    if found is None:
        raise DelayNotPending(delay_id)
    execution_id, join_set_id = ExecutionId(found[0]), JoinSetId(found[1])
    rows = StateRows(db, use_known=False)
    deliver_response(
        rows, DeliverResponse(execution_id, join_set_id, DelayFinished(delay_id, cancelled=True)), now, effects
    )
    rows.store()
    return execution_id
