"""Row writes a group of jobs holds back to the group's end, so that each state row is written once per group and
the group's new executions, log rows and responses go in one statement each.

A serial workflow runs ahead of its commits, so one group commit holds several consecutive steps of the same
workflow. Job by job, each step inserts its next child (``Locked``), updates the child it finished, updates the
parent, and inserts its log rows and its response: five statements a step, each one a round through the driver
and a wait for the GIL on the database thread. Held to the group's end, the child created by one job and
finished by the next is inserted once, already finished; the parent is updated once; the log rows and responses
of every step are one ``INSERT`` each: about five statements a group.

Only the optimistic path of ``group_commit.run_jobs`` holds writes, the one that runs every job of a group in one
savepoint. A held write is assumed to succeed (``insert_state`` and ``insert_response`` answer ``True``); when the
database refuses one at the end (a duplicate creation or response, a row another writer changed meanwhile), the
end raises ``HeldWriteRefused``, the savepoint rolls the whole group back, and the group runs again job by job,
writing as it goes, so that the refusal reaches the one job it belongs to, exactly as without holding.

Any other statement on the connection, a read in a job above all, first writes what is held (``HoldingConnection``):
a job reading the log or the responses sees the writes of the jobs before it, as it would without holding.
"""

from __future__ import annotations

from typing import Any, Protocol

from obelisk.concepts.ids import ExecutionId
from obelisk.storage.interface import StorageError

StateUpdate = tuple[ExecutionId, tuple[Any, ...], tuple[Any, ...]]
"""``(execution_id, values, loaded)`` as ``WriteStatements.update_states`` takes it."""


class HeldWriteRefused(StorageError):
    """A write held to the group's end was refused there; the group runs again job by job (never seen outside)."""


class RowWriter(Protocol):
    """The backend's statements that write what was held, each in as few statements as the backend can."""

    __slots__ = ()

    def insert_states_now(self, rows: list[tuple[Any, ...]]) -> int:
        """New state rows (``INSERT_COLUMNS`` each); how many were inserted (an existing one is skipped)."""

    def update_states_now(self, updates: list[StateUpdate]) -> bool:
        """As ``WriteStatements.update_states``, written now."""

    def insert_events_now(self, rows: list[tuple[Any, ...]]) -> None:
        """As ``WriteStatements.insert_events``, written now."""

    def insert_responses_now(self, rows: list[tuple[Any, ...]]) -> int:
        """Responses (``RESPONSE_COLUMNS`` each), in arrival order; how many were inserted (a duplicate is skipped)."""


class WriteHold:
    """The writes held in the current group, if holding; used only on the writer's thread."""

    __slots__ = ("_events", "_failed", "_immutable_columns", "_inserts", "_responses", "_updates", "_writer", "active")

    def __init__(self, writer: RowWriter, immutable_columns: int) -> None:
        """``immutable_columns``: how many of ``INSERT_COLUMNS`` precede the mutable ones."""
        self._writer = writer
        self._immutable_columns = immutable_columns
        self.active = False
        self._inserts: dict[ExecutionId, tuple[Any, ...]] = {}
        self._updates: dict[ExecutionId, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
        """``execution_id`` → ``(values, loaded)``: the latest values, and the row as it is in the database."""
        self._events: list[tuple[Any, ...]] = []
        self._responses: list[tuple[Any, ...]] = []
        self._failed = False
        """A ``write`` failed in this group: whoever caught its error, the group must not commit."""

    def start(self) -> None:
        self.active = True
        self._failed = False

    def stop(self) -> None:
        """Drop whatever is held and write as the statements come again."""
        self.active = False
        self._failed = False
        self.drop()

    def drop(self) -> None:
        self._inserts.clear()
        self._updates.clear()
        self._events.clear()
        self._responses.clear()

    @property
    def holds_writes(self) -> bool:
        return bool(self._inserts or self._updates or self._events or self._responses)

    def insert_state(self, values: tuple[Any, ...]) -> bool:
        """Hold a new state row; ``False`` if it cannot be held (its execution already has a held write): the caller
        writes what is held, then inserts it now, and the database decides."""
        execution_id = values[0]
        if execution_id in self._inserts or execution_id in self._updates:
            return False
        self._inserts[execution_id] = values
        return True

    def update_states(self, updates: list[StateUpdate]) -> bool:
        """Hold the updates, merged with what is held for the same rows; ``False`` where the database would refuse
        one, because a held write left that row at another version or response count than ``loaded``."""
        immutable = self._immutable_columns
        for execution_id, values, loaded in updates:
            inserted = self._inserts.get(execution_id)
            if inserted is not None:
                if inserted[immutable : immutable + 2] != loaded[:2]:
                    return False
                self._inserts[execution_id] = (*inserted[:immutable], *values)
                continue
            held = self._updates.get(execution_id)
            if held is None:
                self._updates[execution_id] = (values, loaded)
            elif held[0][:2] != loaded[:2]:
                return False
            else:
                self._updates[execution_id] = (values, held[1])
        return True

    def insert_events(self, rows: list[tuple[Any, ...]]) -> None:
        self._events.extend(rows)

    def insert_response(self, values: tuple[Any, ...]) -> None:
        self._responses.append(values)

    def write(self) -> None:
        """Write everything held now; ``HeldWriteRefused`` if the database refused any of it (nothing is held
        afterwards either way). Once a write failed, every later one of the group raises too: a job that caught the
        error of a statement that first wrote what was held (it took it for its own) cannot let the group commit
        without those writes."""
        if self._failed:
            raise HeldWriteRefused("what this group held could not all be written")
        try:
            self._write()
        except BaseException:
            self._failed = True
            raise

    def _write(self) -> None:
        inserts, updates = list(self._inserts.values()), self._updates
        events, responses = self._events, self._responses
        self._inserts, self._updates, self._events, self._responses = {}, {}, [], []
        writer = self._writer
        if inserts and writer.insert_states_now(inserts) != len(inserts):
            raise HeldWriteRefused("an execution created in this group exists already")
        if updates and not writer.update_states_now([(e, values, loaded) for e, (values, loaded) in updates.items()]):
            raise HeldWriteRefused("a state row changed since this writer last wrote it")
        if events:
            writer.insert_events_now(events)
        if responses and writer.insert_responses_now(responses) != len(responses):
            raise HeldWriteRefused("a response delivered in this group was delivered before")


class HoldingWrites(RowWriter):
    """The hot writes of ``write_flow.WriteStatements``, held while ``hold`` is active and written at once
    otherwise: a backend's statements class provides the ``RowWriter`` statements and ``hold``."""

    __slots__ = ()

    hold: WriteHold

    def insert_state(self, values: tuple[Any, ...]) -> bool:
        hold = self.hold
        if hold.active:
            if hold.insert_state(values):
                return True
            hold.write()  # what is held first: the database decides about this one
        return self.insert_states_now([values]) == 1

    def update_states(self, updates: list[StateUpdate]) -> bool:
        return self.hold.update_states(updates) if self.hold.active else self.update_states_now(updates)

    def insert_events(self, rows: list[tuple[Any, ...]]) -> None:
        if self.hold.active:
            self.hold.insert_events(rows)
        else:
            self.insert_events_now(rows)

    def insert_response(self, values: tuple[Any, ...]) -> bool:
        if self.hold.active:
            self.hold.insert_response(values)
            return True
        return self.insert_response_now(values)

    def insert_response_now(self, values: tuple[Any, ...]) -> bool:
        """One response written at once; ``False`` for a duplicate. A backend whose job may not hold the
        execution's row yet (PostgreSQL) locks it first, in the same statement."""
        return self.insert_responses_now([values]) == 1


class Executes(Protocol):
    """What ``HoldingConnection`` wraps: a DB-API connection's ``execute``."""

    def execute(self, sql: Any, parameters: Any = ..., /) -> Any: ...


class HoldingConnection:
    """The writer's connection as its statements see it: every statement first writes what ``hold`` holds."""

    __slots__ = ("_execute", "_hold")

    def __init__(self, conn: Executes, hold: WriteHold) -> None:
        self._execute = conn.execute
        self._hold = hold

    def execute(self, sql: Any, parameters: Any = None, /) -> Any:
        hold = self._hold
        if hold.active and hold.holds_writes:
            hold.write()
        return self._execute(sql) if parameters is None else self._execute(sql, parameters)
