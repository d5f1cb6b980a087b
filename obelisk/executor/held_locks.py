"""What a server gives back of what its executor id holds: at start, what its previous process held when it died;
at a clean stop, its runs in flight. Also the webhook request records that no server owns any more.

On a database several servers share, another server may move any of these executions on while this one gives them
back: cancel or pause one, finish one whose lock expired and which it then ran. Each execution is therefore given
back by a write of its own (the writes still share the group commits): the ones another server moved on are
refused alone and left as they are, and the start goes on. Given back in one write, one such refusal made the whole
start fail ("execution ... is already finished") and left every other lock held until it expired.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from obelisk.concepts.clock import Clock
from obelisk.concepts.events import Created
from obelisk.concepts.ffqn import WEBHOOK_FFQN
from obelisk.concepts.ids import ExecutionId, ExecutorId
from obelisk.concepts.results import ExecutionFailure
from obelisk.storage.interface import (
    AlreadyFinished,
    ExecutionQuery,
    IllegalStateTransition,
    Storage,
    VersionMismatch,
    WriteOp,
)
from obelisk.workers.outcome_events import finish_ops, ops_for_held_locks

log = logging.getLogger(__name__)

WEBHOOK_RECORD_LEFT_OPEN = ExecutionFailure("the server stopped before the request was answered")
WEBHOOK_RECORDS_PER_WRITE = 500
"""Unowned webhook request records read and finished per round at start."""

MOVED_ON = (VersionMismatch, AlreadyFinished, IllegalStateTransition)
"""Refusals that mean another writer changed the execution since it was read: nothing of ours to give back."""


async def release_held_locks(storage: Storage, executor_id: ExecutorId, clock: Clock, *, after_crash: bool) -> None:
    """Give back what ``executor_id`` holds; the executions are due again at once, with no retry consumed.

    The webhook request records it holds are finished instead (nothing would ever run them): at start they belong
    to requests its previous process never answered, at stop to requests whose record could not be finished when
    they ended. Only this server's own: on a shared database, another server's records are its requests in flight,
    or, if it died, are finished when their lock expires (see ``WebhookExecutions``)."""
    now = clock.now_us()
    held = await storage.held_locks(executor_id, now)
    if not held:
        return
    writes: list[tuple[ExecutionId, list[WriteOp]]] = []
    records: set[ExecutionId] = set()
    for lock in held:
        if await _is_webhook_record(storage, lock.execution_id):
            records.add(lock.execution_id)
            ops = finish_ops(lock.execution_id, lock.version, None, WEBHOOK_RECORD_LEFT_OPEN)
        else:
            ops = ops_for_held_locks([lock], now, after_crash=after_crash)
        writes.append((lock.execution_id, ops))
    moved_on = await _write_each(storage, writes, now)
    for execution_id in sorted(moved_on):
        log.info("%s: not given back: another server moved it on meanwhile", execution_id)
    released = len(held) - len(records | moved_on)
    records_finished = len(records - moved_on)
    if after_crash:
        log.info(
            "released %d executions and finished %d webhook request records held by this server's previous process",
            released,
            records_finished,
        )
    else:
        log.info(
            "released %d executions in flight and finished %d webhook request records at stop",
            released,
            records_finished,
        )


async def finish_unowned_webhook_records(storage: Storage, clock: Clock) -> None:
    """A webhook request's record is locked by its server from its first write, so a record that is merely pending
    belongs to no server: it was written before records had owners, or its server released it without finishing it.
    No request can still be answered for it: finish it, so that it does not stay pending for ever. The children
    it started are durable and go on. Servers starting together race for the same records; each record is finished
    once, by whichever comes first."""
    query = ExecutionQuery(ffqn=WEBHOOK_FFQN, state="PendingAt", length=WEBHOOK_RECORDS_PER_WRITE)
    finished = 0
    refused_before: set[ExecutionId] = set()
    while summaries := await storage.list_executions(query):
        now = clock.now_us()
        writes: list[tuple[ExecutionId, list[WriteOp]]] = []
        for summary in summaries:
            status = await storage.get_status(summary.execution_id)
            ops = finish_ops(summary.execution_id, status.next_version, None, WEBHOOK_RECORD_LEFT_OPEN)
            writes.append((summary.execution_id, ops))
        moved_on = await _write_each(storage, writes, now)
        finished += len(writes) - len(moved_on)
        if len(moved_on) == len(writes) and moved_on == refused_before:
            break  # the same records refused twice in a row: another writer keeps them, they are not ours to finish
        refused_before = moved_on
    if finished:
        log.info("finished %d webhook request records left open without an owner", finished)


async def _write_each(
    storage: Storage, writes: Sequence[tuple[ExecutionId, list[WriteOp]]], now: int
) -> set[ExecutionId]:
    """Each execution's ops as a write of its own, all at once: the executions another writer moved on meanwhile
    (returned) are refused alone. Any other failure is raised once every write has ended."""
    outcomes = await asyncio.gather(*(storage.write(ops, now) for _, ops in writes), return_exceptions=True)
    moved_on: set[ExecutionId] = set()
    failure: BaseException | None = None
    for (execution_id, _), outcome in zip(writes, outcomes, strict=True):
        if isinstance(outcome, MOVED_ON):
            moved_on.add(execution_id)
        elif isinstance(outcome, BaseException) and failure is None:
            failure = outcome
    if failure is not None:
        raise failure
    return moved_on


async def _is_webhook_record(storage: Storage, execution_id: ExecutionId) -> bool:
    (first,) = await storage.list_events(execution_id, 0, 1)
    return isinstance(first.event, Created) and first.event.ffqn == WEBHOOK_FFQN
