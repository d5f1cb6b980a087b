"""Shared builders for the storage tests (plain functions: each test opens its own real database file)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

from obelisk.concepts.events import (
    ChildExecutionFinished,
    ChildExecutionRequest,
    Created,
    Finished,
    JoinNext,
    JoinSetCreated,
    JoinSetRequest,
    Locked,
    ParentRef,
)
from obelisk.concepts.ffqn import Ffqn
from obelisk.concepts.ids import ExecutionId, ExecutorId, JoinSetId, RunId
from obelisk.concepts.results import Ok, ReturnValue
from obelisk.storage.interface import AppendEvents, CreateExecution, DeliverResponse, Storage, WriteOp
from obelisk.storage.sqlite import SqliteStorage

T0 = 1_700_000_000_000_000
SEC = 1_000_000
ACTIVITY = Ffqn.parse("testing:fibo/fibo.fibo")
WORKFLOW = Ffqn.parse("testing:fibo-workflow/workflow.fiboa")
EXECUTOR = ExecutorId.generate()


def created(
    ffqn: Ffqn = ACTIVITY,
    *,
    scheduled_at: int = T0,
    parent: ParentRef | None = None,
    max_retries: int = 5,
) -> Created:
    return Created(
        ffqn=ffqn,
        params=[10],
        scheduled_at=scheduled_at,
        component_id="activity_wasm:fibo:0123456789abcdef",
        max_retries=max_retries,
        retry_exp_backoff_us=100_000,
        parent=parent,
    )


def new_id(offset_ms: int = 0) -> ExecutionId:
    return ExecutionId.generate(T0 // 1000 + offset_ms)


@contextlib.asynccontextmanager
async def opened(path: Path, **kwargs: object) -> AsyncIterator[SqliteStorage]:
    storage = await SqliteStorage.open(path, **kwargs)  # type: ignore[arg-type]
    try:
        yield storage
    finally:
        await storage.close()


# ---------------------------------------------------------------------------------------------- group commits
LOCK = T0 + 60 * SEC
LEADER = ExecutionId.generate(T0 // 1000 + 999)
"""Created by the write that finds the flusher idle and so commits alone: the writes queued behind it form one group."""


def serial_steps(parent: ExecutionId, join_sets: list[JoinSetId], run: RunId) -> list[list[WriteOp]]:
    """What a serial workflow's run writes for one inline activity call per join set: each step finishes the child
    the step before created (its response unblocks the parent), asks for the next child, and creates it locked."""
    jobs: list[list[WriteOp]] = []
    version = 2  # Created, Locked
    previous: tuple[ExecutionId, JoinSetId] | None = None
    for k, js in enumerate(join_sets):
        ops: list[WriteOp] = []
        if previous is not None:
            child, previous_js = previous
            result = Ok(ReturnValue(k))
            ops += [
                AppendEvents(child, 2, [Finished(result)]),
                DeliverResponse(parent, previous_js, ChildExecutionFinished(child, result)),
            ]
        child = parent.child(k)
        ops += [
            AppendEvents(
                parent,
                version,
                [JoinSetCreated(js), JoinSetRequest(js, ChildExecutionRequest(child)), JoinNext(js, LOCK)],
            ),
            CreateExecution(child, created(parent=ParentRef(parent, js))),
            AppendEvents(child, 1, [Locked("c", EXECUTOR, run, LOCK)]),
        ]
        version += 3
        previous = (child, js)
        jobs.append(ops)
    return jobs


async def locked_parent(storage: Storage, parent: ExecutionId, run: RunId) -> None:
    await storage.create(parent, created(WORKFLOW), T0)
    await storage.append(parent, 1, [Locked("w", EXECUTOR, run, LOCK)], T0)


def writes_of(storage: Storage, writes: list[list[WriteOp]], first_now: int) -> list[Awaitable[None]]:
    """The writes, not started yet, each at its own time from ``first_now`` on."""
    return [storage.write(ops, first_now + n) for n, ops in enumerate(writes)]


async def in_one_group(storage: Storage, submits: list[Awaitable[Any]]) -> list[Any]:
    """Run ``submits`` (not started yet) while a leading write commits, so that they commit as one group (checked);
    their results, an exception for a refused one."""
    groups = storage.stats.extra["groups"]
    leader = storage.write([CreateExecution(LEADER, created())], T0)
    results = await asyncio.gather(leader, *submits, return_exceptions=True)
    assert storage.stats.extra["groups"] - groups == 2, "the writes did not share one group commit"
    assert results[0] is None
    return results[1:]
